"""One application workflow for every request type (cuti, izin belajar): submit, act at each
step of the approval chain, return for revision, withdraw, decide. Types plug in their own
checks and effects (ApplicationType); the chain itself is data (routing.py).

Every change runs in one transaction with its events, audit entry and outbox messages, and is
guarded by `version`: an action quoting an older version (stale or repeated button, a second
approver at the same moment) changes nothing and is told why."""
from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.applications import routing
from services.applications.routing import ACTION_LABELS, StepDef, TypeDef
from services.models import Application, ApplicationEvent, Employee, Role, StaffRole, utcnow


class Status(StrEnum):
    PENDING = "pending"
    REVISION = "revision"
    APPROVED = "approved"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    WITHDRAWN = "withdrawn"


STATUS_LABELS = {
    Status.PENDING: "dalam proses", Status.REVISION: "perlu perbaikan", Status.APPROVED: "disetujui",
    Status.REJECTED: "tidak disetujui", Status.DEFERRED: "ditangguhkan", Status.WITHDRAWN: "dibatalkan",
}
OPEN = (Status.PENDING, Status.REVISION)
STEP_LABELS = {"atasan": "pertimbangan atasan langsung", "verifikasi": "verifikasi BKPSDM",
               "pejabat": "keputusan pejabat yang berwenang"}
# Short codes for buttons (callback data is limited to 64 bytes).
ACTION_CODES = {"setuju": "s", "ubah": "u", "tangguh": "t", "tolak": "x", "teruskan": "f", "revisi": "r"}
CODE_ACTIONS = {v: k for k, v in ACTION_CODES.items()}
NEEDS_COMMENT = {"tangguh", "tolak", "revisi"}


class WorkflowError(Exception):
    """A refused action; `message` is for the user (Indonesian), `code` for tests and logs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Context:
    data_dir: Path
    agency_dir: Path | None = None
    zone: ZoneInfo = ZoneInfo("Asia/Jakarta")
    bot_username: str | None = None
    now_fn: Any = None  # tests pin the clock

    def now(self) -> datetime:
        return self.now_fn() if self.now_fn else utcnow()

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def types(self) -> dict[str, TypeDef]:
        return _types(self.agency_dir)


_TYPES_CACHE: dict[Path | None, dict[str, TypeDef]] = {}


def _types(agency_dir: Path | None) -> dict[str, TypeDef]:
    if agency_dir not in _TYPES_CACHE:
        _TYPES_CACHE[agency_dir] = routing.load_types(agency_dir)
    return _TYPES_CACHE[agency_dir]


class ApplicationType:
    """What a request type adds to the generic workflow. Subclasses register themselves."""

    name: ClassVar[str]
    title: ClassVar[str]  # "cuti", shown as "Permohonan cuti"
    registry: ClassVar[dict[str, ApplicationType]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if getattr(cls, "name", None):
            ApplicationType.registry[cls.name] = cls()

    async def check_submit(self, session: AsyncSession, ctx: Context, emp: Employee, data: dict[str, Any]) -> dict[str, Any]:
        """Validate a complete form; return the data to store (e.g. with computed days). Raise
        WorkflowError naming the rule when it may not be filed."""
        return data

    async def check_change(self, session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                           change: dict[str, Any]) -> dict[str, Any]:
        """An approver's "perubahan": validate the new values, return the updated data."""
        raise WorkflowError("tidak-didukung", "Perubahan tidak tersedia untuk permohonan ini.")

    def describe(self, app: Application) -> list[str]:
        """Lines (HTML-escaped) summarising the request for approvers and the applicant."""
        return []

    async def on_final(self, session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                       status: Status, event: ApplicationEvent) -> None:
        """Effects of the decision, in the same transaction (ledger, letter)."""


def type_of(app_or_name: Application | str) -> ApplicationType:
    name = app_or_name if isinstance(app_or_name, str) else app_or_name.type
    try:
        return ApplicationType.registry[name]
    except KeyError:
        raise WorkflowError("jenis-tidak-dikenal", f"Jenis permohonan tidak dikenal: {name}.") from None


