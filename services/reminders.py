"""Proactive reminders drawn from the personnel database and the application workflow, and each
person's choice of which ones they receive.

The daily job (:func:`run_daily`) finds, for the given day:

* ``kgb``      - kenaikan gaji berkala coming due (2 years after TMT KGB), `lead_days` ahead;
* ``pangkat``  - the earliest KP period the person reaches, `lead_days` ahead;
* ``pensiun``  - the TMT pensiun at the person's BUP, 12 and again 3 months ahead;
* ``approver`` - requests waiting at someone's step longer than the type allows, once per step
  and period (approval.yaml `remind_after_days`);
* ``revisi``   - applications returned for revision and not fixed after some days.

Lead times, KP periods and the knowledge-base entries with the documents to prepare are data
(``reminders.yaml`` in the agency folder). Each reminder goes into the outbox (not urgent: it
waits for the end of quiet hours) with a ReminderSent row in the same transaction, so it goes
out once per event however often the job runs, on however many instances. Employees without a
linked Telegram account get nothing and nothing is recorded: the reminder goes out once they
link, if it is still due.

Services do not read the knowledge base: the caller (bot/) passes a lookup from entry id to its
syarat, and the message carries a button that opens the entry (``kb:a:<id>``, handled by Tanya).
"""
from __future__ import annotations

import html
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from dateutil.relativedelta import relativedelta
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import audit, outbox, personal_dates
from services.agency import DEFAULT_AGENCY_DIR
from services.applications import engine, notify
from services.applications.engine import Context, Status
from services.models import (
    Application, Employee, EmploymentStatus, NotificationPreference, ReminderSent, Role, StaffRole, TelegramAccount,
)
from services.pangkat import PNS_GOLONGAN
from services.letters import format_date as tanggal

log = logging.getLogger(__name__)

# ---- preferences ----------------------------------------------------------------------------
# Kinds of proactive message, in the order /pengaturan shows them.
KINDS = ("kgb", "pangkat", "pensiun", "approver", "revisi", "broadcast")
# Official BKPSDM broadcasts (discipline regulations above all: Renstra Tabel 3.1 names their
# poor socialisation as a problem) cannot be turned off; everything else can.
MANDATORY = frozenset({"broadcast"})
OPTIONAL = tuple(k for k in KINDS if k not in MANDATORY)

DocumentLookup = Callable[[str], Sequence[str] | None]  # KB entry id -> its syarat (None: unknown)


async def preferences(session: AsyncSession, employee_id: int) -> dict[str, bool]:
    """Every kind -> whether this person receives it (no row = on)."""
    rows = await session.execute(select(NotificationPreference.kind, NotificationPreference.enabled)
                                 .where(NotificationPreference.employee_id == employee_id))
    chosen = {kind: enabled for kind, enabled in rows.all()}
    return {k: True if k in MANDATORY else bool(chosen.get(k, True)) for k in KINDS}


async def is_enabled(session: AsyncSession, employee_id: int, kind: str) -> bool:
    if kind in MANDATORY:
        return True
    value = await session.scalar(select(NotificationPreference.enabled).where(
        NotificationPreference.employee_id == employee_id, NotificationPreference.kind == kind))
    return value is None or bool(value)


async def set_preference(session: AsyncSession, employee_id: int, kind: str, enabled: bool, *,
                         actor_telegram_id: int | None = None) -> None:
    """Turn one kind on or off for this person, and commit. Mandatory kinds are refused."""
    if kind not in OPTIONAL:
        raise ValueError(f"kind {kind!r} cannot be changed; choose one of {OPTIONAL}")
    where = (NotificationPreference.employee_id == employee_id, NotificationPreference.kind == kind)
    row = await session.scalar(select(NotificationPreference).where(*where))
    if row is None:
        try:
            async with session.begin_nested():
                session.add(NotificationPreference(employee_id=employee_id, kind=kind, enabled=enabled))
        except IntegrityError:  # a double tap on two instances inserted it first
            row = await session.scalar(select(NotificationPreference).where(*where))
    if row is not None:
        row.enabled = enabled
    audit.record(session, "notification_pref", actor_telegram_id=actor_telegram_id, employee_id=employee_id,
                 kind=kind, enabled=enabled)
    await session.commit()


