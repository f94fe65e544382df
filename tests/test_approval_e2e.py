"""The approval chain from the phones of everyone involved: the real dispatcher polling the fake
Bot API over HTTP, the outbox worker delivering what the engine writes. Applications are filed
with the engine directly (the cuti form has its own tests); everything after that is pressed."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from bot.local_api import BotMessage, ChatClient
from handlers import texts
from handlers import texts_approval as t
from services import files, outbox, roles
from services.applications import engine, uploads
from services.applications.engine import Context, Status
from services.models import (
    Application,
    ApplicationEvent,
    ApplicationFile,
    AuditLog,
    Delegation,
    Employee,
    Letter,
    OutboxMessage,
    TelegramAccount,
)
from tests.conftest import SAMPLE_CSV
from tests.harness import Running
from tests.test_cli import cli_env

AHMAD = "199001092014121001"  # pelaksana; atasan Rina, kepala OPD Hendra
RINA = "198207212006012001"  # Kepala Sub Bagian Tata Usaha
SRI = "197503141999032001"  # Sekretaris
HENDRA = "197010051991101001"  # Kepala Badan
DEWI = "198811302011022001"
BAMBANG = "198506172019031001"
SITI = "199508112020032001"  # Perawat at a puskesmas: another chain altogether
UID = {AHMAD: 701, RINA: 702, HENDRA: 703, SRI: 704, DEWI: 705, BAMBANG: 706, SITI: 707}
STRANGER = 799  # never linked
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)  # Monday 5 January 2026, 10:00 WIB
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


# ---- setup --------------------------------------------------------------------------------------
@pytest.fixture
async def r(running: Running) -> Running:
    """The running bot with the clock pinned, seven employees linked and their chats opened."""
    running.app.dispatcher["now_fn"] = lambda: NOW
    async with running.app.sessions() as s:
        for nip, uid in UID.items():
            emp = (await s.execute(select(Employee).where(Employee.nip == nip))).scalar_one()
            s.add(TelegramAccount(telegram_user_id=uid, chat_id=uid, employee_id=emp.id))
        await s.commit()
    for uid in [*UID.values(), STRANGER]:
        await running.api.user(uid).send("/start")  # Telegram delivers only to chats that wrote first
    return running


def ctx_of(r: Running) -> Context:
    s = r.app.settings
    return Context(data_dir=s.data_dir, agency_dir=s.agency_dir, zone=s.zone, now_fn=lambda: NOW)


def chat(r: Running, nip: str) -> ChatClient:
    return r.api.user(UID[nip])


async def emp_id(r: Running, nip: str) -> int:
    async with r.app.sessions() as s:
        return (await s.execute(select(Employee.id).where(Employee.nip == nip))).scalar_one()


async def submit_cuti(r: Running, nip: str = AHMAD, key: str = "k1", **kw) -> Application:
    data = {"kind": "tahunan", "start": "2026-01-12", "end": "2026-01-14", "alasan": "Keperluan keluarga",
            "alamat": "Jl. Melati 1, Bekasi", "telepon": "081234567890", **kw}
    async with r.app.sessions() as s:
        app = (await engine.submit(s, ctx_of(r), await emp_id(r, nip), "cuti", data, submit_key=key)).application
    await outbox_drained(r)
    return app


async def outbox_drained(r: Running, timeout: float = 15.0) -> None:
    """Wait until the notices of what just happened have been delivered, so that they do not
    arrive in the middle of the test's next exchange (on a busy machine they come late)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with r.app.sessions() as s:
            waiting = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                     .where(OutboxMessage.status == outbox.PENDING))
        if not waiting:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{waiting} outbox message(s) not delivered"
        await asyncio.sleep(0.05)


async def fresh(r: Running, app_id: int) -> Application:
    async with r.app.sessions() as s:
        return await s.get(Application, app_id)


async def events(r: Running, app_id: int) -> list[ApplicationEvent]:
    async with r.app.sessions() as s:
        return await engine.history(s, app_id)


async def request_message(c: ChatClient, number: str) -> BotMessage:
    """The request as the outbox delivered it, with the approver's buttons."""
    return await c.wait_for(lambda m: number in m.text and any("apv:" in b.get("callback_data", "")
                                                                for row in m.inline_keyboard or [] for b in row))


def live(c: ChatClient, message: BotMessage) -> BotMessage:
    return next(m for m in c.messages if m.message_id == message.message_id)


