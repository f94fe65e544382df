"""Cuti as an application type: the form is checked with the same quote as `asnbot cuti quote`,
an approver's "perubahan" is re-quoted, and the decision writes the ledger and the letter."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.applications.engine import ApplicationType, Context, Status, WorkflowError, esc
from services.cuti import rules
from services.letters import format_date
from services.cuti.config import load_config
from services.cuti.quote import Quote, ledger_lines, make_quote, unit_chain_work_days
from services.cuti.rules import Applicant, LeavePeriod, Request
from services.models import Application, ApplicationEvent, ApplicationFile, CutiLedgerEntry, Employee

TYPE = "cuti"
# Statuses whose dates are taken: a pending request blocks the same days as an approved one.
HOLDING = (Status.PENDING, Status.REVISION, Status.APPROVED)
# Built once: most cuti form steps run it (see services/employees.py UNIT_PATH).
HELD_LEAVE = select(Application).where(
    Application.employee_id == bindparam("employee_id"), Application.type == TYPE,
    Application.status.in_(list(HOLDING)))


async def leave_periods(session: AsyncSession, employee_id: int, *, exclude_app_id: int | None = None) -> list[LeavePeriod]:
    rows = await session.execute(HELD_LEAVE, {"employee_id": employee_id})
    out = []
    for app in rows.scalars():
        if app.id == exclude_app_id:
            continue
        d = app.data
        out.append(LeavePeriod(d["kind"], date.fromisoformat(d["start"]), date.fromisoformat(d["end"])))
    return out


def request_from(data: dict[str, Any]) -> Request:
    try:
        return Request(kind=data["kind"], start=date.fromisoformat(data["start"]), end=date.fromisoformat(data["end"]),
                       abroad=bool(data.get("abroad")), reason=data.get("reason_code"),
                       birth_order=data.get("birth_order"))
    except (KeyError, TypeError, ValueError):
        raise WorkflowError("data-tidak-lengkap", "Data permohonan cuti belum lengkap.") from None


async def quote_for(session: AsyncSession, ctx: Context, emp: Employee, req: Request, *,
                    exclude_app_id: int | None = None) -> Quote:
    existing = await leave_periods(session, emp.id, exclude_app_id=exclude_app_id)
    ledger = await ledger_lines(session, emp.id, req.start.year - 2)
    work_days = await unit_chain_work_days(session, emp.unit_id)
    return make_quote(Applicant.from_employee(emp, ctx.today()), req, work_days=work_days, ledger=ledger,
                      existing=existing, config=load_config(ctx.agency_dir))


def _reasons(kind: str, emp: Employee) -> tuple[str | None, ...]:
    """Reason codes that change a rule for this kind (rules.Request.reason)."""
    if kind == "besar":
        return (None, rules.HAJI_PERTAMA) + ((rules.MELAHIRKAN_KE_4,) if emp.sex == "P" else ())
    if kind == "sakit" and emp.sex == "P":
        return (None, rules.GUGUR_KANDUNGAN)
    return (None,)


Probe = dict[str, dict[str | None, list[rules.Problem]]]  # kind -> reason -> who-may-take-it problems


async def _probe(session: AsyncSession, ctx: Context, emp: Employee) -> Probe:
    """Who-may-take-it problems per kind and reason, for a one-day request tomorrow."""
    config = load_config(ctx.agency_dir)
    existing = await leave_periods(session, emp.id)
    a = Applicant.from_employee(emp, ctx.today())
    probe_day = ctx.today() + timedelta(days=1)
    out: Probe = {}
    for kind in rules.KINDS:
        out[kind] = {}
        for reason in _reasons(kind, emp):
            req = Request(kind=kind, start=probe_day, end=probe_day, reason=reason)
            # Only who-may-take-it refusals hide a kind; length or timing problems show up later.
            out[kind][reason] = [p for p in rules.check_eligibility(a, req, existing, config)
                                 if p.blocking and p.code != "besar-belum-5-tahun"]
    return out


async def kinds_for(session: AsyncSession, ctx: Context, emp: Employee) -> list[str]:
    """The kinds this person may take at all (status, service, sex): offered on the menu. A kind
    counts when any of its reasons allows it (cuti besar for a first hajj before 5 years)."""
    probe = await _probe(session, ctx, emp)
    return [k for k in rules.KINDS if any(not problems for problems in probe[k].values())]


async def reasons_for(session: AsyncSession, ctx: Context, emp: Employee, kind: str) -> list[str | None]:
    """The reason codes under which this person may take `kind` (None: no particular reason)."""
    probe = await _probe(session, ctx, emp)
    return [r for r, problems in probe.get(kind, {}).items() if not problems]


async def refusals_for(session: AsyncSession, ctx: Context, emp: Employee) -> dict[str, str]:
    """Why each kind not offered is refused: its rule and basis, for the user."""
    probe = await _probe(session, ctx, emp)
    out = {}
    for kind, by_reason in probe.items():
        if all(by_reason.values()):
            out[kind] = by_reason[None][0].message
    return out


def date_bounds(ctx: Context, kind: str) -> tuple[date, date]:
    """Earliest and latest start date the rules accept for `kind` (to bound the calendar)."""
    config = load_config(ctx.agency_dir)
    today = ctx.today()
    past = config.per_kind("past_days_allowed", kind)
    ahead = int(config.get("apply_window", "max_days_ahead", default=365))
    return today - timedelta(days=past), today + timedelta(days=ahead)


async def off_days(session: AsyncSession, ctx: Context, emp: Employee, first: date, last: date) -> set[date]:
    """Days in [first, last] that are not working days of the employee's unit (weekends of its
    working week, national holidays, cuti bersama), to mark on the calendar."""
    from services.cuti.calendar import build_calendar

    cal = build_calendar(await unit_chain_work_days(session, emp.unit_id), first, last, load_config(ctx.agency_dir))
    return {e.date for e in cal.count(first, last)[1]}


def documents_needed(q: Quote) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in q.problems if not p.blocking and p.code.startswith("dokumen-")]


class CutiType(ApplicationType):
    name = TYPE
    title = "permohonan cuti"

    async def check_submit(self, session: AsyncSession, ctx: Context, emp: Employee, data: dict[str, Any]) -> dict[str, Any]:
        req = request_from(data)
        q = await quote_for(session, ctx, emp, req)
        blocking = [p for p in q.problems if p.blocking]
        if blocking:
            raise WorkflowError(blocking[0].code, " ".join(p.message for p in blocking))
        files = data.get("files") or {}
        missing = [msg for code, msg in documents_needed(q) if code not in files]
        if missing:
            raise WorkflowError("lampiran-kurang", "Lampiran belum lengkap. " + " ".join(missing))
        for key, file_id in files.items():
            f = await session.get(ApplicationFile, file_id)
            if f is None or f.employee_id != emp.id:
                raise WorkflowError("lampiran-tidak-sah", "Lampiran tidak ditemukan; mohon unggah ulang.")
        if not (data.get("alasan") or "").strip():
            raise WorkflowError("alasan-kosong", "Mohon tuliskan alasan cuti.")
        return self._with_quote(data, q)

    @staticmethod
    def _with_quote(data: dict[str, Any], q: Quote) -> dict[str, Any]:
        data = dict(data)
        data["working_days"] = q.working_days
        data["balance_before"] = q.balance_before
        data["balance_after"] = q.balance_after
        if q.balance is not None:
            b = q.balance
            data["balance_split"] = {"year": b.year, "n2": b.n2, "n1": b.n1, "n": b.n}
        data["flags"] = [p.message for p in q.problems if not p.blocking and not p.code.startswith("dokumen-")]
        data["excluded"] = [[e.date.isoformat(), e.reason] for e in q.excluded]
        return data

    async def check_change(self, session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                           change: dict[str, Any]) -> dict[str, Any]:
        data = dict(app.data)
        data.update({k: change[k] for k in ("start", "end") if k in change})
        req = request_from(data)
        q = await quote_for(session, ctx, emp, req, exclude_app_id=app.id)
        # The approver may shorten or move the leave, but not beyond what the rules allow.
        blocking = [p for p in q.problems if p.blocking and p.code not in ("tanggal-lampau",)]
        if blocking:
            raise WorkflowError(blocking[0].code, "Perubahan tidak dapat diterapkan: " + " ".join(p.message for p in blocking))
        return self._with_quote(data, q)

    def describe(self, app: Application) -> list[str]:
        d = app.data
        start, end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
        lines = [f"Jenis: {esc(rules.KIND_NAMES[d['kind']].capitalize())}",
                 f"Tanggal: {format_date(start)} s.d. {format_date(end)} ({d.get('working_days', '?')} hari kerja)"]
        if d.get("balance_after") is not None and d["kind"] == "tahunan":
            lines.append(f"Sisa cuti tahunan: {d['balance_before']} → {d['balance_after']} hari")
        lines.append(f"Alasan: {esc(d.get('alasan') or '-')}")
        if d.get("alamat"):
            lines.append(f"Alamat selama cuti: {esc(d['alamat'])}")
        if d.get("telepon"):
            lines.append(f"Telepon: {esc(d['telepon'])}")
        if d.get("abroad"):
            lines.append("⚠️ Dijalani di luar negeri: perlu persetujuan PPK atau pejabat yang dikuasakan.")
        if d.get("files"):
            lines.append(f"Lampiran: {len(d['files'])} berkas")
        return lines

    async def on_final(self, session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                       status: Status, event: ApplicationEvent) -> None:
        d = app.data
        start, end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
        if d["kind"] == "tahunan" and status in (Status.APPROVED, Status.DEFERRED):
            await _ledger_for(session, ctx, app, emp, start, end, status)
        if status == Status.APPROVED:
            await issue_letter(session, ctx, app, emp)


async def issue_letter(session: AsyncSession, ctx: Context, app: Application, emp: Employee) -> None:
    from services import letters
    from services.applications import letter_issue as li

    d = app.data
    today = ctx.today()
    considerations = d.get("considerations") or {}
    rows = []
    split = d.get("balance_split")
    if split:
        y = split["year"]
        rows = [letters.CatatanCutiRow(f"N-2 ({y - 2})", split["n2"]), letters.CatatanCutiRow(f"N-1 ({y - 1})", split["n1"]),
                letters.CatatanCutiRow(f"N ({y})", split["n"],
                                       f"sisa setelah cuti ini: {d['balance_after']} hari" if d["kind"] == "tahunan" else "")]
    data = dict(
        number=app.number, issued_on=today, agency=li.agency_of(ctx), employee=await li.letter_employee(session, emp, today),
        jenis_cuti=rules.KIND_NAMES[d["kind"]].title(), alasan=d.get("alasan") or "-",
        lamanya=f"{d.get('working_days')} hari kerja", mulai=date.fromisoformat(d["start"]),
        selesai=date.fromisoformat(d["end"]), alamat_selama_cuti=d.get("alamat") or "-", telepon=d.get("telepon") or "-",
        catatan_cuti=rows, pertimbangan_atasan=await li.decision_of(session, considerations.get("atasan")),
        keputusan_pejabat=await li.decision_of(session, considerations.get("pejabat")),
        submitted_on=app.created_at.astimezone(ctx.zone).date(),
    )
    await li.issue(session, ctx, app, emp, lambda code, hint, url: letters.render_cuti_letter(
        letters.CutiLetter(**data, verify_code=code, verify_hint=hint, verify_url=url)))


async def _ledger_for(session: AsyncSession, ctx: Context, app: Application, emp: Employee, start: date, end: date,
                      status: Status) -> None:
    """Approved: the days are used, oldest bucket first (N-2, N-1, then N), per leave year.
    Deferred: the days move whole into next year, not cut by the carry-over cap."""
    config = load_config(ctx.agency_dir)
    today = ctx.today()
    work_days = await unit_chain_work_days(session, emp.unit_id)
    from services.cuti.calendar import build_calendar
    from services.cuti.balance import compute_balance
    from services.cuti.quote import carry_rules

    years = range(start.year, end.year + 1)
    for year in years:
        lo, hi = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
        cal = build_calendar(work_days, lo, hi, config)
        days, _ = cal.count(lo, hi)
        if days <= 0:
            continue
        source = app.number
        if status == Status.DEFERRED:
            session.add(CutiLedgerEntry(employee_id=emp.id, year=year, kind="tangguh", days=-days, effective_date=today,
                                        note="ditangguhkan", source=source))
            session.add(CutiLedgerEntry(employee_id=emp.id, year=year + 1, kind="tangguh", days=days, effective_date=today,
                                        note=f"penangguhan dari {year}", source=source))
            continue
        ledger = await ledger_lines(session, emp.id, year - 2)
        bal = compute_balance(ledger, year, rules=carry_rules(config, emp.status), default_hak=12)
        take = {year - 2: min(bal.n2, days)}
        take[year - 1] = min(bal.n1, days - take[year - 2])
        take[year] = days - take[year - 2] - take[year - 1]  # may exceed N only if the rules allowed it
        if not any(x.year == year and x.kind in ("hak", "saldo-awal") for x in ledger):
            # First movement of the year: record the entitlement the balance assumed.
            session.add(CutiLedgerEntry(employee_id=emp.id, year=year, kind="hak", days=12,
                                        effective_date=date(year, 1, 1), note="hak tahun berjalan", source=source))
        for bucket, n in take.items():
            if n > 0:
                session.add(CutiLedgerEntry(employee_id=emp.id, year=bucket, kind="pakai", days=-n,
                                            effective_date=max(lo, date(year, 1, 1)), note="cuti tahunan",
                                            source=source))
