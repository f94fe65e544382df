"""Read models of the personnel database used by the bot and the CLI."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Employee, EmploymentStatus, Role, StaffRole, Unit
from services.pangkat import pangkat_label

STATUS_LABEL = {
    EmploymentStatus.PNS: "PNS",
    EmploymentStatus.CPNS: "CPNS",
    EmploymentStatus.PPPK: "PPPK",
    EmploymentStatus.NON_PNS: "Non-PNS (tenaga kontrak)",
}


@dataclass(frozen=True)
class Profile:
    employee_id: int
    full_name: str
    short_name: str
    identifier_label: str  # "NIP", "NI PPPK" or "Nomor Non-PNS"
    identifier: str
    status: str
    unit: str
    opd: str | None
    jabatan: str | None
    jenis_jabatan: str | None
    eselon: str | None
    pangkat: str
    superior: str | None


def normalize_identifier(raw: str) -> str:
    """NIP / NI PPPK / Non-PNS number as stored: no spaces or dots, upper case."""
    return re.sub(r"[\s.]", "", raw).upper()


async def find_by_identifier(session: AsyncSession, identifier: str, *, active_only: bool = True) -> Employee | None:
    """The employee with this NIP, NI PPPK or Non-PNS number (spaces and dots allowed)."""
    key = normalize_identifier(identifier)
    if not key:
        return None
    stmt = select(Employee).where(or_(Employee.nip == key, Employee.nomor_non_pns == key))
    if active_only:
        stmt = stmt.where(Employee.active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


def _unit_path_statement() -> Select[tuple[Unit]]:
    unit_id = bindparam("unit_id")
    chain = select(Unit.id, Unit.parent_id, literal(0).label("depth")).where(Unit.id == unit_id).cte(
        "unit_chain", recursive=True)
    chain = chain.union_all(
        select(Unit.id, Unit.parent_id, chain.c.depth + 1)
        .join(chain, Unit.id == chain.c.parent_id)
        .where(chain.c.depth < 9))
    return select(Unit).join(chain, Unit.id == chain.c.id).order_by(chain.c.depth.desc())


# Built once: constructing this recursive query and its cache key cost ~3 ms of CPU per call,
# six times what running it costs (a profile step and most cuti form steps need it).
UNIT_PATH = _unit_path_statement()


async def unit_path(session: AsyncSession, unit_id: int) -> list[Unit]:
    """Units from the OPD down to `unit_id`, in one query (at most 10 levels, as a guard
    against a cycle in bad data)."""
    rows = await session.scalars(UNIT_PATH, {"unit_id": unit_id})
    return list(rows.all())


async def profile(session: AsyncSession, employee_id: int) -> Profile | None:
    from services.nip import format_nip  # local: keeps import cost off modules that need no NIP

    # By primary key: usually in the session already (the handler just looked up the linked
    # employee), so no query.
    emp = await session.get(Employee, employee_id)
    if emp is None:
        return None
    superior = await session.get(Employee, emp.superior_id) if emp.superior_id is not None else None
    path = await unit_path(session, emp.unit_id)
    if emp.nip:
        label = "NI PPPK" if emp.status == EmploymentStatus.PPPK else "NIP"
        ident = format_nip(emp.nip)
    else:
        label, ident = "Nomor Non-PNS", emp.nomor_non_pns or "-"
    return Profile(
        employee_id=emp.id,
        full_name=emp.full_name,
        short_name=emp.name,
        identifier_label=label,
        identifier=ident,
        status=STATUS_LABEL.get(EmploymentStatus(emp.status), emp.status),
        unit=path[-1].name if path else "-",
        opd=path[0].name if len(path) > 1 else None,
        jabatan=emp.jabatan,
        jenis_jabatan=emp.jenis_jabatan,
        eselon=emp.eselon,
        pangkat=pangkat_label(emp.golongan, emp.status),
        superior=superior.full_name if superior else None,
    )


async def roles_of(session: AsyncSession, employee_id: int) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(StaffRole.role, StaffRole.scope).where(StaffRole.employee_id == employee_id)
    )
    return [(r, s) for r, s in rows.all()]


async def has_role(session: AsyncSession, employee_id: int, role: Role, scope: str | None = None) -> bool:
    stmt = select(StaffRole.id).where(StaffRole.employee_id == employee_id, StaffRole.role == role.value)
    if scope is not None:
        stmt = stmt.where(StaffRole.scope.in_(["", scope]))
    return (await session.execute(stmt.limit(1))).first() is not None