@dataclass
class Submitted:
    application: Application
    created: bool  # False: the same form was sent before; nothing new was filed


@dataclass(frozen=True)
class Acting:
    """How a person may act at an application's current step."""

    actor_id: int
    on_behalf_of_id: int | None = None  # the approver a Plt/Plh stands in for
    label: str | None = None  # "Plh. Kepala Badan ..."
    via: str = "approver"  # approver / delegation / role


@dataclass
class Outcome:
    application: Application
    event: ApplicationEvent
    notified: list[int] = field(default_factory=list)


# ---- reading ----------------------------------------------------------------------------
async def get(session: AsyncSession, app_id: int) -> Application | None:
    return await session.get(Application, app_id)


async def history(session: AsyncSession, app_id: int) -> list[ApplicationEvent]:
    rows = await session.execute(select(ApplicationEvent).where(ApplicationEvent.application_id == app_id)
                                 .order_by(ApplicationEvent.at, ApplicationEvent.id))
    return list(rows.scalars())


async def of_employee(session: AsyncSession, employee_id: int, *, type: str | None = None,
                      limit: int = 20) -> list[Application]:
    stmt = select(Application).where(Application.employee_id == employee_id)
    if type:
        stmt = stmt.where(Application.type == type)
    rows = await session.execute(stmt.order_by(Application.created_at.desc(), Application.id.desc()).limit(limit))
    return list(rows.scalars())


async def can_view(session: AsyncSession, ctx: Context, app: Application, employee_id: int) -> bool:
    """The applicant, anyone on its route (and their stand-ins), and the step's queue role."""
    if app.employee_id == employee_id:
        return True
    route = [a for _, a in app.data.get("route", [])]
    if employee_id in route:
        return True
    for principal in route:
        if principal and await routing.acting_for(session, employee_id, principal, ctx.today()):
            return True
    td = ctx.types()[app.type]
    for s in td.steps:
        if s.queue_role and await _holds(session, employee_id, *s.queue_role):
            return True
    return False


async def _holds(session: AsyncSession, employee_id: int, role: str, scope: str) -> bool:
    stmt = select(StaffRole.id).where(StaffRole.employee_id == employee_id, StaffRole.role == role)
    # An approver's scope names exactly what they decide; other roles may be granted everywhere ("").
    stmt = stmt.where(StaffRole.scope == scope) if role == Role.APPROVER.value else stmt.where(StaffRole.scope.in_(["", scope]))
    return (await session.execute(stmt.limit(1))).first() is not None


async def can_act(session: AsyncSession, ctx: Context, app: Application, actor_id: int) -> Acting | None:
    if app.status != Status.PENDING or actor_id == app.employee_id:
        return None
    td = ctx.types()[app.type]
    step = td.step(app.step)
    if step is None:
        return None
    if app.approver_id == actor_id:
        return Acting(actor_id)
    if app.approver_id is not None:
        d = await routing.acting_for(session, actor_id, app.approver_id, ctx.today())
        if d is not None:
            principal = await session.get(Employee, app.approver_id)
            label = f"{d.kind}. {principal.jabatan or principal.full_name}" if principal else d.kind
            return Acting(actor_id, on_behalf_of_id=app.approver_id, label=label, via="delegation")
    if step.who == "pejabat":
        rule = app.data.get("pejabat_rule") or ""
        if rule.startswith("role:") and await _holds(session, actor_id, Role.APPROVER.value, rule[5:]):
            return Acting(actor_id, via="role")
    if step.queue_role and (app.approver_id is None or step.who in ("pejabat", "queue")):
        if await _holds(session, actor_id, *step.queue_role):
            return Acting(actor_id, via="role")
    return None


async def actionable(session: AsyncSession, ctx: Context, actor_id: int, limit: int = 30) -> list[Application]:
    """Pending applications this person may act on now (own steps, stand-ins, queues)."""
    rows = await session.execute(select(Application).where(Application.status == Status.PENDING)
                                 .order_by(Application.step_since).limit(2000))
    out: list[Application] = []
    for app in rows.scalars():
        if await can_act(session, ctx, app, actor_id):
            out.append(app)
            if len(out) >= limit:
                break
    return out


