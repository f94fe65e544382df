"""Izin belajar from the phone, end to end: the real bot polling the fake Bot API over HTTP, the
outbox worker delivering what the engine writes, everyone pressing their own buttons. From the
first message to the Surat Izin Belajar PDF; ineligible applicants told why; wrong, oversized
and missing documents refused; the form's checklist following the SOP 62 entry."""
from __future__ import annotations

import asyncio
import re
import shutil
from datetime import date, datetime, timezone
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from aiogram.fsm.storage.base import StorageKey

from bot.local_api import BotMessage, ChatClient, LocalBotAPI
from handlers import texts
from handlers import texts_approval as ta
from handlers import texts_izin_belajar as t
from knowledge.kb import ENTRIES_DIR
from services import files, roles
from services.applications.engine import Status
from services.importer import import_pegawai
from services.models import Application, ApplicationFile, Employee, Letter, TelegramAccount
from tests.conftest import SAMPLE_CSV
from tests.harness import Running, make_settings, start_bot

AHMAD = "199001092014121001"  # PNS since 2014, SMA: may ask for D3, D4 or S1; atasan Rina
RINA = "198207212006012001"
BAMBANG = "198506172019031001"  # verifier of Bidang PKom in these tests
DEWI = "198811302011022001"  # holds approver:izin-belajar in these tests
AISYAH = "199204022024032001"
SITI = "199508112020032001"
FITRI = "199312192023212001"  # PPPK
JOKO = "TKK-2019-000123"  # Non-PNS
UID = {AHMAD: 801, RINA: 802, BAMBANG: 803, DEWI: 804, AISYAH: 805, SITI: 806, FITRI: 807, JOKO: 808}
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)  # Friday 27 November 2026, 10:00 WIB
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
GIF = b"GIF89a this is not a scan"


async def setup(r: Running) -> Running:
    r.app.dispatcher["now_fn"] = lambda: NOW
    async with r.app.sessions() as s:
        for ident, uid in UID.items():
            emp = (await s.execute(select(Employee).where(
                (Employee.nip == ident) | (Employee.nomor_non_pns == ident)))).scalar_one()
            s.add(TelegramAccount(telegram_user_id=uid, chat_id=uid, employee_id=emp.id))
        await s.commit()
        await roles.grant(s, BAMBANG, "verifier", "pkom", granted_by="test")
        await roles.grant(s, DEWI, "approver", "izin-belajar", granted_by="test")
    for uid in UID.values():
        await r.api.user(uid).send("/start")  # Telegram delivers only to chats that wrote first
    return r


@pytest.fixture
async def r(running: Running) -> Running:
    return await setup(running)


async def form_state(r: Running, ident: str) -> str | None:
    uid = UID[ident]
    return await r.app.storage.get_state(StorageKey(bot_id=r.bot.id, chat_id=uid, user_id=uid))


def chat(r: Running, ident: str) -> ChatClient:
    return r.api.user(UID[ident])


def syarat(r: Running) -> list[str]:
    return [req.item for req in r.app.knowledge.kb.get("sop-62").requirements]


async def applications(r: Running) -> list[Application]:
    async with r.app.sessions() as s:
        return list((await s.execute(select(Application).order_by(Application.id))).scalars())


async def fill_study(c: ChatClient, *, jenjang: str = "S1") -> BotMessage:
    """From the menu to the first document prompt."""
    replies = await c.press(texts.MENU_IZIN_BELAJAR)
    assert "Langkah 1/5" in replies[-1].text
    await c.press(jenjang)
    await c.send("Administrasi Publik")
    await c.send("Universitas Terbuka, Bekasi")
    await c.press("A")
    replies = await c.send("Sabtu-Minggu 08.00-16.00")
    return replies[-1]


async def upload_all(c: ChatClient, labels: list[str], start: int = 0) -> BotMessage:
    replies: list[BotMessage] = []
    for i, label in enumerate(labels[start:], start):
        assert label in c.last_text
        if i % 2:
            replies = await c.send_photo(PNG + bytes([i]))
        else:
            replies = await c.send_document(PDF + bytes([i]), f"dok-{i}.pdf", "application/pdf")
        assert len(replies) == 1 and f"Diterima: {label}." in replies[0].text  # one message per upload
    return replies[-1]


def live(c: ChatClient, message: BotMessage) -> BotMessage:
    return next(m for m in c.messages if m.message_id == message.message_id)


