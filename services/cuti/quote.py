"""A cuti quote: what a request would mean, without filing anything. The pure `make_quote`
combines calendar, rules and balance; `quote` loads the employee, unit chain and ledger."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.cuti import rules
from services.cuti.balance import Balance, CarryRules, LedgerLine, compute_balance
from services.cuti.calendar import Excluded, build_calendar, unit_work_days
from services.cuti.config import CutiConfig, load_config
from services.cuti.rules import Applicant, LeavePeriod, Problem, Request
from services.employees import find_by_identifier, unit_path
from services.models import CutiLedgerEntry, Employee


class QuoteError(Exception):
    """The request cannot be quoted at all (unknown employee or kind)."""


@dataclass
class Quote:
    eligible: bool
    working_days: int
    excluded: list[Excluded]
    balance_before: int | None
    balance_after: int | None
    problems: list[Problem]
    balance: Balance | None = None  # split N-2 / N-1 / N before the request
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "working_days": self.working_days,
            "excluded": [{"date": e.date.isoformat(), "reason": e.reason} for e in self.excluded],
            "balance_before": self.balance_before,
            "balance_after": self.balance_after,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
        }


def carry_rules(config: CutiConfig, status: str) -> CarryRules:
    t = lambda key, default: config.get("tahunan", key, default=default)
    same = status != "PPPK" or bool(t("pppk_same_carry_caps", True))
    return CarryRules(
        max_n1=int(t("carry_max_n1", 6)) if same else 0,
        max_n2=int(t("carry_max_n2", 6)) if same else 0,
        n2_requires_no_use=bool(t("n2_requires_no_use", True)),
        tambah_carries_over=bool(t("tambah_carries_over", False)),
    )


def make_quote(a: Applicant, req: Request, *, work_days: str | None, ledger: Iterable[LedgerLine],
               existing: Iterable[LeavePeriod] = (), config: CutiConfig) -> Quote:
    if req.kind not in rules.KINDS:
        raise QuoteError(f"Jenis cuti tidak dikenal: {req.kind} (pilihan: {', '.join(rules.KINDS)}).")
    existing, ledger = list(existing), list(ledger)
    problems = rules.check_dates(req, a.today, config)
    if problems and problems[0].code == "tanggal-terbalik":
        return Quote(False, 0, [], None, None, problems)

    cal = build_calendar(work_days, req.start, req.end, config)
    if req.kind == "bersama":
        days, excluded = cal.count(req.start, req.end, count_cuti_bersama=True)
        not_bersama = [d for d in _dates(req) if cal.reason_off(d) is None]
    else:
        days, excluded = cal.count(req.start, req.end)
        not_bersama = []

    year = req.start.year
    before = after = None
    balance = None
    if a.status != "NON-PNS" and req.kind in ("tahunan", "besar"):
        entitled = a.tmt_cpns is not None and rules.full_years(a.tmt_cpns, req.start) >= 1
        besar_now = any(p.kind == "besar" and p.start.year <= year <= p.end.year for p in existing)
        cr = carry_rules(config, a.status)
        default_hak = 12 if entitled else None
        balance = compute_balance(ledger, year, rules=cr, besar_in_year=besar_now, default_hak=default_hak)
        before = balance.total
        if req.kind == "besar":
            after = compute_balance(ledger, year, rules=cr, besar_in_year=True, default_hak=default_hak).total
        else:
            after = before - days

    problems += rules.check_overlap(req, existing)
    eligibility = rules.check_eligibility(a, req, existing, config)
    problems += eligibility
    problems += rules.check_length(a, req, days, existing, config)
    # Not entitled at all: "balance too low" would only repeat the refusal.
    problems += rules.check_tahunan(req, days, None if eligibility else before, config)
    problems += rules.check_bersama(req, not_bersama)
    used = -sum(x.days for x in ledger if x.kind == "pakai" and x.effective_date.year == year)
    problems += rules.besar_shortening(req, used)
    problems += rules.documents(a, req, config)
    problems += rules.abroad_flag(req)

    eligible = not any(p.blocking for p in problems)
    if not eligible and req.kind == "tahunan":
        after = None  # nothing would be taken
    return Quote(eligible, days, excluded, before, after, problems, balance=balance)


def _dates(req: Request) -> list[date]:
    return [req.start + timedelta(days=i) for i in range((req.end - req.start).days + 1)]


async def unit_chain_work_days(session: AsyncSession, unit_id: int) -> str:
    # One query for the whole chain (a form step asks for it; one lookup per level cost a round
    # trip each). unit_path runs from the OPD down; the unit's own setting comes first here.
    chain = [u.work_days for u in reversed(await unit_path(session, unit_id))]
    return unit_work_days(chain)


# Built once: most cuti form steps run it (see services/employees.py UNIT_PATH).
LEDGER_SINCE = select(CutiLedgerEntry).where(
    CutiLedgerEntry.employee_id == bindparam("employee_id"), CutiLedgerEntry.year >= bindparam("since_year"))


async def ledger_lines(session: AsyncSession, employee_id: int, since_year: int) -> list[LedgerLine]:
    """The employee's cuti ledger from `since_year` on."""
    rows = (await session.execute(LEDGER_SINCE, {"employee_id": employee_id, "since_year": since_year})).scalars()
    return [LedgerLine(r.year, r.kind, r.days, r.effective_date) for r in rows]


