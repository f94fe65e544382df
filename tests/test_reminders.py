"""Daily reminders against a real database with the sample personnel and crafted dates: each
fires once per event, respects preferences and links, and runs once across instances."""
from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.scheduler import kb_documents
from knowledge.kb import load_kb
from services import reminders, scheduler
from services.applications import engine
from services.applications.engine import Context, Status
from services.importer import import_pegawai
from services.models import (
    Application, Employee, JobRun, OutboxMessage, ReminderSent, TelegramAccount, utcnow,
)
from services.reminders import kp_period, load_rules, run_daily
from tests.conftest import SAMPLE_CSV
from tests.test_cli import asnbot

ZONE = ZoneInfo("Asia/Jakarta")
AHMAD = "199001092014121001"  # PNS II/c pelaksana; atasan Rina, kepala OPD Hendra
RINA = "198207212006012001"
HENDRA = "197010051991101001"  # Kepala Badan, eselon II.a: BUP 60
BAMBANG = "198506172019031001"  # fungsional III/b
FITRI = "199312192023212001"  # PPPK
TODAY = date(2026, 1, 5)  # a Monday
NOW = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)  # 07:00 WIB


@pytest.fixture
async def loaded(sessions):
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    assert report.applied
    return sessions


@pytest.fixture(scope="module")
def documents():
    kb = load_kb()
    return kb_documents(lambda: kb)


def ctx_at(tmp_path: Path, when: datetime) -> Context:
    return Context(data_dir=tmp_path, now_fn=lambda: when, zone=ZONE)


async def emp_id(sessions, nip: str) -> int:
    async with sessions() as s:
        return (await s.execute(select(Employee.id).where(Employee.nip == nip))).scalar_one()


async def link(sessions, nip: str, uid: int) -> int:
    eid = await emp_id(sessions, nip)
    async with sessions() as s:
        s.add(TelegramAccount(telegram_user_id=uid, chat_id=uid, employee_id=eid))
        await s.commit()
    return eid


async def set_fields(sessions, nip: str, **values) -> None:
    async with sessions() as s:
        await s.execute(update(Employee).where(Employee.nip == nip).values(**values))
        await s.commit()


async def rows(sessions, chat_id: int | None = None, like: str = "rem:") -> list[OutboxMessage]:
    async with sessions() as s:
        stmt = select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"%{like}%")).order_by(OutboxMessage.id)
        if chat_id is not None:
            stmt = stmt.where(OutboxMessage.chat_id == chat_id)
        return list((await s.scalars(stmt)).all())


async def sent_keys(sessions, kind: str) -> list[tuple[int, str]]:
    async with sessions() as s:
        return list((await s.execute(select(ReminderSent.employee_id, ReminderSent.event_key)
                                     .where(ReminderSent.kind == kind).order_by(ReminderSent.id))).all())


async def daily(sessions, tmp_path: Path, day: date, documents=None) -> dict[str, int]:
    when = datetime.combine(day, time(7, 0), ZONE)
    return await run_daily(sessions, ctx_at(tmp_path, when), today=day, documents=documents)


def buttons(row: OutboxMessage) -> list[str]:
    return [b["callback_data"] for line in (row.payload.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in line]


# ---- personnel reminders -------------------------------------------------------------------------
async def test_kgb_reminder_fires_once_and_not_the_next_day(loaded, tmp_path, documents) -> None:
    ahmad = await link(loaded, AHMAD, 11)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))  # next KGB 1 March 2026: 55 days ahead
    result = await daily(loaded, tmp_path, TODAY, documents)
    assert result["kgb"] == 1
    [row] = await rows(loaded, 11)
    assert row.urgent is False and row.employee_id == ahmad
    text = row.payload["text"]
    assert "KGB Anda berikutnya berlaku <b>1 Maret 2026</b>" in text and "55 hari lagi" in text
    assert "SKP atau hasil penilaian kinerja tahun terakhir" in text  # the SOP 6 syarat, from the KB
    assert buttons(row) == ["kb:a:sop-06"]
    assert await sent_keys(loaded, "kgb") == [(ahmad, "2026-03-01")]

    again = await daily(loaded, tmp_path, TODAY + timedelta(days=1), documents)
    assert len(await rows(loaded, 11)) == 1
    assert again.get("kgb", 0) == 0 and again["kgb_already"] == 1
    assert await sent_keys(loaded, "kgb") == [(ahmad, "2026-03-01")]