async def relevant_kinds(session: AsyncSession, emp: Employee) -> list[str]:
    """The optional kinds that can ever concern this person (what /pengaturan offers)."""
    kinds = []
    if emp.status in (EmploymentStatus.PNS, EmploymentStatus.CPNS):
        kinds.append("kgb")
        if emp.status == EmploymentStatus.PNS:
            kinds.append("pangkat")
        kinds.append("pensiun")
    approves = await session.scalar(select(
        exists().where(Employee.superior_id == emp.id, Employee.active.is_(True))
        | exists().where(StaffRole.employee_id == emp.id,
                         StaffRole.role.in_([Role.APPROVER.value, Role.VERIFIER.value]))
        | exists().where(Application.approver_id == emp.id)
    ))
    if approves:
        kinds.append("approver")
    kinds.append("revisi")
    return kinds


# ---- rules (data) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KpPeriod:
    start: date
    months: frozenset[int]


@dataclass(frozen=True)
class Rules:
    kgb_lead_days: int
    kgb_entry: str | None
    kp_lead_days: int
    kp_periods: tuple[KpPeriod, ...]  # newest first
    kp_entries: tuple[tuple[str | None, str], ...]  # (up to golongan, entry id)
    pensiun_months: tuple[int, ...]  # descending
    pensiun_entries: tuple[tuple[str | None, str], ...]
    revisi_after_days: int
    revisi_times: int


def _entries(items: list[dict[str, Any]] | None) -> tuple[tuple[str | None, str], ...]:
    return tuple((i.get("up_to"), str(i["entry"])) for i in items or ())


@lru_cache(maxsize=8)
def load_rules(agency_dir: Path | None = None) -> Rules:
    path = (agency_dir or DEFAULT_AGENCY_DIR) / "reminders.yaml"
    if not path.exists():  # a region that has not written its own uses the shipped rules
        path = DEFAULT_AGENCY_DIR / "reminders.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    kgb, kp, pen, rev = (raw.get(k) or {} for k in ("kgb", "kenaikan_pangkat", "pensiun", "revisi"))
    periods = sorted((KpPeriod(p["from"], frozenset(int(m) for m in p["months"])) for p in kp.get("periods") or ()),
                     key=lambda p: p.start, reverse=True)
    return Rules(
        kgb_lead_days=int(kgb.get("lead_days", 90)), kgb_entry=kgb.get("entry"),
        kp_lead_days=int(kp.get("lead_days", 90)), kp_periods=tuple(periods), kp_entries=_entries(kp.get("entries")),
        pensiun_months=tuple(sorted((int(m) for m in pen.get("months_before") or (12, 3)), reverse=True)),
        pensiun_entries=_entries(pen.get("entries")),
        revisi_after_days=int(rev.get("after_days", 3)), revisi_times=int(rev.get("times", 3)),
    )


def entry_for(entries: tuple[tuple[str | None, str], ...], golongan: str | None) -> str | None:
    """The first entry whose `up_to` golongan is at or above `golongan` (no `up_to`: any)."""
    rank = PNS_GOLONGAN.index(golongan) if golongan in PNS_GOLONGAN else None
    for up_to, entry in entries:
        if up_to is None or (rank is not None and up_to in PNS_GOLONGAN and rank <= PNS_GOLONGAN.index(up_to)):
            return entry
    return None


def kp_period(earliest: date, periods: tuple[KpPeriod, ...]) -> date | None:
    """The first KP period (the 1st of a month open under the rule in force then) on or after
    `earliest`."""
    d = earliest if earliest.day == 1 else personal_dates.first_of_next_month(earliest)
    for _ in range(36):
        rule = next((p for p in periods if p.start <= d), None)
        if rule is None or d.month in rule.months:
            return d
        d = personal_dates.first_of_next_month(d)
    return None