def alerts(c: ChatClient) -> list[str]:
    return [a.get("text") or "" for a in c.callback_answers if a.get("show_alert")]


async def approve(r: Running, nip: str, number: str) -> BotMessage:
    c = chat(r, nip)
    msg = await request_message(c, number)
    await c.press("Disetujui", message=msg)
    return live(c, msg)


# ---- the whole chain ----------------------------------------------------------------------------
async def test_atasan_and_pejabat_act_from_their_chats_and_the_applicant_gets_every_step_and_the_pdf(r) -> None:
    app = await submit_cuti(r)
    ahmad, rina, hendra = chat(r, AHMAD), chat(r, RINA), chat(r, HENDRA)
    await ahmad.wait_for(lambda m: app.number in m.text and "terkirim" in m.text)

    rina_msg = await request_message(rina, app.number)
    assert "Ahmad Fauzi" in rina_msg.text and "12 Januari 2026" in rina_msg.text
    await rina.press("Disetujui", message=rina_msg)
    done = live(rina, rina_msg)
    assert done.inline_keyboard is None, "the buttons are gone once the action is recorded"
    assert "Disetujui oleh Anda" in done.text and "keputusan pejabat yang berwenang (Drs. Hendra Gunawan" in done.text
    await ahmad.wait_for(lambda m: "Disetujui" in m.text and "Rina Marlina" in m.text)

    hendra_msg = await request_message(hendra, app.number)
    assert "Pertimbangan atasan langsung: Disetujui" in hendra_msg.text
    await hendra.press("Disetujui", message=hendra_msg)
    assert "Status akhir: disetujui" in live(hendra, hendra_msg).text
    await ahmad.wait_for(lambda m: "Status akhir: disetujui" in m.text)
    letter_msg = await ahmad.wait_for(lambda m: m.kind == "document")
    pdf = letter_msg.document["content"]
    assert pdf.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)
    assert "Ahmad Fauzi" in text and app.number in text

    a = await fresh(r, app.id)
    assert a.status == Status.APPROVED
    history = await events(r, app.id)
    assert [(e.action, e.actor_id) for e in history] == [
        ("ajukan", await emp_id(r, AHMAD)), ("setuju", await emp_id(r, RINA)), ("setuju", await emp_id(r, HENDRA))]

    # Later: Status pengajuan shows it, with the history, and gives the letter again.
    await ahmad.press(texts.MENU_STATUS)
    assert app.number in ahmad.last_text or any(app.number in b for row in ahmad.buttons() for b in row)
    await ahmad.press(t.status_button(app.number, "disetujui"))
    detail = ahmad.last_message
    assert "Riwayat" in detail.text and "oleh Rina Marlina" in detail.text and "oleh Drs. Hendra Gunawan" in detail.text
    assert t.BTN_WITHDRAW not in str(detail.buttons), "a decided request cannot be withdrawn"
    before = len(ahmad.messages)
    await ahmad.press(t.BTN_DOWNLOAD)
    again = [m for m in ahmad.messages[before:] if m.kind == "document"]
    assert len(again) == 1 and again[0].document["content"] == pdf

    # Anyone holding the paper checks it: by command, by the QR's deep link; garbage is told politely.
    async with r.app.sessions() as s:
        code = (await s.execute(select(Letter.code).where(Letter.application_id == app.id))).scalar_one()
    assert code in letter_msg.text
    stranger = r.api.user(STRANGER)
    reply = (await stranger.send(f"/verifikasi {code.lower()}"))[-1].text
    assert "ASLI dan BERLAKU" in reply and app.number in reply and "Ahmad Fauzi" in reply
    assert "1990" in reply and AHMAD not in reply, "the NIP is shown masked"
    assert "12 Jan 2026 s.d. 14 Jan 2026" in reply
    reply = (await stranger.send(f"/start v-{code.replace('-', '')}"))[-1].text
    assert "ASLI dan BERLAKU" in reply and app.number in reply
    reply = (await stranger.send("/verifikasi ZZZZ-ZZZZ-ZZ"))[-1].text
    assert "tidak ditemukan" in reply and "BKPSDM" in reply
    reply = (await stranger.send("/verifikasi"))[-1].text
    assert "/verifikasi KODE" in reply