async def test_kgb_outside_the_window_or_past_is_not_sent(loaded, tmp_path) -> None:
    await link(loaded, AHMAD, 11)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 6, 1))  # 1 June 2026: 147 days ahead
    await daily(loaded, tmp_path, TODAY)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2023, 12, 1))  # 1 December 2025: already past
    await daily(loaded, tmp_path, TODAY)
    assert await rows(loaded, 11) == []


async def test_without_a_document_lookup_the_button_still_opens_the_syarat(loaded, tmp_path) -> None:
    await link(loaded, AHMAD, 11)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))
    await daily(loaded, tmp_path, TODAY)
    [row] = await rows(loaded, 11)
    assert "tombol <b>Lihat SOP &amp; syarat</b>" in row.payload["text"] and buttons(row) == ["kb:a:sop-06"]


async def test_kenaikan_pangkat_in_the_monthly_period(loaded, tmp_path, documents) -> None:
    bambang = await link(loaded, BAMBANG, 12)
    # Fungsional: 2 years in rank; 15 Feb 2026 -> the 1 March 2026 period (monthly since BKN 4/2025).
    await set_fields(loaded, BAMBANG, tmt_pangkat=date(2024, 2, 15), tmt_kgb=date(2025, 3, 1))
    await daily(loaded, tmp_path, TODAY, documents)
    [row] = await rows(loaded, 12)
    text = row.payload["text"]
    assert "golongan III/b" in text and "ke III/c" in text and "periode <b>1 Maret 2026</b>" in text
    assert "angka kredit" in text
    assert buttons(row) == ["kb:a:sop-39"]
    assert await sent_keys(loaded, "pangkat") == [(bambang, "III/b:2026-03-01")]
    await daily(loaded, tmp_path, TODAY + timedelta(days=1), documents)
    assert len(await rows(loaded, 12)) == 1


async def test_no_kp_reminder_at_the_education_ceiling(loaded, tmp_path) -> None:
    await link(loaded, AHMAD, 11)
    # SMA reaches III/b at most by KP reguler: nothing to remind of.
    await set_fields(loaded, AHMAD, golongan="III/b", tmt_pangkat=date(2022, 3, 1), tmt_kgb=date(2025, 3, 1))
    await daily(loaded, tmp_path, TODAY)
    assert await rows(loaded, 11) == []


def test_kp_periods_follow_the_regulation_in_force() -> None:
    periods = load_rules().kp_periods
    assert kp_period(date(2023, 5, 10), periods) == date(2023, 10, 1)  # April / October
    assert kp_period(date(2024, 5, 10), periods) == date(2024, 6, 1)  # six a year (BKN 4/2023)
    assert kp_period(date(2025, 8, 2), periods) == date(2025, 10, 1)  # monthly from October 2025
    assert kp_period(date(2025, 10, 15), periods) == date(2025, 11, 1)
    assert kp_period(date(2026, 7, 1), periods) == date(2026, 7, 1)


async def test_pensiun_a_year_and_again_three_months_before(loaded, tmp_path, documents) -> None:
    hendra = await link(loaded, HENDRA, 13)
    # Eselon II: BUP 60. Born 10 June 1966 -> TMT pensiun 1 July 2026.
    await set_fields(loaded, HENDRA, birth_date=date(1966, 6, 10), tmt_kgb=date(2025, 10, 1))
    await daily(loaded, tmp_path, TODAY, documents)
    first = await rows(loaded, 13)
    assert len(first) == 1
    text = first[0].payload["text"]
    assert "TMT pensiun Anda <b>1 Juli 2026</b>" in text and "60 tahun" in text
    assert "Data Perorangan Calon Penerima Pensiun (DPCP)" in text
    assert buttons(first[0]) == ["kb:a:sop-46"]  # golongan IV/c: SOP 46
    for day in (TODAY + timedelta(days=1), date(2026, 3, 31)):
        await daily(loaded, tmp_path, day, documents)
    assert len(await rows(loaded, 13)) == 1
    await daily(loaded, tmp_path, date(2026, 4, 1), documents)  # three months before
    await daily(loaded, tmp_path, date(2026, 4, 2), documents)
    await daily(loaded, tmp_path, date(2026, 7, 1), documents)
    assert len(await rows(loaded, 13)) == 2
    assert await sent_keys(loaded, "pensiun") == [(hendra, "2026-07-01:12m"), (hendra, "2026-07-01:3m")]