# ---- writing ----------------------------------------------------------------------------
async def submit(session: AsyncSession, ctx: Context, employee_id: int, type: str, data: dict[str, Any], *,
                 submit_key: str, actor_telegram_id: int | None = None) -> Submitted:
    existing = await _by_key(session, submit_key)
    if existing is not None:
        return Submitted(existing, created=False)
    emp = await session.get(Employee, employee_id)
    if emp is None or not emp.active:
        raise WorkflowError("pegawai", "Data kepegawaian Anda tidak ditemukan atau tidak aktif.")
    impl = type_of(type)
    td = ctx.types()[type]
    data = await impl.check_submit(session, ctx, emp, dict(data))
    route = await routing.resolve(session, td, emp, data)
    _, rule = await routing.resolve_pejabat(session, td, emp, data)
    data["route"] = [[s, a] for s, a in route.steps]
    data["pejabat_rule"] = rule.who if rule else None
    data["sop"] = route.sop
    first_step, first_approver = route.steps[0]
    now = ctx.now()
    app = Application(number=f"TMP-{uuid.uuid4().hex}"[:30], type=type, employee_id=emp.id, status=Status.PENDING,
                      step=first_step, approver_id=first_approver, data=data, submit_key=submit_key, version=1,
                      created_at=now, step_since=now)
    try:
        async with session.begin_nested():
            session.add(app)
            await session.flush()
    except IntegrityError:
        # The same form raced in twice (double tap on two instances): the other one won.
        existing = await _by_key(session, submit_key)
        if existing is None:
            raise
        return Submitted(existing, created=False)
    app.number = f"{td.prefix}-{now.astimezone(ctx.zone).year}-{app.id:06d}"
    event = _event(app, now, actor_id=emp.id, action="ajukan", step=None, from_status=None, to_status=Status.PENDING)
    session.add(event)
    audit.record(session, "application_submitted", actor_telegram_id=actor_telegram_id, employee_id=emp.id,
                 application=app.number)
    from services.applications import notify

    await notify.submitted(session, ctx, app, emp)
    await session.commit()
    return Submitted(app, created=True)


async def _by_key(session: AsyncSession, key: str) -> Application | None:
    return (await session.execute(select(Application).where(Application.submit_key == key))).scalar_one_or_none()


def _event(app: Application, now: datetime, *, actor_id: int | None, action: str, step: str | None,
           from_status: str | None, to_status: str, comment: str | None = None, data: dict[str, Any] | None = None,
           on_behalf_of_id: int | None = None, actor_label: str | None = None) -> ApplicationEvent:
    return ApplicationEvent(application_id=app.id, at=now, actor_id=actor_id, on_behalf_of_id=on_behalf_of_id,
                            actor_label=actor_label, step=step, action=action, from_status=from_status,
                            to_status=to_status, comment=comment, data=data or {})