async def test_perubahan_with_new_dates_picked_on_the_calendar_and_typed(r) -> None:
    app = await submit_cuti(r)
    rina = chat(r, RINA)
    msg = await request_message(rina, app.number)
    await rina.press("Perubahan", message=msg)
    assert "tanggal mulai" in rina.last_text
    await rina.press("13")  # the calendar opens on the requested month, January 2026
    assert "tanggal selesai" in rina.last_text
    await rina.send("15/1")
    assert "13 Jan 2026 s.d. 15 Jan 2026" in rina.last_text
    await rina.send("Tanggal 12 ada rapat kerja")
    assert "Perubahan" in rina.last_text and "tercatat" in rina.last_text
    assert live(rina, msg).inline_keyboard is None

    a = await fresh(r, app.id)
    assert (a.data["start"], a.data["end"], a.data["working_days"]) == ("2026-01-13", "2026-01-15", 3)
    assert a.step == "pejabat" and a.status == Status.PENDING
    ev = (await events(r, app.id))[-1]
    assert ev.action == "ubah" and ev.comment == "Tanggal 12 ada rapat kerja"
    assert ev.data["before"] == {"start": "2026-01-12", "end": "2026-01-14"}
    await chat(r, AHMAD).wait_for(lambda m: "Perubahan" in m.text and "13 Januari 2026" in m.text
                                  and "rapat kerja" in m.text)
    # Hendra sees the changed dates when it is his turn.
    hendra_msg = await request_message(chat(r, HENDRA), app.number)
    assert "13 Januari 2026 s.d. 15 Januari 2026" in hendra_msg.text


async def test_perubahan_refused_by_the_rules_asks_again_and_can_be_cancelled(r) -> None:
    app = await submit_cuti(r)
    app2 = await submit_cuti(r, key="k2", start="2026-01-19", end="2026-01-20")
    rina = chat(r, RINA)
    msg = await request_message(rina, app.number)
    await request_message(rina, app2.number)  # both delivered: nothing arrives in between below
    await rina.press("Perubahan", message=msg)
    await rina.send("19-21 Januari")  # overlaps Ahmad's other request: the cuti rules refuse it
    replies = [m.text for m in await rina.press(t.BTN_SKIP)]
    assert "bertumpang tindih" in replies[-2] and "tanggal mulai" in replies[-1]
    assert (await fresh(r, app.id)).version == 1
    await rina.press(t.BTN_CANCEL)
    assert "belum diproses" in rina.last_text
    await rina.send("Ini bukan alasan")  # no longer in the follow-up: nothing is recorded
    assert (await fresh(r, app.id)).version == 1 and live(rina, msg).inline_keyboard


async def test_ditangguhkan_with_reason_and_until(r) -> None:
    app = await submit_cuti(r)
    await approve(r, RINA, app.number)
    hendra = chat(r, HENDRA)
    msg = await request_message(hendra, app.number)
    await hendra.press("Ditangguhkan", message=msg)
    assert "alasan" in hendra.last_text
    await hendra.send("Kebutuhan dinas mendesak: pemeriksaan BPK")
    assert "sampai kapan" in hendra.last_text
    await hendra.send("31/1/2028")  # beyond a year
    assert "harus antara" in hendra.last_text
    await hendra.send("30 Juni 2026")
    assert "tercatat" in hendra.last_text
    done = live(hendra, msg)
    assert done.inline_keyboard is None and "Status akhir: ditangguhkan" in done.text

    a = await fresh(r, app.id)
    assert a.status == Status.DEFERRED and a.data["tangguh_sampai"] == "2026-06-30"
    ev = (await events(r, app.id))[-1]
    assert ev.comment == "Kebutuhan dinas mendesak: pemeriksaan BPK" and ev.data["until"] == "2026-06-30"
    await chat(r, AHMAD).wait_for(lambda m: "Ditangguhkan" in m.text and "pemeriksaan BPK" in m.text)


async def test_tidak_disetujui_with_reason(r) -> None:
    app = await submit_cuti(r)
    await approve(r, RINA, app.number)
    hendra = chat(r, HENDRA)
    await hendra.press("Tidak disetujui", message=await request_message(hendra, app.number))
    await hendra.send("/status")  # a command leaves the reason unwritten: nothing is decided
    assert (await fresh(r, app.id)).status == Status.PENDING
    await hendra.press("Tidak disetujui", message=await request_message(hendra, app.number))
    await hendra.send("Beban kerja akhir tahun anggaran")
    a = await fresh(r, app.id)
    assert a.status == Status.REJECTED
    assert (await events(r, app.id))[-1].comment == "Beban kerja akhir tahun anggaran"
    await chat(r, AHMAD).wait_for(lambda m: "Tidak disetujui" in m.text and "Beban kerja" in m.text
                                  and "Status akhir: tidak disetujui" in m.text)
    async with r.app.sessions() as s:
        assert (await s.execute(select(Letter))).first() is None


