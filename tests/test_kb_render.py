"""knowledge/render.py: escaping, unconfirmed marks, section layout, buttons, and every real
entry within Telegram's limits (checked with the local Bot API's own HTML parser)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.local_api import MAX_CALLBACK_DATA_BYTES, MAX_TEXT_LENGTH, parse_html
from knowledge import render
from knowledge.kb import check, load_kb, read_entries
from knowledge.model import Entry

FIXTURES = Path(__file__).resolve().parent / "kb_fixtures"
CONFIRM = "perlu konfirmasi ke BKPSDM"


def make_entry(**overrides: Any) -> Entry:
    data: dict[str, Any] = {
        "id": "sop-39",
        "title": "Kenaikan Pangkat Golongan III/d ke Bawah",
        "service": "kenaikan-pangkat",
        "sop": [39],
        "bidang": "apka",
        "audience": ["PNS"],
        "eligibility": "PNS golongan I/a sampai III/d.",
        "summary": "Kenaikan pangkat reguler untuk golongan III/d ke bawah, setiap bulan.",
        "requirements": [
            {"item": "Fotokopi SK pangkat terakhir", "copies": 2, "legalized": True},
            {"item": "SKP 2 tahun terakhir", "copies": 1, "legalized": False,
             "note": "Nilai paling rendah baik."},
        ],
        "steps": ["Pegawai menyerahkan berkas ke OPD.", "BKPSDM menetapkan SK."],
        "where": "Bidang APKA BKPSDM Kota Bekasi.",
        "duration": "14 hari kerja",
        "cost": "Tidak dipungut biaya.",
        "legal_basis": [{"ref": "Peraturan BKN Nomor 4 Tahun 2025", "article": "Pasal 2",
                         "note": "Periode bulanan."}],
        "keywords": ["kenaikan pangkat", "kp", "naik pangkat"],
        "questions": ["a", "b", "c", "d", "e"],
        "reviewed": date(2026, 11, 27),
    }
    data.update(overrides)
    return Entry.model_validate(data)


def telegram_text(html_text: str) -> str:
    """What Telegram shows; raises like Telegram on malformed HTML."""
    plain, _ = parse_html(html_text)
    return plain


# ----------------------------------------------------------------------------- escaping


def test_card_escapes_html_special_characters() -> None:
    entry = make_entry(
        title="Cuti <Besar> & Cuti Sakit",
        summary="Untuk masa kerja > 5 tahun & < 10 tahun; bukan tag <b>tebal</b> atau &amp;.",
        eligibility="PNS & PPPK", where="Loket <A> lantai 2", duration="< 3 hari", cost="Rp0 & gratis")
    card = render.answer_card(entry)
    assert "<Besar>" not in card and "<b>tebal</b>" not in card
    assert "<b>Cuti &lt;Besar&gt; &amp; Cuti Sakit</b>" in card
    assert "&amp;amp;" in card  # a literal "&amp;" written by staff stays visible as "&amp;"
    shown = telegram_text(card)
    assert "Cuti <Besar> & Cuti Sakit" in shown
    assert "> 5 tahun & < 10 tahun; bukan tag <b>tebal</b> atau &amp;." in shown
    assert "Untuk: PNS & PPPK" in shown
    assert "Tempat: Loket <A> lantai 2" in shown
    assert "Waktu: < 3 hari" in shown
    assert "Biaya: Rp0 & gratis" in shown


def test_sections_escape_html_special_characters() -> None:
    entry = make_entry(
        requirements=[{"item": "Surat <asli> & fotokopi", "copies": 1, "legalized": True,
                       "note": "Lihat pasal > 3 & < 5"}],
        steps=["Kirim ke <OPD> & tunggu"],
        legal_basis=[{"ref": "PP <11> & 17/2020", "article": "Pasal <3>", "note": "A & B"}])
    syarat = render.section(entry, "syarat")
    assert "<asli>" not in syarat
    assert "1. Surat <asli> & fotokopi — 1 rangkap, dilegalisir" in telegram_text(syarat)
    assert "Lihat pasal > 3 & < 5" in telegram_text(syarat)
    prosedur = render.section(entry, "prosedur")
    assert "1. Kirim ke <OPD> & tunggu" in telegram_text(prosedur)
    assert "&lt;OPD&gt; &amp; tunggu" in prosedur
    dasar = render.section(entry, "dasar")
    assert "PP <11> & 17/2020, Pasal <3> — A & B" in telegram_text(dasar)


def test_plain_text_is_not_escaped_and_has_no_markup() -> None:
    entry = make_entry(title="Cuti <Besar> & Sakit")
    card = render.answer_card(entry, html=False)
    assert card.startswith("Cuti <Besar> & Sakit\n")
    assert "<b>" not in card and "&amp;" not in card
    assert "Untuk: PNS golongan I/a sampai III/d." in card
    for name in render.SECTIONS:
        text = render.section(entry, name, html=False)
        assert "<b>" not in text and "<i>" not in text


# ----------------------------------------------------------------------------- card


def test_card_layout() -> None:
    shown = telegram_text(render.answer_card(make_entry()))
    assert shown.splitlines() == [
        "Kenaikan Pangkat Golongan III/d ke Bawah",
        "",
        "Kenaikan pangkat reguler untuk golongan III/d ke bawah, setiap bulan.",
        "",
        "Untuk: PNS golongan I/a sampai III/d.",
        "Tempat: Bidang APKA BKPSDM Kota Bekasi.",
        "Waktu: 14 hari kerja",
        "Biaya: Tidak dipungut biaya.",
        "",
        "Ditinjau: 27 November 2026",
    ]


def test_unconfirmed_fields_are_marked() -> None:
    entry = make_entry(unconfirmed=["duration", "where"])
    shown = telegram_text(render.answer_card(entry))
    assert f"Waktu: 14 hari kerja ({CONFIRM})" in shown
    assert f"Tempat: Bidang APKA BKPSDM Kota Bekasi. ({CONFIRM})" in shown
    assert "Biaya: Tidak dipungut biaya.\n" in shown  # confirmed: no mark
    assert shown.count(CONFIRM) == 2


def test_unconfirmed_mark_is_not_repeated_when_the_text_says_it() -> None:
    entry = make_entry(duration=f"Lama proses {CONFIRM}.", unconfirmed=["duration"])
    shown = telegram_text(render.answer_card(entry))
    assert f"Waktu: Lama proses {CONFIRM}.\n" in shown
    assert shown.count(CONFIRM) == 1
    entry = make_entry(duration="Perlu konfirmasi ke BKPSDM.", unconfirmed=["duration"])
    assert telegram_text(render.answer_card(entry)).lower().count(CONFIRM.lower()) == 1


def test_unconfirmed_section_is_marked_once() -> None:
    entry = make_entry(unconfirmed=["steps"])
    shown = telegram_text(render.section(entry, "prosedur"))
    assert shown.endswith(f"Bagian ini {CONFIRM}.")
    entry = make_entry(steps=[f"Jadwal {CONFIRM}."], unconfirmed=["steps"])
    assert telegram_text(render.section(entry, "prosedur")).count(CONFIRM) == 1
    assert CONFIRM not in telegram_text(render.section(make_entry(), "prosedur"))


# ----------------------------------------------------------------------------- sections


def test_syarat_lists_copies_and_legalisation() -> None:
    entry = make_entry(requirements=[
        {"item": "SK pangkat", "copies": 2, "legalized": True},
        {"item": "SKP", "copies": 1, "legalized": False, "note": "Nilai baik."},
        {"item": "Ijazah", "copies": None, "legalized": None},
        {"item": "KTP", "copies": None, "legalized": True},
        {"item": "Kartu Keluarga", "copies": 3, "legalized": None},
    ])
    shown = telegram_text(render.section(entry, "syarat"))
    assert shown.splitlines() == [
        "Syarat — Kenaikan Pangkat Golongan III/d ke Bawah",
        "",
        "1. SK pangkat — 2 rangkap, dilegalisir",
        "2. SKP — 1 rangkap, tanpa legalisir",
        "   Nilai baik.",
        f"3. Ijazah — jumlah rangkap/legalisir: {CONFIRM}",
        f"4. KTP — dilegalisir; jumlah rangkap: {CONFIRM}",
        f"5. Kartu Keluarga — 3 rangkap; legalisir: {CONFIRM}",
    ]


def test_syarat_all_unknown_says_it_once() -> None:
    entry = make_entry(requirements=[{"item": "SK pangkat"}, {"item": "SKP"}])
    shown = telegram_text(render.section(entry, "syarat"))
    assert shown.splitlines()[2:] == ["1. SK pangkat", "2. SKP", "",
                                      f"Jumlah rangkap/legalisir: {CONFIRM}."]


def test_prosedur_and_dasar() -> None:
    entry = make_entry(legal_basis=[
        {"ref": "Peraturan Pemerintah Nomor 11 Tahun 2017", "article": "Pasal 310",
         "note": "Jenis cuti."},
        {"ref": "Peraturan BKN Nomor 24 Tahun 2017"},
    ])
    assert telegram_text(render.section(entry, "prosedur")).splitlines()[2:] == [
        "1. Pegawai menyerahkan berkas ke OPD.", "2. BKPSDM menetapkan SK."]
    assert telegram_text(render.section(entry, "dasar")).splitlines() == [
        "Dasar hukum — Kenaikan Pangkat Golongan III/d ke Bawah",
        "",
        "• Peraturan Pemerintah Nomor 11 Tahun 2017, Pasal 310 — Jenis cuti.",
        "• Peraturan BKN Nomor 24 Tahun 2017",
    ]


def test_empty_sections_say_so() -> None:
    entry = make_entry(requirements=[], steps=[])
    assert "Tidak ada berkas yang perlu disiapkan." in render.section(entry, "syarat")
    assert "Tidak ada langkah pengajuan" in render.section(entry, "prosedur")


def test_unknown_section_is_rejected() -> None:
    with pytest.raises(ValueError, match="bagian tidak dikenal"):
        render.section(make_entry(), "biaya")


# ----------------------------------------------------------------------------- KB-wide


def test_related_titles_and_full_text() -> None:
    kb = load_kb(FIXTURES / "valid" / "entries", FIXTURES / "catalog.yaml")
    entry = kb.get("sop-01")
    assert render.related_titles(kb, entry) == [("layanan-cuti", "Pelayanan Cuti"),
                                                ("cuti-besar", "Cuti Besar")]
    missing = entry.model_copy(update={"related": ["sop-77", "cuti-besar", "sop-01"]})
    assert render.related_titles(kb, missing) == [("cuti-besar", "Cuti Besar")]

    text = render.full_text(kb, entry)
    assert "<" not in text and "&amp;" not in text
    for expected in ("Cuti Tahunan Pejabat Eselon II dan III", "Untuk: PNS yang menduduki",
                     "Status pegawai: PNS", "Syarat:\n1. Formulir permohonan cuti",
                     "— 2 rangkap, dilegalisir", "Prosedur:\n1. Pegawai mengisi formulir",
                     "Dasar hukum:\n• Peraturan Badan Kepegawaian Negara Nomor 24 Tahun 2017",
                     "Lihat juga:\n- Pelayanan Cuti\n- Cuti Besar"):
        assert expected in text
    # The "&" of the fixture summary is kept as is in plain text.
    assert "Permohonan & berkasnya" in render.full_text(kb, kb.get("sop-04"))


def test_buttons_and_callback_data() -> None:
    kb = load_kb(FIXTURES / "valid" / "entries", FIXTURES / "catalog.yaml")
    rows = render.buttons(kb, kb.get("sop-01"))
    assert rows == [
        [("Syarat", "kb:s:sop-01:syarat"), ("Prosedur", "kb:s:sop-01:prosedur"),
         ("Dasar hukum", "kb:s:sop-01:dasar")],
        [("Pelayanan Cuti", "kb:e:layanan-cuti")],
        [("Cuti Besar", "kb:e:cuti-besar")],
    ]
    # Sections without content get no button.
    assert render.buttons(kb, kb.get("layanan-kenaikan-pangkat"))[0] == [
        ("Dasar hukum", "kb:s:layanan-kenaikan-pangkat:dasar")]
    assert render.parse_callback("kb:s:sop-01:syarat") == ("s", "sop-01", "syarat")
    assert render.parse_callback("kb:e:cuti-besar") == ("e", "cuti-besar", None)
    for foreign in ("kb:s:sop-01", "kb:s:sop-01:biaya", "kb:e:x:y", "menu:kb", "kb:x:sop-01"):
        assert render.parse_callback(foreign) is None


def test_long_related_title_is_shortened_on_its_button() -> None:
    kb = load_kb(FIXTURES / "valid" / "entries", FIXTURES / "catalog.yaml")
    long_title = "Pelayanan Pengangkatan, Pemindahan dan Pemberhentian PNS Kota Bekasi"
    lookup = {"cuti-besar": kb.get("cuti-besar").model_copy(update={"title": long_title})}
    entry = kb.get("sop-01")
    label = render.buttons(lookup, entry)[1][0][0]
    assert len(label) <= render.MAX_BUTTON_LABEL and label.endswith("…")
    assert label.startswith("Pelayanan Pengangkatan, Pemindahan")


def test_visible_length_counts_what_telegram_counts() -> None:
    html_text = "<b>A &amp; B</b> &lt;x&gt;"
    assert render.visible_length(html_text) == len(telegram_text(html_text)) == 9
    assert render.visible_length("😀") == 2  # UTF-16, never less than the character count


# ----------------------------------------------------------------------------- the real content


def test_every_real_entry_fits_telegram() -> None:
    """Every piece of every entry in knowledge/entries/ is valid Telegram HTML within 4096
    characters, and every button's data within 64 bytes. Nothing is skipped: a file that does
    not even parse fails this test too."""
    entries, problems = read_entries()
    assert entries, "knowledge/entries/ has no entries"
    unreadable = [str(p) for p in problems if p.is_error]
    lookup = {e.id: e for e in entries}
    too_long = []
    for entry in entries:
        for name, piece in render.pieces(entry).items():
            shown = telegram_text(piece)  # raises on markup Telegram would reject
            if len(shown) > MAX_TEXT_LENGTH or render.visible_length(piece) > MAX_TEXT_LENGTH:
                too_long.append(f"{entry.id} {name}: {len(shown)} karakter")
            assert render.visible_length(piece) >= len(shown)
        for data in render.all_callback_data(lookup, entry):
            if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                too_long.append(f"{entry.id} tombol {data!r}")
    assert not unreadable and not too_long, "\n".join(unreadable + too_long)


def test_check_uses_the_renderer_limits() -> None:
    assert render.MAX_MESSAGE_CHARS == MAX_TEXT_LENGTH
    assert render.MAX_CALLBACK_BYTES == MAX_CALLBACK_DATA_BYTES
    kb, _ = check(FIXTURES / "valid" / "entries", FIXTURES / "catalog.yaml")
    assert kb is not None