async def request_message(c: ChatClient, number: str, since: int = 0) -> BotMessage:
    return await c.wait_for(lambda m: number in m.text and any(
        "apv:" in b.get("callback_data", "") for row in m.inline_keyboard or [] for b in row), since=since)


# ---- the whole way ----------------------------------------------------------------------------
async def test_from_first_message_to_the_letter(r: Running) -> None:
    ahmad, rina, bambang, dewi = chat(r, AHMAD), chat(r, RINA), chat(r, BAMBANG), chat(r, DEWI)
    labels = syarat(r)
    assert len(labels) >= 5

    # Eligibility first, then only the levels this person may take.
    replies = await ahmad.press(texts.MENU_IZIN_BELAJAR)
    prompt = replies[-1]
    assert "memenuhi syarat dasar" in prompt.text and "SMA" in prompt.text
    assert prompt.buttons[0] == ["D3", "D4", "S1"] and "S2" not in str(prompt.buttons)
    replies = await ahmad.press("S1")
    assert replies[-1].edited and "program studi" in replies[-1].text
    replies = await ahmad.press(t.BTN_BACK)  # back works: the level is asked again
    assert "Langkah 1/5" in replies[-1].text
    await ahmad.press("S1")
    replies = await ahmad.send("AP")
    assert "dengan lengkap" in replies[-1].text
    replies = await ahmad.send("Administrasi Publik")
    assert "perguruan tinggi" in replies[-1].text
    replies = await ahmad.send("Universitas Terbuka, Bekasi")
    assert {"A", "Baik Sekali", "Belum terakreditasi"} <= {b for row in replies[-1].buttons for b in row}
    replies = await ahmad.press("Belum terakreditasi")
    assert "belum terakreditasi" in replies[-1].text and "paling rendah B" in replies[-1].text
    replies = await ahmad.press("Baik Sekali")
    assert "Langkah 5/5" in replies[-1].text and "Senin-Kamis pukul 07.30-16.00" in replies[-1].text
    replies = await ahmad.send("Senin 13.00-17.00")
    assert "jam kerja" in replies[-1].text and "SE MenPANRB 04/2013" in replies[-1].text
    replies = await ahmad.send("kapan-kapan")
    assert "belum terbaca" in replies[-1].text
    replies = await ahmad.send("Sabtu-Minggu 08.00-16.00")
    first = replies[-1]
    assert f"Dokumen 1 dari {len(labels)}" in first.text and labels[0] in first.text
    assert first.text.count("⬜") == len(labels)

    # Documents: wrong type and oversized refused (the big one is not even downloaded), text too.
    replies = await ahmad.send_document(GIF, "permohonan.pdf", "application/pdf")
    assert "tidak diterima" in replies[-1].text and "harus berupa PDF atau foto" in replies[-1].text
    downloads = len(r.api.downloads)
    replies = await ahmad.send_document(PDF + b"0" * (5 * 1024 * 1024), "besar.pdf", "application/pdf")
    assert "paling besar 5 MB" in replies[-1].text and len(r.api.downloads) == downloads
    replies = await ahmad.send("sudah saya kirim lewat email")
    assert "Mohon kirim berkas" in replies[-1].text and labels[0] in replies[-1].text
    summary = await upload_all(ahmad, labels)
    assert "Ringkasan permohonan izin belajar" in summary.text
    assert f"Dokumen ({len(labels)}/{len(labels)})" in summary.text and "⬜" not in summary.text
    assert "Akreditasi: Baik Sekali" in summary.text and "Sabtu dan Minggu pukul 08.00-16.00" in summary.text
    assert summary.buttons == [[t.BTN_SEND], [t.BTN_EDIT, t.BTN_CANCEL]]

    # Ubah: change the programme, back to the summary.
    await ahmad.press(t.BTN_EDIT, message=summary)
    await ahmad.press("Program studi")
    replies = await ahmad.send("Ilmu Administrasi Negara")
    summary = replies[-1]
    assert "Program studi: Ilmu Administrasi Negara" in summary.text and t.BTN_SEND in str(summary.buttons)

    # A double tap on Kirim files one application.
    await asyncio.gather(ahmad.press(t.BTN_SEND, message=summary), ahmad.press(t.BTN_SEND, message=summary))
    apps = await applications(r)
    assert len(apps) == 1
    app = apps[0]
    assert app.type == "izin-belajar" and app.status == Status.PENDING and app.step == "atasan"
    assert app.data["documents"] == labels and len(app.data["files"]) == len(labels)
    assert app.data["program_studi"] == "Ilmu Administrasi Negara"
    assert "Terkirim" in live(ahmad, summary).text and app.number in live(ahmad, summary).text
    async with r.app.sessions() as s:
        stored = (await s.execute(select(ApplicationFile).where(
            ApplicationFile.application_id == app.id))).scalars().all()
    assert len(stored) == len(labels) and all(f.sha256 and f.telegram_file_id for f in stored)
    assert files.read(r.app.settings.data_dir / "files", stored[0].path) == PDF + bytes([0])
    await ahmad.wait_for(lambda m: app.number in m.text and "terkirim" in m.text)

    # Atasan recommends.
    await rina.press("Disetujui", message=await request_message(rina, app.number))
    # The verifier returns one document for revision with a note.
    msg = await request_message(bambang, app.number)
    assert "Ilmu Administrasi Negara" in msg.text and "Universitas Terbuka" in msg.text
    # Someone who is not a verifier cannot pass it on, whatever the button says.
    await rina._press_callback(rina.last_message, f"apv:{app.id}:{app.version + 1}:f", 10.0)
    async with r.app.sessions() as s:
        assert (await s.get(Application, app.id)).step == "verifikasi"
    await bambang.press("Dikembalikan untuk perbaikan", message=msg)
    await bambang.press("📄 " + labels[1][:48])
    await bambang.send("Scan buram, mohon unggah ulang")
    await bambang.press(ta.BTN_SEND_REVISION)
    await ahmad.wait_for(lambda m: "Scan buram" in m.text)

    # The applicant fixes exactly that and resubmits.
    await ahmad.send("/status")
    await ahmad.press(ta.status_button(app.number, "perlu perbaikan"))
    await ahmad.press(ta.BTN_FIX)
    await ahmad.send_document(PDF + b"jelas", "sk-pangkat.pdf", "application/pdf")
    await ahmad.press(ta.BTN_SEND_FIX)

    # Passed on by the verifier, decided by the official: the PDF reaches the applicant.
    since = len(bambang.messages)
    await bambang.wait_for(lambda m: "Perbaikan" in m.text and app.number in m.text, since=0)
    await bambang.press("Diteruskan", message=await request_message(bambang, app.number, since=since - 1))
    await dewi.press("Disetujui", message=await request_message(dewi, app.number))
    letter_msg = await ahmad.wait_for(lambda m: m.kind == "document" and app.number in (m.document or {}).get(
        "file_name", ""), timeout=20)
    text = " ".join(p.extract_text() for p in PdfReader(BytesIO(letter_msg.document["content"])).pages)
    for expected in ("SURAT IZIN BELAJAR", app.number, "Ahmad Fauzi", "Ilmu Administrasi Negara",
                     "Universitas Terbuka, Bekasi", "Baik Sekali", "Sabtu dan Minggu pukul 08.00-16.00",
                     "Dewi Lestari"):
        assert expected in text, expected
    async with r.app.sessions() as s:
        final = await s.get(Application, app.id)
        assert final.status == Status.APPROVED
        assert (await s.execute(select(Letter).where(Letter.application_id == app.id))).scalar_one()