# ---- refusals -----------------------------------------------------------------------------------
async def test_forged_stale_repeated_and_unauthorised_presses_change_nothing(r) -> None:
    app = await submit_cuti(r)
    other = await submit_cuti(r, nip=SITI, key="siti")
    rina, hendra, bambang = chat(r, RINA), chat(r, HENDRA), chat(r, BAMBANG)
    msg = await request_message(rina, app.number)
    anywhere = bambang.last_message

    await bambang._press_callback(anywhere, f"apv:{app.id}:1:s", 10.0)  # not on the route at all
    assert "tidak berwenang" in alerts(bambang)[-1]
    await hendra._press_callback(hendra.last_message, f"apv:{app.id}:1:s", 10.0)  # not his step yet
    assert "tidak berwenang" in alerts(hendra)[-1]
    await rina._press_callback(msg, f"apv:{other.id}:1:s", 10.0)  # another application's id
    assert "tidak berwenang" in alerts(rina)[-1]
    await rina._press_callback(msg, "apv:99999:1:s", 10.0)
    assert "tidak ditemukan" in alerts(rina)[-1]
    await rina._press_callback(msg, f"apv:{app.id}:1:z", 10.0)
    assert "tidak dikenal" in alerts(rina)[-1]
    await rina._press_callback(msg, f"apv:{app.id}:1:r", 10.0)  # revisi is not a cuti option
    assert "tidak tersedia" in alerts(rina)[-1]
    stranger = r.api.user(STRANGER)
    await stranger._press_callback(stranger.last_message, f"apv:{app.id}:1:s", 10.0)
    assert "belum tertaut" in alerts(stranger)[-1]
    await bambang._press_callback(anywhere, f"apd:{app.id}", 10.0)  # details: only people on the route
    assert "tidak berhak" in alerts(bambang)[-1]
    await bambang._press_callback(anywhere, f"pg:y:{app.id}", 10.0)  # withdraw someone else's request
    assert "tidak ditemukan" in alerts(bambang)[-1]
    assert (await fresh(r, app.id)).version == 1 and (await fresh(r, other.id)).version == 1
    assert len(await events(r, app.id)) == 1

    await rina.press("Disetujui", message=msg)
    await rina._press_callback(msg, f"apv:{app.id}:1:x", 10.0)  # the same (old) message pressed again
    assert "sudah tidak berlaku" in alerts(rina)[-1]
    await hendra._press_callback(hendra.last_message, f"apv:{app.id}:1:s", 10.0)  # stale version
    assert "sudah tidak berlaku" in alerts(hendra)[-1]
    a = await fresh(r, app.id)
    assert a.version == 2 and a.step == "pejabat"
    assert [e.action for e in await events(r, app.id)] == ["ajukan", "setuju"]


async def test_two_approvers_pressing_at_once_one_wins_the_other_is_told(r) -> None:
    async with r.app.sessions() as s:
        s.add(Delegation(principal_id=await emp_id(r, RINA), acting_id=await emp_id(r, SRI), kind="Plh",
                         starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 31), created_by="test"))
        await s.commit()
    app = await submit_cuti(r)
    rina, sri = chat(r, RINA), chat(r, SRI)
    rina_msg, sri_msg = await request_message(rina, app.number), await request_message(sri, app.number)
    await asyncio.gather(rina.press("Disetujui", message=rina_msg), sri.press("Disetujui", message=sri_msg))
    won = [c for c, m in ((rina, rina_msg), (sri, sri_msg)) if "Disetujui oleh Anda" in live(c, m).text]
    told = [c for c in (rina, sri) if any("tidak berlaku" in a or "oleh orang lain" in a for a in alerts(c))]
    assert len(won) == 1 and len(told) == 1 and won != told
    assert live(told[0], sri_msg if told[0] is sri else rina_msg).inline_keyboard is None
    assert [e.action for e in await events(r, app.id)] == ["ajukan", "setuju"]