async def test_a_kind_turned_off_is_not_sent_nor_recorded(loaded, tmp_path) -> None:
    ahmad = await link(loaded, AHMAD, 11)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))
    async with loaded() as s:
        await reminders.set_preference(s, ahmad, "kgb", False)
    result = await daily(loaded, tmp_path, TODAY)
    assert result["kgb_off"] == 1 and await rows(loaded, 11) == [] and await sent_keys(loaded, "kgb") == []
    async with loaded() as s:
        await reminders.set_preference(s, ahmad, "kgb", True)
    await daily(loaded, tmp_path, TODAY + timedelta(days=1))
    assert len(await rows(loaded, 11)) == 1


async def test_an_unlinked_employee_is_not_recorded_and_hears_once_linked(loaded, tmp_path) -> None:
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))
    result = await daily(loaded, tmp_path, TODAY)
    assert result["kgb_unlinked"] >= 1
    assert await sent_keys(loaded, "kgb") == [] and await rows(loaded) == []
    ahmad = await link(loaded, AHMAD, 11)
    await daily(loaded, tmp_path, TODAY + timedelta(days=1))
    assert len(await rows(loaded, 11)) == 1 and await sent_keys(loaded, "kgb") == [(ahmad, "2026-03-01")]


# ---- the workflow --------------------------------------------------------------------------------
def cuti_form() -> dict:
    return {"kind": "tahunan", "start": "2026-01-12", "end": "2026-01-14", "alasan": "Keperluan keluarga",
            "alamat": "Jl. Melati 1, Bekasi", "telepon": "081234567890"}


async def submit(sessions, tmp_path: Path) -> Application:
    async with sessions() as s:
        r = await engine.submit(s, ctx_at(tmp_path, NOW), await emp_id(sessions, AHMAD), "cuti", cuti_form(),
                                submit_key="k1")
        return r.application


async def test_approver_reminded_once_per_period_with_working_buttons(loaded, tmp_path) -> None:
    await link(loaded, AHMAD, 11)
    rina = await link(loaded, RINA, 12)
    app = await submit(loaded, tmp_path)
    # remind_after_days (approval.yaml) is 2 for cuti: day 1 nothing, day 2 the first period,
    # day 3 still the first, day 4 the second.
    for days, expected in ((1, 0), (2, 1), (3, 1), (4, 2)):
        await daily(loaded, tmp_path, TODAY + timedelta(days=days))
        assert len(await rows(loaded, 12, like=":remind-")) == expected, days
    first = (await rows(loaded, 12, like=":remind-"))[0]
    assert "Masih menunggu" in first.payload["text"] and first.urgent is False
    assert f"apv:{app.id}:{app.version}:s" in buttons(first)
    assert await sent_keys(loaded, "approver") == [(rina, f"app{app.id}:v1:p1"), (rina, f"app{app.id}:v1:p2")]

    async with loaded() as s:
        await reminders.set_preference(s, rina, "approver", False)
    await daily(loaded, tmp_path, TODAY + timedelta(days=6))
    assert len(await rows(loaded, 12, like=":remind-")) == 2

    # Once acted on, nobody is reminded of that step any more.
    async with loaded() as s:
        await reminders.set_preference(s, rina, "approver", True)
        fresh = await s.get(Application, app.id)
        await engine.act(s, ctx_at(tmp_path, NOW + timedelta(days=6)), app.id, rina, "setuju", version=fresh.version)
    await daily(loaded, tmp_path, TODAY + timedelta(days=7))
    assert len(await rows(loaded, 12, like=":remind-")) == 2