async def _guarded_update(session: AsyncSession, app: Application, expected_version: int, expected_status: str,
                          **values: Any) -> None:
    res = await session.execute(
        update(Application)
        .where(Application.id == app.id, Application.version == expected_version, Application.status == expected_status)
        .values(version=expected_version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        await session.rollback()
        raise WorkflowError("sudah-diproses", "Permohonan ini baru saja diproses oleh orang lain; tidak ada yang diubah.")
    for k, v in values.items():
        setattr(app, k, v)
    app.version = expected_version + 1


async def check_act(session: AsyncSession, ctx: Context, app_id: int, actor_id: int, action: str, *,
                    version: int) -> tuple[Application, Acting, StepDef]:
    """Whether `actor_id` may take `action` on this version of the application now; raises
    WorkflowError saying why not. Handlers call it before asking for a reason or new dates, so
    a stale or forged button is refused at the press; act() checks again."""
    app = await session.get(Application, app_id, populate_existing=True)
    if app is None:
        raise WorkflowError("tidak-ada", "Permohonan tidak ditemukan.")
    if app.status != Status.PENDING:
        raise WorkflowError("sudah-selesai", f"Permohonan {app.number} sudah {STATUS_LABELS[Status(app.status)]}; "
                                             "tidak ada yang diubah.")
    if app.version != version:
        raise WorkflowError("kedaluwarsa", f"Tombol ini sudah tidak berlaku: permohonan {app.number} sudah "
                                           "berpindah tahap. Lihat pesan terbarunya.")
    acting = await can_act(session, ctx, app, actor_id)
    if acting is None:
        raise WorkflowError("bukan-wewenang", f"Anda tidak berwenang memproses permohonan {app.number} pada tahap ini.")
    td = ctx.types()[app.type]
    step = td.step(app.step)
    assert step is not None
    if action not in step.actions:
        raise WorkflowError("aksi-tidak-dikenal", "Pilihan itu tidak tersedia pada tahap ini.")
    return app, acting, step


async def act(session: AsyncSession, ctx: Context, app_id: int, actor_id: int, action: str, *, version: int,
              comment: str | None = None, change: dict[str, Any] | None = None,
              actor_telegram_id: int | None = None) -> Outcome:
    """An approver's action at the current step. Authorised here, whatever the button said."""
    app, acting, step = await check_act(session, ctx, app_id, actor_id, action, version=version)
    comment = (comment or "").strip() or None
    if action in NEEDS_COMMENT and not comment:
        raise WorkflowError("perlu-alasan", "Mohon tuliskan alasannya.")
    emp = await session.get(Employee, app.employee_id)
    assert emp is not None
    impl = type_of(app)
    data = dict(app.data)
    extra: dict[str, Any] = {}
    if action == "ubah":
        if not change:
            raise WorkflowError("perlu-perubahan", "Mohon tentukan perubahan yang diusulkan.")
        before = {k: data.get(k) for k in change}
        data = await impl.check_change(session, ctx, app, emp, change)
        extra = {"before": before, "after": {k: data.get(k) for k in change}}
    if action == "tangguh" and change:
        data["tangguh_sampai"] = change.get("until")
        extra["until"] = change.get("until")
    if action == "revisi":
        data["revisi"] = dict(change or {})
        extra["notes"] = dict(change or {})
    considerations = dict(data.get("considerations") or {})
    considerations[step.step] = {"action": action, "comment": comment, "actor_id": actor_id,
                                 "on_behalf_of_id": acting.on_behalf_of_id, "label": acting.label,
                                 "at": ctx.now().isoformat()}
    data["considerations"] = considerations

    now = ctx.now()
    final = action in step.final_on or _next_step(app, step) is None
    values: dict[str, Any] = {"data": data, "step_since": now}
    if action == "revisi":
        to_status = Status.REVISION
        values.update(approver_id=None)
    elif final:
        to_status = {"setuju": Status.APPROVED, "ubah": Status.APPROVED, "teruskan": Status.APPROVED,
                     "tangguh": Status.DEFERRED, "tolak": Status.REJECTED}[action]
        values.update(step=None, approver_id=None, decided_at=now)
    else:
        to_status = Status.PENDING
        nxt_step, nxt_approver = _next_step(app, step)  # type: ignore[misc]
        values.update(step=nxt_step, approver_id=nxt_approver)
    from_status, from_step = app.status, app.step
    await _guarded_update(session, app, version, Status.PENDING, status=to_status, **values)
    event = _event(app, now, actor_id=actor_id, action=action, step=from_step, from_status=from_status,
                   to_status=to_status, comment=comment, data=extra, on_behalf_of_id=acting.on_behalf_of_id,
                   actor_label=acting.label)
    session.add(event)
    await session.flush()
    audit.record(session, f"application_{action}", actor_telegram_id=actor_telegram_id, employee_id=app.employee_id,
                 application=app.number, step=from_step, actor_employee_id=actor_id,
                 on_behalf_of=acting.on_behalf_of_id)
    from services.applications import notify

    # The decision message first, then what follows from it (the letter), in outbox order.
    await notify.acted(session, ctx, app, emp, event)
    if to_status in (Status.APPROVED, Status.DEFERRED, Status.REJECTED):
        await impl.on_final(session, ctx, app, emp, to_status, event)
    await session.commit()
    return Outcome(app, event)


def _next_step(app: Application, step: StepDef) -> tuple[str, int | None] | None:
    route = [tuple(x) for x in app.data.get("route", [])]
    names = [s for s, _ in route]
    if step.step not in names:
        return None
    i = names.index(step.step)
    return (route[i + 1][0], route[i + 1][1]) if i + 1 < len(route) else None


async def withdraw(session: AsyncSession, ctx: Context, app_id: int, employee_id: int, *,
                   actor_telegram_id: int | None = None) -> Application:
    app = await session.get(Application, app_id, populate_existing=True)
    if app is None or app.employee_id != employee_id:
        raise WorkflowError("tidak-ada", "Permohonan tidak ditemukan.")
    if app.status not in OPEN:
        raise WorkflowError("sudah-selesai", f"Permohonan {app.number} sudah {STATUS_LABELS[Status(app.status)]}, "
                                             "tidak dapat dibatalkan lagi.")
    previous_approver, from_status, step = app.approver_id, app.status, app.step
    now = ctx.now()
    await _guarded_update(session, app, app.version, from_status, status=Status.WITHDRAWN, step=None, approver_id=None,
                          decided_at=now)
    event = _event(app, now, actor_id=employee_id, action="batal", step=step, from_status=from_status,
                   to_status=Status.WITHDRAWN)
    session.add(event)
    audit.record(session, "application_withdrawn", actor_telegram_id=actor_telegram_id, employee_id=employee_id,
                 application=app.number)
    emp = await session.get(Employee, employee_id)
    from services.applications import notify

    await notify.withdrawn(session, ctx, app, emp, previous_approver)
    await session.commit()
    return app


async def resubmit(session: AsyncSession, ctx: Context, app_id: int, employee_id: int, data: dict[str, Any], *,
                   actor_telegram_id: int | None = None) -> Application:
    """After a return for revision: the fixed request goes back to the step that returned it."""
    app = await session.get(Application, app_id, populate_existing=True)
    if app is None or app.employee_id != employee_id:
        raise WorkflowError("tidak-ada", "Permohonan tidak ditemukan.")
    if app.status != Status.REVISION:
        raise WorkflowError("bukan-revisi", f"Permohonan {app.number} tidak sedang menunggu perbaikan.")
    new = dict(app.data)
    new.update(data)
    new.pop("revisi", None)
    route = dict((s, a) for s, a in app.data.get("route", []))
    now = ctx.now()
    await _guarded_update(session, app, app.version, Status.REVISION, status=Status.PENDING, data=new,
                          approver_id=route.get(app.step), step_since=now)
    event = _event(app, now, actor_id=employee_id, action="perbaiki", step=app.step, from_status=Status.REVISION,
                   to_status=Status.PENDING)
    session.add(event)
    audit.record(session, "application_resubmitted", actor_telegram_id=actor_telegram_id, employee_id=employee_id,
                 application=app.number)
    emp = await session.get(Employee, employee_id)
    from services.applications import notify

    await notify.acted(session, ctx, app, emp, event)
    await session.commit()
    return app


async def overdue(session: AsyncSession, ctx: Context) -> list[Application]:
    """Pending applications that have waited at their step longer than the type allows."""
    out: list[Application] = []
    for name, td in ctx.types().items():
        cutoff = ctx.now() - timedelta(days=td.remind_after_days)
        rows = await session.execute(select(Application).where(
            Application.type == name, Application.status == Status.PENDING, Application.step_since <= cutoff))
        out += list(rows.scalars())
    return out


async def count_open(session: AsyncSession, employee_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(Application).where(
        Application.employee_id == employee_id, Application.status.in_(list(OPEN))))).scalar_one()


def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)