async def quote(session: AsyncSession, identifier: str, req: Request, *, today: date,
                existing: Iterable[LeavePeriod] = (), agency_dir: Path | None = None) -> Quote:
    """Quote for an active employee by NIP (spaces allowed) or Non-PNS number."""
    employee = await find_by_identifier(session, identifier)
    if employee is None:
        raise QuoteError(f"Tidak ada pegawai aktif dengan NIP/nomor {identifier}.")
    work_days = await unit_chain_work_days(session, employee.unit_id)
    ledger = await ledger_lines(session, employee.id, req.start.year - 2)
    return make_quote(Applicant.from_employee(employee, today), req, work_days=work_days, ledger=ledger,
                      existing=existing, config=load_config(agency_dir))


def format_text(q: Quote, req: Request) -> str:
    """The quote in Indonesian, for the terminal."""
    lines = [
        f"{rules.KIND_NAMES[req.kind].capitalize()} {req.start:%d-%m-%Y} s.d. {req.end:%d-%m-%Y}: "
        + ("DAPAT diajukan." if q.eligible else "TIDAK dapat diajukan."),
        f"Hari kerja dihitung: {q.working_days}",
    ]
    if q.excluded:
        lines.append("Tanggal yang tidak dihitung:")
        lines += [f"- {e.date:%d-%m-%Y}: {e.reason}" for e in q.excluded]
    if q.balance is not None:
        b = q.balance
        lines.append(f"Sisa cuti tahunan sebelum: {q.balance_before} hari "
                     f"(N-2 {b.year - 2}: {b.n2}, N-1 {b.year - 1}: {b.n1}, N {b.year}: {b.n})")
        if q.balance_after is not None:
            lines.append(f"Sisa cuti tahunan sesudah: {q.balance_after} hari")
    if q.problems:
        lines.append("Catatan:")
        lines += [f"- [{p.code}] {p.message}" for p in q.problems]
    return "\n".join(lines)


@dataclass(frozen=True)
class AnnualBalance:
    balance: Balance | None  # None: not entitled (e.g. less than 1 year of service, or Non-PNS)
    has_ledger: bool  # False: nothing imported or recorded yet, so the figure is the bare entitlement


async def annual_balance(session: AsyncSession, employee: Employee, *, today: date,
                         agency_dir: Path | None = None) -> AnnualBalance:
    """The employee's cuti tahunan balance today, split N-2 / N-1 / N (for "sisa cuti saya")."""
    if employee.status == "NON-PNS":
        return AnnualBalance(None, False)
    config = load_config(agency_dir)
    ledger = await ledger_lines(session, employee.id, today.year - 2)
    entitled = employee.tmt_cpns is not None and rules.full_years(employee.tmt_cpns, today) >= 1
    if not entitled:
        return AnnualBalance(None, bool(ledger))
    balance = compute_balance(ledger, today.year, rules=carry_rules(config, employee.status), default_hak=12)
    return AnnualBalance(balance, bool(ledger))