# ---- what is due ------------------------------------------------------------------------------
BUTTON = "📄 Lihat SOP & syarat"


@dataclass(frozen=True)
class Due:
    kind: str
    employee_id: int
    event_key: str
    text: str  # HTML
    entry: str | None = None  # KB entry opened by the button

    @property
    def dedupe_key(self) -> str:
        return f"rem:{self.kind}:{self.employee_id}:{self.event_key}"

    def reply_markup(self) -> dict[str, Any] | None:
        if not self.entry:
            return None
        # "kb:a" opens the entry as a new message, so the reminder itself stays in the chat.
        return {"inline_keyboard": [[{"text": BUTTON, "callback_data": f"kb:a:{self.entry}"}]]}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)




def _in(d: date, today: date) -> str:
    days = (d - today).days
    if days < 60:
        return f"{days} hari lagi"
    months = round(days / 30.4)
    return f"sekitar {months} bulan lagi"


def _documents(entry: str | None, documents: DocumentLookup | None, intro: str) -> list[str]:
    items = list(documents(entry) or ()) if documents and entry else []
    if not items:
        return [f"{intro} Daftar berkasnya ada pada tombol <b>{esc(BUTTON[2:])}</b> di bawah."] if entry else []
    return [intro, *(f"• {esc(i)}" for i in items)]


_FOOTER = ("<i>Dihitung dari data kepegawaian; bila datanya keliru, hubungi pengelola kepegawaian OPD Anda. "
           "Atur pengingat: /pengaturan</i>")


def kgb_due(emp: Employee, today: date, rules: Rules, documents: DocumentLookup | None = None) -> Due | None:
    m = personal_dates.next_kgb(emp, today)
    if m.when is None:
        return None
    if not (m.when - timedelta(days=rules.kgb_lead_days) <= today < m.when):
        return None
    lines = ["⏰ <b>Pengingat kenaikan gaji berkala (KGB)</b>",
             f"Menurut data, KGB Anda berikutnya berlaku <b>{tanggal(m.when)}</b> ({_in(m.when, today)}).",
             *(esc(n) for n in m.notes if "seharusnya" not in n),
             *_documents(rules.kgb_entry, documents, "Yang perlu disiapkan bersama pengelola kepegawaian OPD:"),
             _FOOTER]
    return Due("kgb", emp.id, m.when.isoformat(), "\n".join(lines), rules.kgb_entry)


def kp_due(emp: Employee, today: date, rules: Rules, documents: DocumentLookup | None = None) -> Due | None:
    m = personal_dates.next_kp(emp, today)
    if m.when is None or emp.tmt_pangkat is None:
        return None
    fungsional = emp.jenis_jabatan == "fungsional"
    if not fungsional:
        ceiling = personal_dates.EDUCATION_CEILING.get(emp.education or "")
        if ceiling and PNS_GOLONGAN.index(emp.golongan) >= PNS_GOLONGAN.index(ceiling):
            return None  # KP reguler is over: the next step is penyesuaian ijazah or a position
    years = personal_dates.KP_JF_YEARS if fungsional else personal_dates.KP_REGULER_YEARS
    period = kp_period(personal_dates.add_years(emp.tmt_pangkat, years), rules.kp_periods)
    if period is None or not (period - timedelta(days=rules.kp_lead_days) <= today < period):
        return None
    target = PNS_GOLONGAN[PNS_GOLONGAN.index(emp.golongan) + 1]
    entry = entry_for(rules.kp_entries, target)
    lines = ["⏰ <b>Pengingat kenaikan pangkat</b>",
             f"Menurut data, masa kerja Anda dalam golongan {esc(emp.golongan)} cukup untuk kenaikan pangkat "
             f"ke {esc(target)} paling cepat periode <b>{tanggal(period)}</b> ({_in(period, today)}).",
             *(esc(n) for n in m.notes if "sudah cukup" not in n),
             *_documents(entry, documents, "Siapkan berkas usulan bersama pengelola kepegawaian OPD:"),
             _FOOTER]
    return Due("pangkat", emp.id, f"{emp.golongan}:{period.isoformat()}", "\n".join(lines), entry)


