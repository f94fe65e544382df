"""Staff roles (admin, verifier per bidang, broadcaster, approver)."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.audit import Action
from services.employees import find_by_identifier
from services.models import Employee, Role, StaffRole


class RoleError(ValueError):
    pass


async def _employee(session: AsyncSession, identifier: str) -> Employee:
    emp = await find_by_identifier(session, identifier, active_only=False)
    if emp is None:
        raise RoleError(f"Tidak ada pegawai dengan NIP/nomor {identifier}.")
    return emp


def _role(name: str) -> Role:
    try:
        return Role(name.lower())
    except ValueError:
        raise RoleError(f"Peran tidak dikenal: {name}. Pilihan: {', '.join(r.value for r in Role)}.") from None


async def grant(session: AsyncSession, identifier: str, role: str, scope: str, *, granted_by: str) -> None:
    r = _role(role)
    emp = await _employee(session, identifier)
    exists = (
        await session.execute(
            select(StaffRole.id).where(StaffRole.employee_id == emp.id, StaffRole.role == r.value, StaffRole.scope == scope)
        )
    ).first()
    if exists:
        return
    session.add(StaffRole(employee_id=emp.id, role=r.value, scope=scope, granted_by=granted_by))
    audit.record(session, Action.ROLE_GRANTED, actor=granted_by, employee_id=emp.id, role=r.value, scope=scope)
    await session.commit()


async def revoke(session: AsyncSession, identifier: str, role: str, scope: str, *, revoked_by: str) -> bool:
    r = _role(role)
    emp = await _employee(session, identifier)
    res = await session.execute(
        delete(StaffRole).where(StaffRole.employee_id == emp.id, StaffRole.role == r.value, StaffRole.scope == scope)
    )
    if res.rowcount:
        audit.record(session, Action.ROLE_REVOKED, actor=revoked_by, employee_id=emp.id, role=r.value, scope=scope)
    await session.commit()
    return bool(res.rowcount)


async def list_roles(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        select(Employee.nip, Employee.nomor_non_pns, Employee.name, StaffRole.role, StaffRole.scope)
        .join(StaffRole, StaffRole.employee_id == Employee.id)
        .order_by(StaffRole.role, Employee.name)
    )
    return [f"{r}\t{s or '*'}\t{nip or non}\t{name}" for nip, non, name, r, s in rows.all()]
