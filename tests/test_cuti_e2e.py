"""The cuti form on the phone, end to end: a linked employee talks to the real bot (dispatcher
polling the fake Bot API over HTTP, persistent FSM storage, real database), from the menu to a
filed application. The approval that follows is tested in tests/test_approval_e2e.py.

The clock is pinned (dispatcher data "now_fn", read by the engine Context) so the holidays of
services/data/kota-bekasi stay in the future whenever the suite runs."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from bot.local_api import BotMessage, ChatClient, LocalBotAPI
from handlers import texts
from handlers import texts_cuti as tc
from handlers.cuti import KEY
from services.applications import engine
from services.applications.engine import Context, Status
from services.importer import import_pegawai
from services.models import (
    Application, ApplicationFile, CutiLedgerEntry, Employee, TelegramAccount,
)
from tests.conftest import SAMPLE_CSV
from tests.harness import Running, make_settings, start_bot

AHMAD = "199001092014121001"  # PNS since 2014, L, pelaksana; atasan Rina, kepala OPD Hendra
RINA = "198207212006012001"  # PNS since 2006, P, eselon IV
SRI = "197503141999032001"  # PNS since 1999, P, Sekretaris (eselon III)
DEWI = "198811302011022001"  # PNS since 2011, P
BAMBANG = "198506172019031001"  # PNS since 2019, L
AISYAH = "199204022024032001"  # PNS since March 2024, P: under 5 years of service
FITRI = "199312192023212001"  # PPPK since August 2023, P
JOKO = "TKK-2019-000123"  # Non-PNS
UID = {AHMAD: 801, RINA: 802, SRI: 803, DEWI: 804, BAMBANG: 805, AISYAH: 806, FITRI: 807, JOKO: 808}
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)  # Friday 27 November 2026, 10:00 WIB
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
DOCX = b"PK\x03\x04" + b"\x00" * 200  # a Word file (zip), whatever its name says


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def link_all(r: Running) -> None:
    async with r.app.sessions() as s:
        for ident, uid in UID.items():
            column = Employee.nomor_non_pns if ident.startswith("TKK") else Employee.nip
            emp = (await s.execute(select(Employee).where(column == ident))).scalar_one()
            s.add(TelegramAccount(telegram_user_id=uid, chat_id=uid, employee_id=emp.id))
        await s.commit()


@pytest.fixture
async def r(running: Running) -> Running:
    """The running bot, the clock pinned, the sample employees linked."""
    clock = Clock()
    running.app.dispatcher["now_fn"] = clock
    running.clock = clock  # type: ignore[attr-defined]
    await link_all(running)
    return running


def chat(r: Running, nip: str) -> ChatClient:
    return r.api.user(UID[nip])


async def emp_of(r: Running, nip: str) -> Employee:
    async with r.app.sessions() as s:
        return (await s.execute(select(Employee).where(Employee.nip == nip))).scalar_one()


async def applications(r: Running) -> list[Application]:
    async with r.app.sessions() as s:
        return list((await s.execute(select(Application).order_by(Application.id))).scalars())


def fsm_key(r: Running, uid: int) -> StorageKey:
    return StorageKey(bot_id=r.bot.id, chat_id=uid, user_id=uid)


async def fsm_state(r: Running, uid: int) -> str | None:
    return await r.app.storage.get_state(fsm_key(r, uid))


def all_buttons(c: ChatClient) -> list[dict[str, Any]]:
    return [b for m in c.messages for row in (m.inline_keyboard or []) for b in row]


def labels(m: BotMessage) -> list[str]:
    return [label for row in m.buttons for label in row]


async def open_form(c: ChatClient) -> BotMessage:
    replies = await c.send(texts.MENU_CUTI)
    assert "Pilih jenis cuti" in replies[-1].text, replies[-1].text
    return replies[-1]


async def pick_dates(c: ChatClient, start: str, end: str | None = None) -> BotMessage:
    """Type the dates (a range in one message when end is None); returns the quote."""
    replies = await c.send(start)
    if end is not None:
        assert "tanggal selesai" in replies[-1].text, replies[-1].text
        replies = await c.send(end)
    assert "hari kerja" in replies[-1].text, replies[-1].text
    return replies[-1]


async def walk(c: ChatClient, kind_label: str, *, start: str, end: str | None = None, detail: str | None = None,
               abroad: bool | None = False, files: list[tuple[str, bytes]] = (),
               alasan: str = "Keperluan keluarga", alamat: str = "Jl. Melati 1, Bekasi",
               telepon: str = "0812 3456 7890") -> BotMessage:
    """From the menu to the summary; returns it (not yet sent)."""
    await open_form(c)
    await c.press(kind_label)
    if detail is not None:
        await c.press(detail)
    q = await pick_dates(c, start, end)
    assert tc.BTN_NEXT in labels(q), q.text
    replies = await c.press(tc.BTN_NEXT)
    if abroad is not None:
        assert "luar negeri" in replies[-1].text
        replies = await c.press(tc.BTN_YES if abroad else tc.BTN_NO)
    assert "alasan" in replies[-1].text, replies[-1].text
    await c.send(alasan)
    replies = await c.send(alamat)
    assert "telepon" in replies[-1].text
    replies = await c.send(telepon)
    for kind, content in files:
        assert "Lampiran" in replies[-1].text, replies[-1].text
        replies = await (c.send_photo(content) if kind == "photo" else c.send_document(content, "berkas.pdf",
                                                                                          "application/pdf"))
        assert "diterima" in replies[0].text, replies[0].text
    summary = replies[-1]
    assert "Ringkasan pengajuan cuti" in summary.text, summary.text
    return summary


async def submit(c: ChatClient) -> BotMessage:
    replies = await c.press(tc.BTN_SEND)
    filed = next((m for m in replies if m.text.startswith("📄 Permohonan cuti CUTI-")), None)
    assert filed is not None, [m.text for m in replies]
    assert c.callback_answers[-1]["text"].startswith("Terkirim: CUTI-")
    return filed


def d(s: str) -> str:
    return date.fromisoformat(s).isoformat()


# ---- every kind, from the menu to a filed application -----------------------------------------
async def test_tahunan_over_christmas_counts_three_days(r: Running) -> None:
    c = chat(r, AHMAD)
    await c.send("/start")  # the main menu, pressed like a user would
    replies = await c.press(texts.MENU_CUTI)
    kinds = replies[-1]
    assert "Sisa cuti tahunan Anda: 12 hari kerja" in kinds.text
    assert labels(kinds) == [tc.KIND_BUTTONS[k] for k in
                             ("tahunan", "besar", "sakit", "alasan-penting", "bersama", "cltn")] + [texts.BTN_CANCEL]
    await c.press(tc.KIND_BUTTONS["tahunan"])
    q = await pick_dates(c, "21-25 Desember")
    # 24 Dec 2026 is cuti bersama (Keppres 42/2025), 25 Dec Natal: 3 of 5 weekdays are charged.
    assert "3 hari kerja" in q.text and "5 hari kalender" in q.text
    assert "Kamis, 24 Desember 2026: cuti bersama (Keppres 42/2025)" in q.text
    assert "Jumat, 25 Desember 2026: libur nasional: Hari Raya Natal" in q.text
    assert "Sisa cuti tahunan: 12 → 9 hari" in q.text
    summary = await walk_rest(c, abroad=False)
    assert "Senin, 21 Desember 2026 s.d. Jumat, 25 Desember 2026" in summary.text
    filed = await submit(c)
    [app] = await applications(r)
    assert filed.text.startswith(f"📄 Permohonan cuti {app.number}\nJenis: Cuti tahunan")
    assert filed.inline_keyboard is None  # no Kirim left to press twice
    assert app.status == Status.PENDING and app.step == "atasan"
    assert app.employee_id == (await emp_of(r, AHMAD)).id
    assert app.approver_id == (await emp_of(r, RINA)).id
    data = app.data
    assert (data["kind"], data["start"], data["end"]) == ("tahunan", "2026-12-21", "2026-12-25")
    assert (data["working_days"], data["balance_before"], data["balance_after"]) == (3, 12, 9)
    assert data["alasan"] == "Keperluan keluarga" and data["alamat"] == "Jl. Melati 1, Bekasi"
    assert data["telepon"] == "0812-3456-7890" and data["abroad"] is False
    assert await fsm_state(r, UID[AHMAD]) is None
    # The confirmation with the next step comes once, from the outbox.
    note = await c.wait_for(lambda m: "terkirim dengan nomor" in m.text)
    assert app.number in note.text and "Rina" in note.text
    assert all(len(b["callback_data"].encode()) <= 64 for b in all_buttons(c) if "callback_data" in b)


async def walk_rest(c: ChatClient, *, abroad: bool | None) -> BotMessage:
    replies = await c.press(tc.BTN_NEXT)
    if abroad is not None:
        replies = await c.press(tc.BTN_YES if abroad else tc.BTN_NO)
    assert "alasan" in replies[-1].text
    await c.send("Keperluan keluarga")
    await c.send("Jl. Melati 1, Bekasi")
    replies = await c.send("0812 3456 7890")
    return replies[-1]


async def test_besar_abroad_goes_to_the_ppk(r: Running) -> None:
    c = chat(r, AHMAD)
    summary = await walk(c, tc.KIND_BUTTONS["besar"], detail=tc.DETAIL_LABELS["besar"]["-"],
                         start="1/2/2027", end="26 Februari 2027", abroad=True)
    assert "Di luar negeri: Ya" in summary.text and "PPK" in summary.text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["start"], app.data["end"]) == ("besar", "2027-02-01", "2027-02-26")
    assert app.data["abroad"] is True and app.data["pejabat_rule"] == "role:ppk"
    assert app.data["reason_code"] is None


async def test_sakit_on_the_calendar_with_a_doctors_letter(r: Running) -> None:
    c = chat(r, AHMAD)
    await open_form(c)
    replies = await c.press(tc.KIND_BUTTONS["sakit"])  # a man: no "gugur kandungan" question
    cal = replies[-1]
    assert "tanggal mulai" in cal.text and "November 2026" in labels(cal)
    assert "28*" in labels(cal) and "29*" in labels(cal)  # the weekend is marked
    await c.press("30")  # Monday 30 November
    replies = await c.press("›")  # the end calendar opens on November: on to December
    assert "Desember 2026" in labels(replies[-1])
    replies = await c.press("2")
    q = replies[-1]
    assert "3 hari kerja" in q.text and "surat keterangan dokter" in q.text
    replies = await c.press(tc.BTN_NEXT)
    replies = await c.press(tc.BTN_NO)
    await c.send("Demam berdarah, rawat jalan")
    await c.send("Rumah, Jl. Melati 1, Bekasi")
    replies = await c.press(tc.use_registered("0812-1000-0004"))  # the number in the personnel data
    assert "Lampiran 1 dari 1" in replies[-1].text
    replies = await c.send_photo(PNG)
    assert "Surat keterangan dokter diterima" in replies[0].text
    assert "Lampiran: Surat keterangan dokter" in replies[-1].text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["start"], app.data["end"], app.data["telepon"]) == ("2026-11-30", "2026-12-02", "0812-1000-0004")
    async with r.app.sessions() as s:
        f = await s.get(ApplicationFile, app.data["files"]["dokumen-surat-dokter"])
        assert f.application_id == app.id and f.employee_id == app.employee_id
        assert f.mime == "image/png" and f.doc_key == "dokumen-surat-dokter" and f.telegram_file_id
        assert (r.app.settings.data_dir / "files" / f.path).read_bytes() == PNG


async def test_melahirkan_asks_the_birth_order(r: Running) -> None:
    c = chat(r, SRI)
    kinds = await open_form(c)
    assert tc.KIND_BUTTONS["melahirkan"] in labels(kinds)
    await c.press(tc.KIND_BUTTONS["melahirkan"])
    replies = await c.press(tc.DETAIL_LABELS["melahirkan"]["b2"])
    assert "tanggal mulai" in replies[-1].text
    q = await pick_dates(c, "senin depan", "26 Februari 2027")  # Monday 30 November 2026
    assert "Senin, 30 November 2026 s.d. Jumat, 26 Februari 2027" in q.text
    await c.press(tc.BTN_NEXT)
    await c.press(tc.BTN_NO)
    await c.send("Persalinan anak kedua")
    await c.send("Jl. Kenanga 2, Bekasi")
    replies = await c.send("+62 812-1000-0002")
    replies = await c.send_document(PDF, "surat-bidan.pdf", "application/pdf")
    assert "Ringkasan" in replies[-1].text and "Persalinan ke-2" in replies[-1].text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["birth_order"], app.data["telepon"]) == ("melahirkan", 2, "0812-1000-0002")
    assert app.data["start"] == "2026-11-30" and app.data["end"] == "2027-02-26"


async def test_melahirkan_fourth_birth_is_refused_with_its_rule(r: Running) -> None:
    c = chat(r, SRI)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["melahirkan"])
    await c.press(tc.DETAIL_LABELS["melahirkan"]["b4"])
    q = await pick_dates(c, "senin depan", "31 Desember")
    assert "Belum dapat diajukan" in q.text and "diberikan cuti besar" in q.text and "PP 11/2017 Pasal 325" in q.text
    assert tc.BTN_NEXT not in labels(q) and tc.BTN_OTHER_DATES in labels(q)


async def test_alasan_penting_from_tomorrow(r: Running) -> None:
    c = chat(r, BAMBANG)
    summary = await walk(c, tc.KIND_BUTTONS["alasan-penting"], start="besok", end="2/12",
                         files=[("pdf", PDF)])
    # Saturday 28 November to Wednesday 2 December: the weekend is not charged.
    assert "3 hari kerja" in summary.text and "2 hari bukan hari kerja (Sabtu/Minggu)" in summary.text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["start"], app.data["end"]) == ("alasan-penting", "2026-11-28", "2026-12-02")
    assert app.data["working_days"] == 3 and list(app.data["files"]) == ["dokumen-bukti-alasan"]


async def test_bersama_on_the_decreed_day(r: Running) -> None:
    c = chat(r, RINA)
    summary = await walk(c, tc.KIND_BUTTONS["bersama"], start="24 Desember", end="24/12", abroad=None)
    assert "Di luar negeri" not in summary.text  # not asked for cuti bersama
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["start"], app.data["working_days"]) == ("bersama", "2026-12-24", 1)


async def test_bersama_on_an_ordinary_day_is_refused(r: Running) -> None:
    c = chat(r, RINA)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["bersama"])
    q = await pick_dates(c, "23/12", "23/12")
    assert "bukan cuti bersama" in q.text and "PP 11/2017 Pasal 333" in q.text


async def test_cltn_with_its_document_and_the_bkn_note(r: Running) -> None:
    c = chat(r, DEWI)
    summary = await walk(c, tc.KIND_BUTTONS["cltn"], start="1 Februari 2027", end="31 Juli 2027", abroad=None,
                         files=[("pdf", PDF)])
    assert "persetujuan Kepala BKN" in summary.text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["start"], app.data["end"]) == ("cltn", "2027-02-01", "2027-07-31")
    assert list(app.data["files"]) == ["dokumen-alasan-cltn"]


async def test_besar_for_a_first_hajj_before_five_years(r: Running) -> None:
    c = chat(r, AISYAH)
    kinds = await open_form(c)
    assert tc.KIND_BUTTONS["besar"] in labels(kinds)
    replies = await c.press(tc.KIND_BUTTONS["besar"])
    # Under 5 years of service: only the reasons the rules allow, no ordinary cuti besar.
    assert labels(replies[-1]) == [tc.DETAIL_LABELS["besar"]["haji-pertama"],
                                   tc.DETAIL_LABELS["besar"]["melahirkan-ke-4"], tc.BTN_BACK, texts.BTN_CANCEL]
    await c.press(tc.DETAIL_LABELS["besar"]["haji-pertama"])
    q = await pick_dates(c, "3 Mei 2027", "30 Juni 2027")
    assert "jadwal keberangkatan" in q.text
    await c.press(tc.BTN_NEXT)
    await c.press(tc.BTN_NO)
    await c.send("Ibadah haji")
    await c.send("Asrama Haji Bekasi")
    await c.send("081210000007")
    replies = await c.send_document(PDF, "kloter.pdf", "application/pdf")
    assert "Ibadah haji pertama" in replies[-1].text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["reason_code"]) == ("besar", "haji-pertama")
    assert list(app.data["files"]) == ["dokumen-jadwal-haji"]


async def test_pppk_sees_only_pppk_kinds_and_files_tahunan(r: Running) -> None:
    c = chat(r, FITRI)
    kinds = await open_form(c)
    assert labels(kinds) == [tc.KIND_BUTTONS[k] for k in ("tahunan", "sakit", "melahirkan", "bersama")] + [
        texts.BTN_CANCEL]
    # A forged button for a kind PPPK may not take: refused with its rule, nothing changes.
    replies = await c._press_callback(kinds, "cu:k:besar", 10.0)
    assert "PPPK tidak berhak atas cuti besar" in replies[-1].text and "PP 49/2018" in replies[-1].text
    await c.press(tc.KIND_BUTTONS["tahunan"], message=kinds)
    q = await pick_dates(c, "7-8 Januari 2027")
    assert "2 hari kerja" in q.text
    await walk_rest(c, abroad=False)
    await submit(c)
    [app] = await applications(r)
    assert (app.data["kind"], app.data["working_days"]) == ("tahunan", 2)


async def test_non_pns_is_told_why_no_kind_is_offered(r: Running) -> None:
    replies = await chat(r, JOKO).send("/cuti")
    assert "tidak ada jenis cuti" in replies[-1].text
    assert "Non-PNS" in replies[-1].text and "Perwal Kota Bekasi 42/2017" in replies[-1].text
    assert replies[-1].inline_keyboard is None
    assert await fsm_state(r, UID[JOKO]) is None


async def test_kind_not_offered_to_this_person(r: Running) -> None:
    c = chat(r, BAMBANG)
    kinds = await open_form(c)
    assert tc.KIND_BUTTONS["melahirkan"] not in labels(kinds)
    replies = await c._press_callback(kinds, "cu:k:melahirkan", 10.0)
    assert "hanya untuk pegawai perempuan" in replies[-1].text
    replies = await c._press_callback(kinds, "cu:k:liburan", 10.0)  # garbage
    assert c.callback_answers[-1].get("text") == texts.stale_button()
    assert await fsm_state(r, UID[BAMBANG]) == "CutiForm:kind"


async def test_unlinked_user_is_asked_to_link_first(r: Running) -> None:
    replies = await r.api.user(4242).send("/cuti")
    assert "tautkan dulu" in replies[-1].text


async def test_button_under_a_knowledge_base_answer_opens_the_form(r: Running) -> None:
    c = chat(r, AHMAD)
    replies = await c.send("syarat cuti sakit")
    answer = next(m for m in replies if m.inline_keyboard)
    button = next(b for row in answer.inline_keyboard for b in row if b["text"] == "🗓 Ajukan cuti")
    assert button["callback_data"] == "cuti:start"
    replies = await c.press("🗓 Ajukan cuti", message=answer)
    assert "Pilih jenis cuti" in replies[-1].text


# ---- refusals ---------------------------------------------------------------------------------
async def test_no_balance_then_other_dates(r: Running) -> None:
    ahmad = await emp_of(r, AHMAD)
    async with r.app.sessions() as s:
        s.add(CutiLedgerEntry(employee_id=ahmad.id, year=2026, kind="saldo-awal", days=2,
                              effective_date=date(2026, 1, 1), note="impor", source="test"))
        await s.commit()
    c = chat(r, AHMAD)
    kinds = await open_form(c)
    assert "Sisa cuti tahunan Anda: <b>2 hari kerja</b>" in (kinds.html or "")
    await c.press(tc.KIND_BUTTONS["tahunan"])
    q = await pick_dates(c, "21-25 Desember")
    assert "Belum dapat diajukan" in q.text
    assert "Sisa cuti tahunan 2 hari kerja, kurang dari 3 hari kerja" in q.text and "PP 11/2017 Pasal 312" in q.text
    assert tc.BTN_NEXT not in labels(q)
    replies = await c.press(tc.BTN_OTHER_DATES)
    assert "tanggal mulai" in replies[-1].text
    q = await pick_dates(c, "21-22 Desember")
    assert "Sisa cuti tahunan: 2 → 0 hari" in q.text and tc.BTN_NEXT in labels(q)


async def test_overlap_with_an_earlier_application(r: Running) -> None:
    c = chat(r, AHMAD)
    await walk(c, tc.KIND_BUTTONS["tahunan"], start="21-22 Desember")
    await submit(c)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["alasan-penting"])
    q = await pick_dates(c, "22/12", "23/12")
    assert "bertumpang tindih dengan cuti tahunan 21-12-2026 s.d. 22-12-2026" in q.text
    assert tc.BTN_NEXT not in labels(q)
    assert len(await applications(r)) == 1


async def test_attachment_missing_wrong_type_and_too_big(r: Running) -> None:
    c = chat(r, AHMAD)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["sakit"])
    await pick_dates(c, "30 November", "1 Desember")
    await c.press(tc.BTN_NEXT)
    await c.press(tc.BTN_NO)
    await c.send("Sakit")
    await c.send("Jl. Melati 1, Bekasi")
    replies = await c.send("081234567890")
    prompt = replies[-1]
    assert "Lampiran 1 dari 1" in prompt.text
    # No document yet: text is not accepted, and a forged Kirim does nothing.
    replies = await c.send("nanti saya kirim")
    assert tc.file_expected() in replies[0].text and "Lampiran 1 dari 1" in replies[-1].text
    await c._press_callback(replies[-1], "cu:send", 10.0)
    assert c.callback_answers[-1].get("text") == texts.stale_button()
    replies = await c.send_document(DOCX, "surat-dokter.pdf", "application/pdf")  # the name lies
    assert "Berkas harus berupa PDF atau foto (JPG/PNG)" in replies[-1].text
    big = b"%PDF-1.4\n" + b"0" * (6 * 1024 * 1024)
    replies = await c.send_document(big, "surat.pdf", "application/pdf")
    assert "paling besar 5 MB" in replies[-1].text
    assert await fsm_state(r, UID[AHMAD]) == "CutiForm:files"
    assert await applications(r) == []
    async with r.app.sessions() as s:
        assert (await s.execute(select(ApplicationFile))).first() is None
    replies = await c.send_document(PDF, "surat.pdf", "application/pdf")
    assert "Ringkasan" in replies[-1].text


async def test_engine_refusal_keeps_the_draft(r: Running) -> None:
    """Between the summary and Kirim another request took the days: the refusal is shown with
    its rule, the draft stays and can be changed."""
    c = chat(r, AHMAD)
    await walk(c, tc.KIND_BUTTONS["tahunan"], start="21-22 Desember")
    # Meanwhile an overlapping application is filed (e.g. by the OPD staff, straight in the engine).
    st = r.app.settings
    ctx = Context(data_dir=st.data_dir, agency_dir=st.agency_dir, zone=st.zone, now_fn=lambda: NOW)
    async with r.app.sessions() as s:
        await engine.submit(s, ctx, (await emp_of(r, AHMAD)).id, "cuti",
                            {"kind": "tahunan", "start": "2026-12-22", "end": "2026-12-22", "alasan": "x"},
                            submit_key="elsewhere")
    replies = await c.press(tc.BTN_SEND)
    assert any("belum dapat dikirim" in m.text and "bertumpang tindih" in m.text for m in replies)
    assert "Ringkasan" in replies[-1].text and tc.BTN_SEND not in labels(replies[-1])
    assert await fsm_state(r, UID[AHMAD]) == "CutiForm:summary"
    assert len(await applications(r)) == 1


# ---- double submit, restart, back, cancel, expiry ----------------------------------------------
async def test_double_tap_on_kirim_files_one(r: Running) -> None:
    c = chat(r, AHMAD)
    summary = await walk(c, tc.KIND_BUTTONS["tahunan"], start="21-22 Desember")
    results = await asyncio.gather(c.press(tc.BTN_SEND, message=summary), c.press(tc.BTN_SEND, message=summary))
    assert len(await applications(r)) == 1
    assert any(m.text.startswith("📄 Permohonan cuti CUTI-") for res in results for m in res)


async def test_resend_of_the_same_draft_files_one(r: Running) -> None:
    """The same draft sent again (e.g. the state came back after a crash right after filing):
    the submit key of the draft makes it the same application."""
    c = chat(r, AHMAD)
    summary = await walk(c, tc.KIND_BUTTONS["tahunan"], start="21-22 Desember")
    key = fsm_key(r, c.user_id)
    saved_state, saved_data = await r.app.storage.get_state(key), await r.app.storage.get_data(key)
    await submit(c)
    [app] = await applications(r)
    await r.app.storage.set_state(key, saved_state)
    await r.app.storage.set_data(key, saved_data)
    await c._press_callback(summary, "cu:send", 10.0)
    assert c.callback_answers[-1]["text"] == tc.already_submitted(app.number)
    assert [a.id for a in await applications(r)] == [app.id]


async def test_draft_survives_a_restart(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    settings = make_settings(db_url, tmp_path)
    first = await start_bot(settings, api)
    await import_pegawai(first.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    await link_all(first)
    first.app.dispatcher["now_fn"] = lambda: NOW
    c = api.user(UID[AHMAD])
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    await pick_dates(c, "21-22 Desember")
    await c.press(tc.BTN_NEXT)
    replies = await c.press(tc.BTN_NO)
    assert "alasan" in replies[-1].text
    await first.stop()

    second = await start_bot(settings, api)  # a new process on the same database
    second.app.dispatcher["now_fn"] = lambda: NOW + timedelta(hours=2)
    try:
        replies = await c.send("Menghadiri pernikahan adik")
        assert "alamat selama menjalankan cuti" in replies[-1].text
        await c.send("Jl. Melati 1, Bekasi")
        replies = await c.send("081234567890")
        assert "Ringkasan" in replies[-1].text and "Menghadiri pernikahan adik" in replies[-1].text
        await submit(c)
        async with second.app.sessions() as s:
            [app] = (await s.execute(select(Application))).scalars().all()
        assert app.data["start"] == "2026-12-21" and app.data["alasan"] == "Menghadiri pernikahan adik"
    finally:
        await second.stop()


async def test_back_and_change_from_the_summary(r: Running) -> None:
    c = chat(r, AHMAD)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    replies = await c.send("21 Desember")
    assert "tanggal selesai" in replies[-1].text
    replies = await c.press(tc.BTN_BACK)  # back to the start date
    assert "tanggal mulai" in replies[-1].text
    replies = await c.press(tc.BTN_BACK)  # back to the kinds
    assert "Pilih jenis cuti" in replies[-1].text
    await c.press(tc.KIND_BUTTONS["tahunan"])
    await pick_dates(c, "21-22 Desember")
    await c.press(tc.BTN_NEXT)
    await c.press(tc.BTN_NO)
    await c.send("Alasan pertama")
    replies = await c.send(tc.BTN_BACK)  # typed: back from the address to the reason
    assert "alasan" in replies[-1].text
    await c.send("Alasan kedua")
    await c.send("Jl. Melati 1, Bekasi")
    replies = await c.send("081234567890")
    summary = replies[-1]
    assert "Alasan kedua" in summary.text
    # Ubah -> Alasan: a new reason, back to the summary.
    replies = await c.press(tc.BTN_EDIT)
    assert tc.FIELD_BUTTONS["alasan"] in labels(replies[-1])
    replies = await c.press(tc.FIELD_BUTTONS["alasan"])
    assert "alasan" in replies[-1].text
    replies = await c.send("Alasan ketiga")
    assert "Ringkasan" in replies[-1].text and "Alasan ketiga" in replies[-1].text
    # Ubah -> Alamat, then Kembali: nothing changed.
    await c.press(tc.BTN_EDIT)
    await c.press(tc.FIELD_BUTTONS["alamat"])
    replies = await c.press(tc.BTN_BACK)
    assert "Ringkasan" in replies[-1].text and "Jl. Melati 1, Bekasi" in replies[-1].text
    # Ubah -> Tanggal: new dates, then straight back to the summary.
    await c.press(tc.BTN_EDIT)
    await c.press(tc.FIELD_BUTTONS["dates"])
    await pick_dates(c, "28-29 Desember")
    replies = await c.press(tc.BTN_NEXT)
    assert "Ringkasan" in replies[-1].text and "Senin, 28 Desember 2026" in replies[-1].text
    await submit(c)
    [app] = await applications(r)
    assert (app.data["start"], app.data["alasan"]) == ("2026-12-28", "Alasan ketiga")


async def test_cancel_by_button_and_by_command(r: Running) -> None:
    c = chat(r, AHMAD)
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    replies = await c.press(texts.BTN_CANCEL)
    assert tc.cancelled() in replies[-1].text
    assert await fsm_state(r, UID[AHMAD]) is None
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    await pick_dates(c, "21-22 Desember")
    replies = await c.send("/batal")
    assert any(m.text == texts.cancelled() for m in replies)
    assert await fsm_state(r, UID[AHMAD]) is None
    # A button of the cancelled form does nothing.
    replies = await c._press_callback(c.messages[-3], "cu:ok", 10.0)
    assert c.callback_answers[-1].get("text") == texts.stale_button()
    assert await applications(r) == []


async def test_menu_buttons_during_the_form_do_not_become_answers(r: Running) -> None:
    c = chat(r, AHMAD)
    await walk_to_reason(c)
    replies = await c.send(texts.MENU_TANYA)
    assert tc.in_form() in replies[0].html and "alasan" in replies[-1].text
    assert await fsm_state(r, UID[AHMAD]) == "CutiForm:alasan"


async def walk_to_reason(c: ChatClient) -> None:
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    await pick_dates(c, "21-22 Desember")
    await c.press(tc.BTN_NEXT)
    await c.press(tc.BTN_NO)


async def test_an_idle_draft_expires_politely(r: Running) -> None:
    c = chat(r, AHMAD)
    await walk_to_reason(c)
    r.clock.now = NOW + timedelta(hours=23)  # type: ignore[attr-defined]
    replies = await c.send("Alasan")  # still within the day: accepted
    assert "alamat" in replies[-1].text
    r.clock.now = NOW + timedelta(hours=23 + 25)  # type: ignore[attr-defined]
    replies = await c.send("Jl. Melati 1, Bekasi")
    assert "sudah lewat 24 jam" in replies[0].text
    assert "Pilih jenis cuti" in replies[-1].text
    assert await fsm_state(r, UID[AHMAD]) == "CutiForm:kind"
    draft = (await r.app.storage.get_data(fsm_key(r, UID[AHMAD])))[KEY]
    assert draft.get("alasan") is None and draft.get("kind") is None


async def test_form_steps_keep_the_rest_of_the_conversation_data(r: Running) -> None:
    # A step writes the whole data without reading it first (handlers/cuti.py Form.save): what
    # else was kept, such as the question for "Tanya petugas", must survive the form's steps.
    from handlers.tanya import HANDOFF_KEY

    c = chat(r, AHMAD)
    key = fsm_key(r, UID[AHMAD])
    await r.app.storage.set_data(key, {HANDOFF_KEY: "pertanyaan sebelum formulir"})
    await open_form(c)
    await c.press(tc.KIND_BUTTONS["tahunan"])
    await pick_dates(c, "21-22 Desember")
    data = await r.app.storage.get_data(key)
    assert data[HANDOFF_KEY] == "pertanyaan sebelum formulir"
    assert data[KEY]["start"] == "2026-12-21" and data[KEY]["end"] == "2026-12-22"
    assert await fsm_state(r, UID[AHMAD]) == "CutiForm:dates"