def pensiun_due(emp: Employee, today: date, rules: Rules, documents: DocumentLookup | None = None) -> Due | None:
    m = personal_dates.pensiun(emp)
    if m.when is None or today >= m.when:
        return None
    # The latest reminder whose time has come: a year ahead, then three months ahead.
    months = next((n for n in reversed(rules.pensiun_months) if today >= m.when - relativedelta(months=n)), None)
    if months is None:
        return None
    entry = entry_for(rules.pensiun_entries, emp.golongan)
    lines = ["⏰ <b>Pengingat pensiun</b>",
             f"Menurut data, TMT pensiun Anda <b>{tanggal(m.when)}</b> ({_in(m.when, today)}).",
             *(esc(n) for n in m.notes if "Tanya layanan" not in n),
             *_documents(entry, documents, "Berkas usul pensiun yang perlu disiapkan:"),
             _FOOTER]
    return Due("pensiun", emp.id, f"{m.when.isoformat()}:{months}m", "\n".join(lines), entry)


def revisi_text(app: Application, since: date) -> str:
    title = engine.type_of(app).title
    lines = [f"⏰ <b>{esc(title.capitalize())} {esc(app.number)}</b> menunggu perbaikan dari Anda sejak "
             f"{tanggal(since)}."]
    notes = (app.data or {}).get("revisi") or {}
    if notes:
        lines.append("Yang perlu diperbaiki:")
        lines += [f"• {esc(k)}: {esc(v)}" for k, v in notes.items()]
    lines.append("Silakan perbaiki lewat menu <b>Status pengajuan</b>, atau batalkan bila tidak jadi diajukan.")
    return "\n".join(lines)


# ---- the daily job ----------------------------------------------------------------------------
async def _deliver(sessions: async_sessionmaker[AsyncSession], due: Due, counts: Counter[str]) -> None:
    """One reminder: outbox row and ReminderSent in one transaction, or nothing."""
    async with sessions() as s:
        done = await s.scalar(select(ReminderSent.id).where(
            ReminderSent.kind == due.kind, ReminderSent.employee_id == due.employee_id,
            ReminderSent.event_key == due.event_key))
        if done is not None:
            counts[f"{due.kind}_already"] += 1
            return
        if not await is_enabled(s, due.employee_id, due.kind):
            counts[f"{due.kind}_off"] += 1
            return
        if not await outbox.enqueue_for_employee(s, due.employee_id, text=due.text, dedupe_key=due.dedupe_key,
                                                 reply_markup=due.reply_markup(), urgent=False):
            counts[f"{due.kind}_unlinked"] += 1  # or the message exists already; either way not again
            return
        try:
            s.add(ReminderSent(employee_id=due.employee_id, kind=due.kind, event_key=due.event_key))
            await s.commit()
        except IntegrityError:  # a concurrent run recorded it first: its message stands
            await s.rollback()
            counts[f"{due.kind}_already"] += 1
            return
    counts[due.kind] += 1


async def _personnel(sessions: async_sessionmaker[AsyncSession], ctx: Context, today: date,
                     documents: DocumentLookup | None, counts: Counter[str]) -> None:
    rules = load_rules(ctx.agency_dir)
    async with sessions() as s:
        linked = set((await s.scalars(select(TelegramAccount.employee_id)
                                      .where(TelegramAccount.employee_id.is_not(None)))).all())
        people = (await s.scalars(select(Employee).where(
            Employee.active.is_(True), Employee.status.in_([EmploymentStatus.PNS.value, EmploymentStatus.CPNS.value]),
        ).order_by(Employee.id))).all()
    for emp in people:
        for find in (kgb_due, kp_due, pensiun_due):
            try:
                due = find(emp, today, rules, documents)
            except Exception:  # noqa: BLE001 - one odd record must not stop everyone's reminders
                log.exception("reminder check failed for employee %s", emp.id)
                counts["errors"] += 1
                continue
            if due is None:
                continue
            if emp.id not in linked:
                counts[f"{due.kind}_unlinked"] += 1
                continue
            await _deliver(sessions, due, counts)