async def test_the_approver_who_was_still_typing_a_reason_is_told_and_nothing_changes(r) -> None:
    async with r.app.sessions() as s:
        s.add(Delegation(principal_id=await emp_id(r, RINA), acting_id=await emp_id(r, SRI), kind="Plh",
                         starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 31), created_by="test"))
        await s.commit()
    app = await submit_cuti(r)
    rina, sri = chat(r, RINA), chat(r, SRI)
    sri_msg = await request_message(sri, app.number)
    await sri.press("Tidak disetujui", message=sri_msg)
    assert "alasannya" in sri.last_text
    await rina.press("Disetujui", message=await request_message(rina, app.number))
    replies = [m.text for m in await sri.send("Sedang banyak pekerjaan")]
    assert any("sudah tidak berlaku" in x for x in replies)
    assert live(sri, sri_msg).inline_keyboard is None
    assert [e.action for e in await events(r, app.id)] == ["ajukan", "setuju"]
    assert (await fresh(r, app.id)).data["considerations"]["atasan"]["action"] == "setuju"


# ---- Status pengajuan ---------------------------------------------------------------------------
async def test_withdraw_from_status_pengajuan(r) -> None:
    app = await submit_cuti(r)
    ahmad, rina = chat(r, AHMAD), chat(r, RINA)
    rina_msg = await request_message(rina, app.number)
    listing = (await ahmad.send("/status"))[-1].text
    assert f"{app.number} Cuti 12 Jan 2026 s.d. 14 Jan 2026: dalam proses - pertimbangan atasan langsung" in listing
    await ahmad.press(t.status_button(app.number, "dalam proses"))
    assert "menunggu pertimbangan atasan langsung (Rina Marlina, S.Sos.)" in ahmad.last_text
    await ahmad.press(t.BTN_WITHDRAW)
    assert "Batalkan permohonan" in ahmad.last_text
    await ahmad.press(t.BTN_WITHDRAW_NO)
    assert (await fresh(r, app.id)).status == Status.PENDING
    await ahmad.press(t.BTN_WITHDRAW)
    detail = next(m for m in await ahmad.press(t.BTN_WITHDRAW_YES) if m.edited)
    assert "Status: dibatalkan" in detail.text and t.BTN_WITHDRAW not in str(detail.buttons)
    assert (await fresh(r, app.id)).status == Status.WITHDRAWN
    await ahmad.wait_for(lambda m: "telah Anda batalkan" in m.text)
    await rina.wait_for(lambda m: "dibatalkan oleh pemohon" in m.text)
    await rina.press("Disetujui", message=rina_msg)
    assert "dibatalkan" in alerts(rina)[-1]
    assert [e.action for e in await events(r, app.id)] == ["ajukan", "batal"]


async def test_status_for_someone_with_nothing_and_for_the_unlinked(r) -> None:
    assert t.status_empty() in (await chat(r, DEWI).press(texts.MENU_STATUS))[-1].text
    assert "belum ditautkan" in (await r.api.user(STRANGER).send("/status"))[-1].text


# ---- stand-ins and the queue --------------------------------------------------------------------
async def test_plh_set_by_command_acts_and_the_history_says_for_whom(r) -> None:
    app = await submit_cuti(r)  # filed before the stand-in exists: Sri finds it in /antrian
    async with r.app.sessions() as s:
        await roles.grant(s, BAMBANG, "admin", "", granted_by="test")
    cmd = f"/plh {RINA} {SRI} 01-01-2026 31-01-2026 Plh"
    assert "tidak dikenal" in (await chat(r, AHMAD).send(cmd))[-1].text
    sri = chat(r, SRI)
    assert t.queue_empty() in (await sri.send("/antrian"))[-1].text
    reply = (await chat(r, BAMBANG).send(cmd))[-1].text
    assert "Penugasan nomor" in reply and "Sri Wahyuni" in reply
    assert "sudah ada" in (await chat(r, BAMBANG).send(cmd))[-1].text
    await sri.wait_for(lambda m: "Plh. Kepala Sub Bagian Tata Usaha" in m.text and "/antrian" in m.text)
    async with r.app.sessions() as s:
        assert (await s.execute(select(AuditLog).where(AuditLog.action == "delegation_added"))).scalar_one()
    assert "Sri Wahyuni" in (await chat(r, BAMBANG).send("/plh daftar"))[-1].text

    replies = await sri.send("/antrian")
    assert "menunggu tindakan Anda: <b>1" in replies[0].html or "menunggu tindakan Anda: 1" in replies[0].text
    queued = replies[-1]
    assert app.number in queued.text and "atas nama Rina Marlina" in queued.text
    await sri.press("Disetujui", message=queued)
    assert "oleh Anda selaku Plh. Kepala Sub Bagian Tata Usaha" in live(sri, queued).text

    ev = (await events(r, app.id))[-1]
    assert ev.actor_id == await emp_id(r, SRI) and ev.on_behalf_of_id == await emp_id(r, RINA)
    ahmad = chat(r, AHMAD)
    await ahmad.wait_for(lambda m: "oleh Sri Wahyuni, S.E., M.M. selaku Plh. Kepala Sub Bagian Tata Usaha" in m.text)
    await ahmad.send("/status")
    await ahmad.press(t.status_button(app.number, "dalam proses"))
    assert "oleh Sri Wahyuni" in ahmad.last_text
    assert "Plh. Kepala Sub Bagian Tata Usaha atas nama Rina Marlina" in ahmad.last_text

    # Hendra's queue now holds it; Ahmad, an applicant, has nothing to act on.
    assert app.number in (await chat(r, HENDRA).send("/antrian"))[-1].text
    assert t.queue_empty() in (await ahmad.send("/antrian"))[-1].text

    # Revoked: the stand-in's power ends.
    async with r.app.sessions() as s:
        d_id = (await s.execute(select(Delegation.id))).scalar_one()
    assert "dicabut" in (await chat(r, BAMBANG).send(f"/plh cabut {d_id}"))[-1].text
    app2 = await submit_cuti(r, key="k2", start="2026-01-19", end="2026-01-20")
    await sri._press_callback(sri.last_message, f"apv:{app2.id}:1:s", 10.0)
    assert "tidak berwenang" in alerts(sri)[-1]