async def test_revision_not_fixed_reminds_the_applicant(loaded, tmp_path) -> None:
    ahmad = await link(loaded, AHMAD, 11)
    app = await submit(loaded, tmp_path)
    async with loaded() as s:  # returned for revision at NOW (crafted: cuti has no revision step)
        data = dict(app.data, revisi={"Surat keterangan": "Belum ditandatangani"})
        await s.execute(update(Application).where(Application.id == app.id).values(
            status=Status.REVISION, step=app.step, approver_id=None, step_since=NOW, data=data, version=2))
        await s.commit()
    for days, expected in ((2, 0), (3, 1), (4, 1), (6, 2), (9, 3), (12, 3)):  # at most 3 times
        await daily(loaded, tmp_path, TODAY + timedelta(days=days))
        assert len(await rows(loaded, 11, like="rem:revisi:")) == expected, days
    row = (await rows(loaded, 11, like="rem:revisi:"))[0]
    assert app.number in row.payload["text"] and "Belum ditandatangani" in row.payload["text"]
    assert "sejak 5 Januari 2026" in row.payload["text"]
    assert [k for _, k in await sent_keys(loaded, "revisi")] == [f"app{app.id}:v2:p{k}" for k in (1, 2, 3)]
    assert {e for e, _ in await sent_keys(loaded, "revisi")} == {ahmad}


# ---- once, however many run -------------------------------------------------------------------
async def test_two_concurrent_runs_send_each_reminder_once(loaded, tmp_path, documents) -> None:
    for nip, uid in ((AHMAD, 11), (RINA, 12), (HENDRA, 13), (BAMBANG, 14)):
        await link(loaded, nip, uid)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))
    await set_fields(loaded, HENDRA, birth_date=date(1966, 6, 10))
    await set_fields(loaded, BAMBANG, tmt_pangkat=date(2024, 2, 15))
    await submit(loaded, tmp_path)
    day = TODAY + timedelta(days=2)
    results = await asyncio.gather(daily(loaded, tmp_path, day, documents), daily(loaded, tmp_path, day, documents))
    sent = await rows(loaded, like="remind-") + await rows(loaded)
    keys = [r.dedupe_key for r in sent]
    assert len(keys) == len(set(keys)) == 4, keys  # KGB, pensiun, KP, the approver
    async with loaded() as s:
        assert (await s.execute(select(func.count()).select_from(ReminderSent))).scalar_one() == 4
    assert sum(r.get(k, 0) for r in results for k in ("kgb", "pangkat", "pensiun", "approver")) == 4


async def test_a_daily_job_runs_once_across_instances(sessions) -> None:
    calls = []

    async def job() -> dict:
        calls.append(1)
        await asyncio.sleep(0.2)
        return {"done": 1}

    results = await asyncio.gather(*(scheduler.run_once(sessions, "daily-reminders", "2026-01-05", job,
                                                        instance=f"i{n}") for n in range(3)))
    assert len(calls) == 1 and sorted(results, key=str) == [None, None, {"done": 1}]
    assert await scheduler.run_once(sessions, "daily-reminders", "2026-01-05", job) is None
    async with sessions() as s:
        run = (await s.scalars(select(JobRun))).one()
        assert run.finished_at is not None and run.result == {"done": 1}


async def test_a_failed_run_gives_its_claim_back_and_a_dead_one_is_taken_over(sessions) -> None:
    async def broken() -> dict:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await scheduler.run_once(sessions, "job", "p1", broken)
    assert await scheduler.run_once(sessions, "job", "p1", lambda: asyncio.sleep(0, {"ok": 1})) == {"ok": 1}

    # An instance that died mid-run left an unfinished claim: taken over once stale, not before.
    async with sessions() as s:
        s.add(JobRun(job="job", period="p2", started_at=utcnow() - timedelta(minutes=5), instance="dead", result={}))
        await s.commit()
    assert await scheduler.claim(sessions, "job", "p2", instance="me") is None
    assert await scheduler.claim(sessions, "job", "p2", instance="me", stale_after=timedelta(minutes=1)) is not None
    assert await scheduler.claim(sessions, "job", "p2", instance="other", stale_after=timedelta(minutes=1)) is None