# ---- who may not apply --------------------------------------------------------------------------
@pytest.mark.parametrize(("ident", "change", "says"), [
    (FITRI, {}, "PPPK"),
    (JOKO, {}, "diberikan kepada PNS"),
    (SITI, {"status": "CPNS"}, "setelah diangkat sebagai PNS"),
    (AISYAH, {"tmt_pns": date(2026, 6, 1)}, "paling cepat 1 tahun setelah diangkat sebagai PNS"),
])
async def test_ineligible_applicants_are_told_why_before_the_form(r: Running, ident, change, says) -> None:
    if change:
        async with r.app.sessions() as s:
            await s.execute(update(Employee).where(Employee.nip == ident).values(**change))
            await s.commit()
    c = chat(r, ident)
    replies = await c.send("/izinbelajar")
    assert "belum dapat" in replies[-1].text and says in replies[-1].text
    assert not replies[-1].inline_keyboard, "no form is offered"
    assert await form_state(r, ident) is None  # nothing is waiting for an answer
    assert await applications(r) == []


async def test_unlinked_user_is_asked_to_link_first(r: Running) -> None:
    replies = await r.api.user(899).send("/izinbelajar")
    assert "belum ditautkan" in replies[-1].text


async def test_one_open_request_at_a_time_and_cancel(r: Running) -> None:
    ahmad = chat(r, AHMAD)
    await fill_study(ahmad)
    replies = await ahmad.press(t.BTN_CANCEL)
    assert t.cancelled() in replies[-1].text
    assert await form_state(r, AHMAD) is None  # the form is gone
    await fill_study(ahmad)
    summary = await upload_all(ahmad, syarat(r))
    await ahmad.press(t.BTN_SEND, message=summary)
    number = (await applications(r))[0].number
    replies = await ahmad.send("/izinbelajar")
    assert number in replies[-1].text and "sedang diproses" in replies[-1].text


