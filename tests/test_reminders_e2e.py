"""Reminders as people receive them: the real bot polling the fake Bot API over HTTP, the daily
job run by the in-process scheduler (or directly for a chosen day), the outbox worker delivering."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from sqlalchemy import select, update

from bot.local_api import ChatClient, LocalBotAPI
from bot.scheduler import REMINDERS_JOB, kb_documents
from handlers import texts_pengaturan as t
from services.applications import engine
from services.applications.engine import Context
from services.db import make_engine, make_sessionmaker
from services.importer import import_pegawai
from services.models import Application, Employee, JobRun, NotificationPreference, TelegramAccount
from services.personal_dates import add_years
from services.reminders import BUTTON, run_daily
from tests.conftest import SAMPLE_CSV
from tests.harness import Running, make_settings, start_bot

AHMAD = "199001092014121001"  # PNS II/c pelaksana, born 1990-01-09; atasan Rina
RINA = "198207212006012001"
UID = {AHMAD: 801, RINA: 802}
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)  # Monday 5 January 2026, 10:00 WIB


async def link(sessions, nip: str, uid: int) -> None:
    async with sessions() as s:
        emp = (await s.execute(select(Employee).where(Employee.nip == nip))).scalar_one()
        s.add(TelegramAccount(telegram_user_id=uid, chat_id=uid, employee_id=emp.id))
        await s.commit()


async def set_fields(sessions, nip: str, **values) -> None:
    async with sessions() as s:
        await s.execute(update(Employee).where(Employee.nip == nip).values(**values))
        await s.commit()


def ctx_of(r: Running, now: datetime) -> Context:
    s = r.app.settings
    return Context(data_dir=s.data_dir, agency_dir=s.agency_dir, zone=s.zone, now_fn=lambda: now)


async def run_for(r: Running, day: date, now: datetime | None = None) -> dict[str, int]:
    """The daily job for `day`, as `asnbot reminders run --date` runs it."""
    now = now or datetime.combine(day, time(7, 0), r.app.settings.zone)
    documents = kb_documents(lambda: r.app.knowledge.kb)
    return await run_daily(r.app.sessions, ctx_of(r, now), today=day, documents=documents)


async def nothing_more(c: ChatClient, count: int, wait: float = 1.5) -> None:
    """No further message reaches the chat, with the worker idle and nothing pending."""
    await asyncio.sleep(wait)
    assert len(c.messages) == count, [m.text[:60] for m in c.messages[count:]]


def kgb_reminder(m) -> bool:  # noqa: ANN001
    return "Pengingat kenaikan gaji berkala" in m.text


# ---- the scheduler -------------------------------------------------------------------------------
async def test_a_reminder_arrives_from_the_daily_schedule_once_and_not_the_next_day(
    db_url: str, tmp_path: Path, api: LocalBotAPI,
) -> None:
    # Personnel data and a linked employee whose KGB is due in 30 days, before the bot starts.
    engine_ = make_engine(db_url)
    sessions = make_sessionmaker(engine_)
    settings = make_settings(db_url, tmp_path, reminder_time="00:00")  # passed today: caught up at start
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    today = datetime.now(settings.zone).date()
    await set_fields(sessions, AHMAD, tmt_kgb=add_years(today + timedelta(days=30), -2))
    await link(sessions, AHMAD, UID[AHMAD])
    await engine_.dispose()
    ahmad = api.open_chats([UID[AHMAD]])[0]

    r = await start_bot(settings, api)
    try:
        msg = await ahmad.wait_for(kgb_reminder, timeout=20)
        when = today + timedelta(days=30)
        assert f"{when.day} " in msg.text and "30 hari lagi" in msg.text
        assert "Surat pengantar usulan KGB dari kepala OPD" in msg.text  # SOP 6 syarat from the live KB
        for _ in range(250):  # the message may arrive before the job has recorded its end
            async with r.app.sessions() as s:
                run = (await s.scalars(select(JobRun).where(JobRun.job == REMINDERS_JOB))).one()
            if run.finished_at is not None:
                break
            await asyncio.sleep(0.02)
        assert run.period == today.isoformat() and run.result.get("kgb") == 1

        # The button opens the SOP as a new message (the reminder stays), and from it its syarat.
        [card] = await ahmad.press(BUTTON, message=msg)
        assert card.message_id != msg.message_id and "SK Kenaikan Gaji Berkala" in card.text
        [syarat] = await ahmad.press("Syarat", message=card)
        assert "SKP atau hasil penilaian kinerja" in syarat.text

        count = len(ahmad.messages)
        result = await run_for(r, today + timedelta(days=1))  # the next day
        assert result.get("kgb", 0) == 0 and result["kgb_already"] == 1
        await nothing_more(ahmad, count)
        assert sum(kgb_reminder(m) for m in ahmad.messages) == 1
    finally:
        await r.stop()


# ---- /pengaturan -----------------------------------------------------------------------------------
async def test_pengaturan_turns_a_reminder_off_and_it_is_not_sent(running: Running) -> None:
    r = running
    today = datetime.now(r.app.settings.zone).date()
    await link(r.app.sessions, AHMAD, UID[AHMAD])
    await set_fields(r.app.sessions, AHMAD, tmt_kgb=add_years(today + timedelta(days=40), -2))
    ahmad = r.api.user(UID[AHMAD])

    [view] = await ahmad.send("/pengaturan")
    assert "Pengaturan pengingat" in view.text and "Jam tenang" not in view.text  # tests run without
    assert view.buttons == [[t.button(k, True)] for k in ("kgb", "pangkat", "pensiun", "revisi")]
    await ahmad.press(t.button("kgb", True), message=view)
    assert ahmad.callback_answers[-1].get("text") == t.toggled("kgb", False)
    edited = next(m for m in ahmad.messages if m.message_id == view.message_id)
    assert [t.button("kgb", False)] in edited.buttons
    assert "🔕 KGB: kenaikan gaji berkala yang akan jatuh tempo - mati" in edited.text
    async with r.app.sessions() as s:
        prefs = (await s.scalars(select(NotificationPreference))).all()
        assert [(p.kind, p.enabled) for p in prefs] == [("kgb", False)]

    count = len(ahmad.messages)
    result = await run_for(r, today)
    assert result["kgb_off"] == 1 and result.get("kgb", 0) == 0
    await nothing_more(ahmad, count)

    # Turned on again, it comes (the test could fail).
    await ahmad.press(t.button("kgb", False), message=edited)
    assert ahmad.callback_answers[-1].get("text") == t.toggled("kgb", True)
    await run_for(r, today + timedelta(days=1))
    await ahmad.wait_for(kgb_reminder)


async def test_pengaturan_is_only_for_the_linked_and_only_their_own(running: Running) -> None:
    r = running
    stranger = r.api.user(899)
    [reply] = await stranger.send("/pengaturan")
    assert "tersedia setelah akun Telegram Anda ditautkan" in reply.text
    await link(r.app.sessions, RINA, UID[RINA])
    rina = r.api.user(UID[RINA])
    [view] = await rina.send("/pengaturan")
    assert [t.button("approver", True)] in view.buttons  # Rina is Ahmad's atasan
    # A stranger pressing a settings button, and a forged kind: nothing is stored.
    await stranger._press_callback(view, "set:kgb:0", 10.0)
    assert stranger.callback_answers[-1].get("text") == t.not_linked_alert()
    await rina._press_callback(view, "set:broadcast:0", 10.0)
    assert rina.callback_answers[-1].get("text") == t.unknown_choice()
    async with r.app.sessions() as s:
        assert (await s.scalars(select(NotificationPreference))).all() == []


async def test_quiet_hours_are_explained(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    settings = make_settings(db_url, tmp_path, quiet_hours="21:00-06:00", reminder_time="07:00")
    engine_ = make_engine(db_url)
    sessions = make_sessionmaker(engine_)
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    await link(sessions, AHMAD, UID[AHMAD])
    await engine_.dispose()
    r = await start_bot(settings, api)
    try:
        [view] = await r.api.user(UID[AHMAD]).send("/pengaturan")
        assert "Jam tenang 21.00-06.00 WIB" in view.text and "pukul 07.00 WIB" in view.text
    finally:
        await r.stop()


# ---- approvers -------------------------------------------------------------------------------------
async def test_an_approver_is_reminded_of_a_waiting_request_and_its_buttons_work(running: Running) -> None:
    r = running
    r.app.dispatcher["now_fn"] = lambda: NOW + timedelta(days=2)  # the handlers' clock
    for nip, uid in UID.items():
        await link(r.app.sessions, nip, uid)
        await r.api.user(uid).send("/start")
    ahmad, rina = r.api.user(UID[AHMAD]), r.api.user(UID[RINA])
    data = {"kind": "tahunan", "start": "2026-01-12", "end": "2026-01-14", "alasan": "Keperluan keluarga",
            "alamat": "Jl. Melati 1, Bekasi", "telepon": "081234567890"}
    async with r.app.sessions() as s:
        emp = (await s.execute(select(Employee.id).where(Employee.nip == AHMAD))).scalar_one()
        app = (await engine.submit(s, ctx_of(r, NOW), emp, "cuti", data, submit_key="k1")).application
    await rina.wait_for(lambda m: app.number in m.text and "📥" in m.text)

    result = await run_for(r, date(2026, 1, 7), NOW + timedelta(days=2))  # waited 2 days (remind_after_days)
    assert result["approver"] == 1
    reminder = await rina.wait_for(lambda m: "Masih menunggu" in m.text and app.number in m.text)
    assert "Ahmad Fauzi" in reminder.text
    count = len(rina.messages)
    assert (await run_for(r, date(2026, 1, 8), NOW + timedelta(days=3))).get("approver", 0) == 0  # same period
    await nothing_more(rina, count, wait=1.0)

    await rina.press("Disetujui", message=reminder)
    async with r.app.sessions() as s:
        fresh = await s.get(Application, app.id)
        assert fresh.step == "pejabat" and fresh.version == 2
    await ahmad.wait_for(lambda m: "Disetujui" in m.text and "Rina Marlina" in m.text)


# ---- own dates --------------------------------------------------------------------------------------
async def test_a_linked_employee_asks_for_their_own_dates(running: Running) -> None:
    r = running
    await link(r.app.sessions, AHMAD, UID[AHMAD])
    await set_fields(r.app.sessions, AHMAD, tmt_kgb=date(2025, 7, 1), tmt_pangkat=date(2023, 4, 15))
    ahmad = r.api.user(UID[AHMAD])

    async def ask(question: str) -> str:
        return (await ahmad.send(question, timeout=30))[-1].text  # a loaded machine answers slowly

    assert "Kenaikan gaji berkala (KGB) berikutnya: 1 Juli 2027" in await ask("kapan KGB saya?")
    assert "Kenaikan pangkat paling cepat: 1 Mei 2027" in await ask("kapan saya naik pangkat?")
    reply = await ask("kapan saya pensiun?")
    assert "TMT pensiun: 1 Februari 2048" in reply and "58 tahun" in reply