async def test_the_scheduler_catches_up_on_start_once_across_instances(sessions) -> None:
    calls: list[date] = []

    async def job(today: date) -> dict:
        calls.append(today)
        return {"n": len(calls)}

    instances = [scheduler.DailyScheduler(sessions, zone=ZONE, at=time(0, 0), instance=f"i{n}") for n in range(2)]
    for s in instances:
        s.add_daily("daily-reminders", job)
        s.start()
    try:
        for _ in range(200):
            if all("daily-reminders" in s.results for s in instances):
                break
            await asyncio.sleep(0.02)
        assert calls == [datetime.now(ZONE).date()]
        assert sorted(str(s.results["daily-reminders"]) for s in instances) == ["None", "{'n': 1}"]
    finally:
        for s in instances:
            await s.shutdown()


async def test_the_scheduler_fires_at_the_configured_time(sessions) -> None:
    at = (datetime.now(ZONE) + timedelta(seconds=2)).replace(microsecond=0)
    if at.date() != datetime.now(ZONE).date():
        pytest.skip("too close to midnight")
    calls: list[date] = []

    async def job(today: date) -> dict:
        calls.append(today)
        return {}

    s = scheduler.DailyScheduler(sessions, zone=ZONE, at=at.time())
    s.add_daily("daily-reminders", job)
    s.start()  # the time has not come yet: no catch-up
    try:
        await asyncio.sleep(0.5)
        assert calls == []
        for _ in range(250):
            if calls:
                break
            await asyncio.sleep(0.02)
        assert calls == [at.date()]
    finally:
        await s.shutdown()


# ---- data and preferences --------------------------------------------------------------------
def test_the_entries_named_in_reminders_yaml_exist_with_their_syarat() -> None:
    rules, kb = load_rules(), load_kb()
    named = {rules.kgb_entry, *(e for _, e in rules.kp_entries), *(e for _, e in rules.pensiun_entries)}
    for entry_id in named:
        entry = kb.get(entry_id)
        assert entry is not None and entry.requirements, entry_id


async def test_preferences_default_on_and_broadcasts_stay_on(loaded) -> None:
    ahmad = await emp_id(loaded, AHMAD)
    async with loaded() as s:
        assert set((await reminders.preferences(s, ahmad)).values()) == {True}
        await reminders.set_preference(s, ahmad, "pensiun", False)
        await reminders.set_preference(s, ahmad, "pensiun", False)  # idempotent
        prefs = await reminders.preferences(s, ahmad)
        assert prefs["pensiun"] is False and prefs["kgb"] is True and prefs["broadcast"] is True
        with pytest.raises(ValueError):
            await reminders.set_preference(s, ahmad, "broadcast", False)
        assert await reminders.is_enabled(s, ahmad, "broadcast")


async def test_relevant_kinds_follow_the_person(loaded) -> None:
    async with loaded() as s:
        by_nip = {e.nip: e for e in (await s.scalars(select(Employee))).all()}
        assert await reminders.relevant_kinds(s, by_nip[AHMAD]) == ["kgb", "pangkat", "pensiun", "revisi"]
        assert "approver" in await reminders.relevant_kinds(s, by_nip[RINA])  # Ahmad's atasan
        assert await reminders.relevant_kinds(s, by_nip[FITRI]) == ["revisi"]  # PPPK


async def test_cli_runs_the_daily_job_for_a_date(loaded, db_url: str, tmp_path: Path) -> None:
    await link(loaded, AHMAD, 11)
    await set_fields(loaded, AHMAD, tmt_kgb=date(2024, 3, 1))
    out = asnbot(db_url, tmp_path, "reminders", "run", "--date", "2026-01-05", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # Ahmad is linked and hears of his KGB; others are due too but have not linked.
    assert result["date"] == "2026-01-05" and result["kgb"] == 1 and result["kgb_unlinked"] >= 1
    [row] = await rows(loaded, 11)
    assert "SKP atau hasil penilaian kinerja tahun terakhir" in row.payload["text"]  # the KB was read