async def test_the_form_is_reached_from_a_question(r: Running) -> None:
    ahmad = chat(r, AHMAD)
    replies = await ahmad.send("syarat izin belajar apa aja min")
    card = replies[-1]
    assert "Izin Belajar" in card.text
    replies = await ahmad.press("🎓 Ajukan izin belajar", message=card)
    assert "Langkah 1/5" in replies[-1].text


# ---- the checklist is the SOP 62 entry ----------------------------------------------------------
def _add_requirement(path: Path, item: str) -> None:
    text = path.read_text(encoding="utf-8")
    block = f"  - item: {item}\n    copies: null\n    legalized: null\n    note: null\n"
    path.write_text(re.sub(r"(?m)^steps:\n", lambda m: block + m.group(0), text, count=1), encoding="utf-8")


async def test_checklist_follows_the_sop_62_entry_and_the_draft_survives_a_restart(
        db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries)
    victim = next(entries.glob("sop-62-*.yaml"))
    original = "Surat permohonan izin belajar dari pegawai"
    edited = "Surat permohonan izin belajar yang ditandatangani pegawai"
    victim.write_text(victim.read_text(encoding="utf-8").replace(original, edited), encoding="utf-8")
    settings = make_settings(db_url, tmp_path, kb_dir=entries)
    r = await setup_with_people(await start_bot(settings, api))
    try:
        labels = syarat(r)
        assert labels[0] == edited
        ahmad = chat(r, AHMAD)
        first = await fill_study(ahmad)
        assert edited in first.text and original not in first.text
        await ahmad.send_document(PDF, "permohonan.pdf", "application/pdf")
    finally:
        await r.stop()

    # A restart (a new process on the same database): the draft and its upload are still there.
    r = await start_bot(settings, api)
    r.app.dispatcher["now_fn"] = lambda: NOW
    try:
        ahmad = chat(r, AHMAD)
        replies = await ahmad.send("/izinbelajar")  # coming back through the menu offers to go on
        assert replies[-1].text == t.resume_or_restart()
        replies = await ahmad.press(t.BTN_RESUME)
        assert f"Dokumen 2 dari {len(labels)}" in replies[-1].text and replies[-1].edited
        replies = await ahmad.send_document(PDF + b"2", "sk.pdf", "application/pdf")
        assert f"Dokumen 3 dari {len(labels)}" in replies[-1].text
        assert f"Masih kurang ({len(labels) - 2} dari {len(labels)})" in replies[-1].text
        assert labels[0] not in replies[-1].text and labels[2] in replies[-1].text

        # BKPSDM adds a requirement while the form is open: sending asks for it first.
        added = "Surat rekomendasi tambahan dari kepala OPD"
        _add_requirement(victim, added)
        assert not [p for p in r.app.knowledge.reload() if p.is_error]
        summary = await upload_all(ahmad, labels, start=2)
        assert added not in summary.text
        replies = await ahmad.press(t.BTN_SEND, message=summary)
        assert any("baru saja diperbarui" in m.text for m in replies)
        assert added in replies[-1].text and await applications(r) == []
        replies = await ahmad.send_document(PDF + b"rekomendasi", "rekomendasi.pdf", "application/pdf")
        await ahmad.press(t.BTN_SEND, message=replies[-1])
        apps = await applications(r)
        assert len(apps) == 1 and apps[0].data["documents"] == [*labels, added]
        assert apps[0].data["documents"][0] == edited
    finally:
        await r.stop()


async def setup_with_people(r: Running) -> Running:
    report = await import_pegawai(r.app.sessions, SAMPLE_CSV, verification_key=r.app.settings.verification_secret)
    assert report.applied
    return await setup(r)