async def test_plh_command_refuses_bad_input(r) -> None:
    async with r.app.sessions() as s:
        await roles.grant(s, BAMBANG, "admin", "", granted_by="test")
    bambang = chat(r, BAMBANG)
    assert "Pemakaian" in (await bambang.send("/plh"))[-1].text
    assert "tidak dikenali" in (await bambang.send(f"/plh {RINA} {SRI} 99-99-2026 31-01-2026"))[-1].text
    assert "sebelum tanggal mulai" in (await bambang.send(f"/plh {RINA} {SRI} 31-01-2026 01-01-2026"))[-1].text
    assert "orang yang sama" in (await bambang.send(f"/plh {RINA} {RINA} 01-01-2026 31-01-2026"))[-1].text
    assert "Tidak ada pegawai" in (await bambang.send(f"/plh 123 {SRI} 01-01-2026 31-01-2026"))[-1].text
    assert "Plt atau Plh" in (await bambang.send(f"/plh {RINA} {SRI} 01-01-2026 31-01-2026 Pjs"))[-1].text
    async with r.app.sessions() as s:
        assert (await s.execute(select(Delegation))).first() is None


def test_plh_from_the_command_line(db_url: str, tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    # In-process (bot.cli.main, as the console script calls it): a fresh interpreter per command
    # would spend most of the test importing aiogram.
    from bot.cli import main

    for key, value in cli_env(db_url, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no developer .env

    def asnbot(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    assert asnbot("import-pegawai", str(SAMPLE_CSV))[0] == 0
    start, end = date.today() + timedelta(days=1), date.today() + timedelta(days=10)
    code, out, err = asnbot("plh", "add", "--pejabat", HENDRA, "--pelaksana", SRI, "--mulai", start.isoformat(),
                            "--selesai", end.isoformat(), "--jenis", "Plt")
    assert code == 0, err
    assert "Penugasan nomor 1" in out
    code, out, _ = asnbot("plh", "list")
    assert code == 0 and "Plt" in out and "Sri Wahyuni" in out and "Hendra" in out
    code, _, err = asnbot("plh", "add", "--pejabat", HENDRA, "--pelaksana", "199999999999999999", "--mulai",
                          start.isoformat(), "--selesai", end.isoformat())
    assert code == 1 and "Tidak ada pegawai" in err
    assert asnbot("plh", "add", "--pejabat", HENDRA)[0] == 2
    code, out, _ = asnbot("plh", "revoke", "1")
    assert code == 0 and "dicabut" in out
    assert "Tidak ada penugasan" in asnbot("plh", "list")[1]
    assert "dicabut" in asnbot("plh", "list", "--semua")[1]
    code, _, err = asnbot("plh", "revoke", "1")
    assert code == 1 and "sudah dicabut" in err


# ---- return for revision (izin belajar) ---------------------------------------------------------
async def submit_izin_belajar(r: Running) -> tuple[Application, list[tuple[str, str]]]:
    from services.applications import izin_belajar as ib

    ctx = ctx_of(r)
    documents = ["Surat permohonan izin belajar dari pegawai", "Fotokopi SK pangkat terakhir",
                 "Surat keterangan diterima/terdaftar dari perguruan tinggi dan bukti akreditasi program studi"]
    keys = ib.document_keys(documents)
    ahmad = await emp_id(r, AHMAD)
    data = {"jenjang": "S1", "program_studi": "Administrasi Publik", "perguruan_tinggi": "Universitas Terbuka",
            "akreditasi": "A", "jadwal": [{"days": [6], "start": "08:00", "end": "16:00"}],
            "documents": documents, "files": {}}
    async with r.app.sessions() as s:
        for key, label in keys:
            blob = files.store(PDF + key.encode(), root=ctx.data_dir / "files", claimed_name=f"{key}.pdf")
            row = await uploads.record_upload(s, employee_id=ahmad, doc_key=key, label=label, blob=blob,
                                              file_name=f"{key}.pdf", telegram_file_id=None)
            data["files"][key] = row.id
        sub = await engine.submit(s, ctx, ahmad, "izin-belajar", data, submit_key="ib1")
        await uploads.attach_files(s, sub.application, data["files"].values())
        await roles.grant(s, BAMBANG, "verifier", "pkom", granted_by="test")
    return sub.application, keys


async def test_verifier_returns_for_revision_and_the_applicant_fixes_exactly_that(r) -> None:
    app, keys = await submit_izin_belajar(r)
    await approve(r, RINA, app.number)
    bambang, ahmad = chat(r, BAMBANG), chat(r, AHMAD)
    msg = await request_message(bambang, app.number)

    # The verifier opens the attachments first: the stored files themselves.
    before = len(bambang.messages)
    await bambang.press("Lihat lampiran & riwayat", message=msg)
    sent = [m for m in bambang.messages[before:] if m.kind == "document"]
    assert len(sent) == 3 and all(m.document["content"].startswith(b"%PDF") for m in sent)

    await bambang.press("Dikembalikan untuk perbaikan", message=msg)
    assert "Pilih dokumen" in bambang.last_text
    assert t.BTN_SEND_REVISION not in str(bambang.buttons()), "nothing to return without a note"
    key, label = keys[1]
    await bambang.press(f"📄 {label}")
    await bambang.send("Scan buram, mohon unggah ulang")
    assert "Scan buram" in bambang.last_text
    await bambang.press(t.BTN_SEND_REVISION)
    assert "tercatat" in bambang.last_text
    a = await fresh(r, app.id)
    assert a.status == Status.REVISION and a.data["revisi"] == {key: "Scan buram, mohon unggah ulang"}
    await ahmad.wait_for(lambda m: "Scan buram" in m.text and "Status pengajuan" in m.text)

    await ahmad.send("/status")
    await ahmad.press(t.status_button(app.number, "perlu perbaikan"))
    assert f"{label}: Scan buram" in ahmad.last_text
    await ahmad.press(t.BTN_FIX)
    assert label in ahmad.last_text and "(1/1)" in ahmad.last_text
    await ahmad.send_document(b"GIF89a not a scan", "sk.pdf", "application/pdf")
    assert "harus berupa" in ahmad.last_text
    await ahmad.send_document(PDF + b"0" * files.DEFAULT_MAX_BYTES, "besar.pdf", "application/pdf")
    assert "paling besar 5 MB" in ahmad.last_text
    await ahmad.send_document(PDF + b"jelas", "sk-pangkat.pdf", "application/pdf")
    assert "siap dikirim" in ahmad.last_text
    await ahmad.press(t.BTN_SEND_FIX)

    a = await fresh(r, app.id)
    assert a.status == Status.PENDING and a.step == "verifikasi" and "revisi" not in a.data
    async with r.app.sessions() as s:
        new = await s.get(ApplicationFile, a.data["files"][key])
        old = await s.get(ApplicationFile, app.data["files"][key])
        assert new.id != old.id and old.superseded and not new.superseded and new.application_id == app.id
        assert files.read(r.app.settings.data_dir / "files", new.path) == PDF + b"jelas"
        others = [a.data["files"][k] == app.data["files"][k] for k, _ in keys if k != key]
        assert all(others), "only the returned document was replaced"
    await bambang.wait_for(lambda m: "Perbaikan" in m.text and app.number in m.text and m.inline_keyboard)
    assert [e.action for e in await events(r, app.id)] == ["ajukan", "setuju", "revisi", "perbaiki"]


# ---- every kind of leave through both steps to the letter ----------------------------------------
KIND_CASES = [
    # kind, applicant, atasan, pejabat, dates, extra data, documents to attach
    ("tahunan", AHMAD, RINA, HENDRA, ("2026-01-12", "2026-01-14"), {}, []),
    ("besar", AHMAD, RINA, HENDRA, ("2026-02-02", "2026-03-31"), {}, []),
    ("sakit", AHMAD, RINA, HENDRA, ("2026-01-06", "2026-01-07"), {}, ["dokumen-surat-dokter"]),
    ("melahirkan", RINA, SRI, HENDRA, ("2026-02-02", "2026-04-30"), {"birth_order": 1}, ["dokumen-surat-dokter"]),
    ("alasan-penting", AHMAD, RINA, HENDRA, ("2026-01-19", "2026-01-21"), {}, ["dokumen-bukti-alasan"]),
    ("bersama", AHMAD, RINA, HENDRA, ("2026-03-18", "2026-03-18"), {}, []),
    ("cltn", AHMAD, RINA, HENDRA, ("2026-02-02", "2026-12-31"), {}, ["dokumen-alasan-cltn"]),
]


@pytest.mark.parametrize("kind, nip, atasan, pejabat, dates, extra, docs", KIND_CASES, ids=[c[0] for c in KIND_CASES])
async def test_every_kind_goes_through_both_steps_to_the_letter(r, kind, nip, atasan, pejabat, dates, extra, docs) -> None:
    stored = {}
    async with r.app.sessions() as s:
        for doc in docs:
            blob = files.store(PDF, root=r.app.settings.data_dir / "files", claimed_name=f"{doc}.pdf")
            row = await uploads.record_upload(s, employee_id=await emp_id(r, nip), doc_key=doc, label=doc, blob=blob,
                                              file_name=f"{doc}.pdf", telegram_file_id=None)
            stored[doc] = row.id
    app = await submit_cuti(r, nip, key=f"kind-{kind}", kind=kind, start=dates[0], end=dates[1], files=stored, **extra)
    assert app.data["route"] == [["atasan", await emp_id(r, atasan)], ["pejabat", await emp_id(r, pejabat)]]
    await approve(r, atasan, app.number)
    await approve(r, pejabat, app.number)
    applicant = chat(r, nip)
    letter_msg = await applicant.wait_for(lambda m: m.kind == "document" and app.number in (m.document or {}).get("file_name", ""))
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(letter_msg.document["content"])).pages)
    assert app.number in text and (await fresh(r, app.id)).status == Status.APPROVED


async def test_izin_belajar_not_recommended_by_the_atasan_is_rejected(r) -> None:
    from services.applications import izin_belajar as ib

    docs = ["Surat permohonan izin belajar dari pegawai", "Fotokopi SK pangkat terakhir"]
    data = {"jenjang": "S1", "program_studi": "Administrasi Publik", "perguruan_tinggi": "Universitas Terbuka",
            "akreditasi": "A", "jadwal": [{"days": [6], "start": "08:00", "end": "16:00"}],
            "documents": docs, "files": {}}
    async with r.app.sessions() as s:
        for key, label in ib.document_keys(docs):
            blob = files.store(PDF + key.encode(), root=r.app.settings.data_dir / "files", claimed_name=f"{key}.pdf")
            row = await uploads.record_upload(s, employee_id=await emp_id(r, AHMAD), doc_key=key, label=label, blob=blob,
                                              file_name=f"{key}.pdf", telegram_file_id=None)
            data["files"][key] = row.id
        app = (await engine.submit(s, ctx_of(r), await emp_id(r, AHMAD), "izin-belajar", data,
                                   submit_key="ib-tolak")).application
    rina = chat(r, RINA)
    await rina.press("Tidak disetujui", message=await request_message(rina, app.number))
    await rina.send("Beban kerja unit belum memungkinkan")
    a = await fresh(r, app.id)
    assert a.status == Status.REJECTED and a.step is None
    await chat(r, AHMAD).wait_for(lambda m: app.number in m.text and "Beban kerja unit" in m.text
                                  and "Status akhir: tidak disetujui" in m.text)
    async with r.app.sessions() as s:
        assert (await s.execute(select(Letter))).first() is None