def _period(ctx: Context, since: Any, every_days: int) -> int:
    return int((ctx.now() - since) / timedelta(days=max(every_days, 1)))


async def _approvers(sessions: async_sessionmaker[AsyncSession], ctx: Context, counts: Counter[str]) -> None:
    async with sessions() as s:
        waiting = [(a.id, a.type) for a in await engine.overdue(s, ctx)]
    types = ctx.types()
    for app_id, type_name in waiting:
        async with sessions() as s:
            app = await s.get(Application, app_id)
            if app is None or app.status != Status.PENDING:
                continue
            k = _period(ctx, app.step_since, types[type_name].remind_after_days)
            if k < 1:
                continue
            key = f"app{app.id}:v{app.version}:p{k}"
            skip = set()
            for person in await notify.recipients_for_step(s, ctx, app):
                done = await s.scalar(select(ReminderSent.id).where(
                    ReminderSent.kind == "approver", ReminderSent.employee_id == person, ReminderSent.event_key == key))
                if done is not None:
                    counts["approver_already"] += 1
                    skip.add(person)
                elif not await is_enabled(s, person, "approver"):
                    counts["approver_off"] += 1
                    skip.add(person)
            try:
                sent = await notify.remind(s, ctx, app, f"p{k}", skip=skip)
                for person in sent:
                    s.add(ReminderSent(employee_id=person, kind="approver", event_key=key))
                await s.commit()
            except IntegrityError:  # a concurrent run reminded them first
                await s.rollback()
                counts["approver_already"] += 1
                continue
            counts["approver"] += len(sent)


async def _revisions(sessions: async_sessionmaker[AsyncSession], ctx: Context, counts: Counter[str]) -> None:
    rules = load_rules(ctx.agency_dir)
    cutoff = ctx.now() - timedelta(days=rules.revisi_after_days)
    async with sessions() as s:
        apps = (await s.scalars(select(Application).where(
            Application.status == Status.REVISION, Application.step_since <= cutoff).order_by(Application.id))).all()
    for app in apps:
        k = _period(ctx, app.step_since, rules.revisi_after_days)
        if not 1 <= k <= rules.revisi_times:
            continue
        since = app.step_since.astimezone(ctx.zone).date()
        await _deliver(sessions, Due("revisi", app.employee_id, f"app{app.id}:v{app.version}:p{k}",
                                     revisi_text(app, since)), counts)


async def run_daily(sessions: async_sessionmaker[AsyncSession], ctx: Context, *, today: date,
                    documents: DocumentLookup | None = None) -> dict[str, int]:
    """Find and enqueue today's reminders. Safe to run again, and concurrently: each reminder
    goes out once per event. Returns counts: sent per kind, and `<kind>_already` (sent before),
    `<kind>_off` (turned off), `<kind>_unlinked` (no Telegram account yet), `errors`."""
    counts: Counter[str] = Counter()
    parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("personnel", lambda: _personnel(sessions, ctx, today, documents, counts)),
        ("approvers", lambda: _approvers(sessions, ctx, counts)),
        ("revisions", lambda: _revisions(sessions, ctx, counts)),
    ]
    for name, part in parts:
        try:
            await part()
        except Exception:  # noqa: BLE001 - the other parts still run; the error is counted and logged
            log.exception("daily reminders: %s failed", name)
            counts["errors"] += 1
    return dict(sorted(counts.items()))
