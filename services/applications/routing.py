"""Approval chains as data (services/data/<agency>/approval.yaml): which steps a request walks
and who is expected to act at each. Resolution reads the personnel database; authorisation
(services.applications.engine.can_act) re-checks everything when someone presses a button."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.agency import DEFAULT_AGENCY_DIR
from services.models import Delegation, Employee, Role, StaffRole, Unit

ACTION_LABELS = {
    "setuju": "Disetujui", "ubah": "Perubahan", "tangguh": "Ditangguhkan", "tolak": "Tidak disetujui",
    "teruskan": "Diteruskan", "revisi": "Dikembalikan untuk perbaikan",
}


@dataclass(frozen=True)
class StepDef:
    step: str
    who: str  # atasan / pejabat / queue
    actions: tuple[str, ...]
    queue_role: tuple[str, str] | None = None  # (role, scope)
    final_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class PejabatRule:
    when: dict[str, Any]
    who: str
    sop: str | None = None


@dataclass(frozen=True)
class TypeDef:
    type: str
    prefix: str
    steps: tuple[StepDef, ...]
    pejabat: tuple[PejabatRule, ...]
    remind_after_days: int = 2

    def step(self, name: str | None) -> StepDef | None:
        return next((s for s in self.steps if s.step == name), None)

    def index(self, name: str) -> int:
        return [s.step for s in self.steps].index(name)


@dataclass
class Route:
    """Who acts at each step for one request: employee ids (None = the step's queue)."""

    steps: list[tuple[str, int | None]] = field(default_factory=list)
    sop: str | None = None


def _role(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    role, _, scope = str(text).partition(":")
    return role, scope


def load_types(agency_dir: Path | None = None) -> dict[str, TypeDef]:
    raw = yaml.safe_load(((agency_dir or DEFAULT_AGENCY_DIR) / "approval.yaml").read_text(encoding="utf-8")) or {}
    types: dict[str, TypeDef] = {}
    for name, spec in raw.items():
        steps = tuple(
            StepDef(step=s["step"], who=s["who"], actions=tuple(s["actions"]), queue_role=_role(s.get("queue_role")),
                    final_on=tuple(s.get("final_on") or ()))
            for s in spec["steps"]
        )
        rules = tuple(PejabatRule(when=r.get("when") or {}, who=r["who"], sop=r.get("sop")) for r in spec.get("pejabat") or ())
        types[name] = TypeDef(type=name, prefix=spec.get("prefix", name.upper()), steps=steps, pejabat=rules,
                              remind_after_days=int(spec.get("remind_after_days", 2)))
    return types


def eselon_level(eselon: str | None) -> str | None:
    """"III.a" -> "III"."""
    return eselon.split(".")[0].strip().upper() if eselon else None


def rule_matches(rule: PejabatRule, emp: Employee, request: dict[str, Any]) -> bool:
    for key, want in rule.when.items():
        wants = want if isinstance(want, list) else [want]
        if key == "eselon":
            have: Any = eselon_level(emp.eselon)
        elif key == "abroad":
            have = bool(request.get("abroad"))
        elif key in ("jenis_jabatan", "status"):
            have = getattr(emp, key)
        else:
            have = request.get(key)
        if have not in wants:
            return False
    return True


async def _opd_of(session: AsyncSession, unit_id: int) -> int:
    current, seen = unit_id, set()
    while current not in seen:
        seen.add(current)
        unit = await session.get(Unit, current)
        if unit is None or unit.parent_id is None:
            return current
        current = unit.parent_id
    return current


async def kepala_opd(session: AsyncSession, emp: Employee) -> int | None:
    """The highest person up the superior chain still inside the applicant's OPD."""
    opd = await _opd_of(session, emp.unit_id)
    head, current, seen = None, emp.superior_id, {emp.id}
    while current is not None and current not in seen:
        seen.add(current)
        boss = await session.get(Employee, current)
        if boss is None or await _opd_of(session, boss.unit_id) != opd:
            break
        if boss.active:
            head = boss.id
        current = boss.superior_id
    return head


async def role_holders(session: AsyncSession, role: str, scope: str) -> list[int]:
    rows = await session.execute(
        select(StaffRole.employee_id).join(Employee, Employee.id == StaffRole.employee_id)
        .where(StaffRole.role == role, StaffRole.scope.in_(["", scope]) if role != Role.APPROVER else StaffRole.scope == scope,
               Employee.active.is_(True))
        .order_by(StaffRole.id)
    )
    return [r for (r,) in rows.all()]


async def resolve_pejabat(session: AsyncSession, td: TypeDef, emp: Employee, request: dict[str, Any]) -> tuple[int | None, PejabatRule | None]:
    for rule in td.pejabat:
        if not rule_matches(rule, emp, request):
            continue
        who: int | None = None
        if rule.who == "kepala-opd":
            who = await kepala_opd(session, emp)
        elif rule.who.startswith("role:"):
            holders = await role_holders(session, Role.APPROVER.value, rule.who[5:])
            who = holders[0] if holders else None
        elif rule.who.startswith("nip:"):
            who = (await session.execute(select(Employee.id).where(Employee.nip == rule.who[4:]))).scalar_one_or_none()
        if who == emp.id:  # nobody approves their own leave: fall to the step's queue
            who = None
        return who, rule
    return None, None


async def resolve(session: AsyncSession, td: TypeDef, emp: Employee, request: dict[str, Any]) -> Route:
    pejabat, rule = await resolve_pejabat(session, td, emp, request)
    route = Route(sop=rule.sop if rule else None)
    for i, s in enumerate(td.steps):
        if s.who == "atasan":
            atasan = emp.superior_id
            nxt = td.steps[i + 1] if i + 1 < len(td.steps) else None
            # No superior recorded, or the superior is also the deciding official: one step.
            if atasan is None or (nxt is not None and nxt.who == "pejabat" and atasan == pejabat):
                continue
            route.steps.append((s.step, atasan))
        elif s.who == "pejabat":
            route.steps.append((s.step, pejabat))
        else:
            route.steps.append((s.step, None))
    return route


async def acting_for(session: AsyncSession, actor_id: int, principal_id: int, today: date) -> Delegation | None:
    """The Plt/Plh delegation that lets `actor_id` act for `principal_id` today, if any."""
    return (await session.execute(
        select(Delegation).where(
            Delegation.principal_id == principal_id, Delegation.acting_id == actor_id, Delegation.revoked_at.is_(None),
            Delegation.starts_on <= today, Delegation.ends_on >= today,
        ).limit(1)
    )).scalar_one_or_none()


async def delegates_of(session: AsyncSession, principal_id: int, today: date) -> list[int]:
    rows = await session.execute(
        select(Delegation.acting_id).where(
            Delegation.principal_id == principal_id, Delegation.revoked_at.is_(None),
            Delegation.starts_on <= today, Delegation.ends_on >= today,
        )
    )
    return [r for (r,) in rows.all()]
