"""Acting officials (Plt/Plh) set by staff: who stands in for an approver, and when. The
engine (routing.acting_for) reads these rows when someone presses a button; here they are
created, listed and revoked, each change audited."""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services import audit, outbox
from services.employees import find_by_identifier
from services.models import Delegation, Employee, utcnow

KINDS = ("Plt", "Plh")
# A stand-in is for an absence, not a reorganisation: longer needs a new decree and a new entry.
MAX_DAYS = 366


class DelegationError(ValueError):
    """Refused; the message is Indonesian, for staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DelegationView:
    id: int
    kind: str
    principal_name: str
    principal_nip: str
    principal_jabatan: str | None
    acting_name: str
    acting_nip: str
    starts_on: date
    ends_on: date
    created_by: str
    revoked_at: datetime | None


def normalize_kind(kind: str | None) -> str:
    k = (kind or "Plh").strip().rstrip(".").capitalize()
    if k not in KINDS:
        raise DelegationError("Jenis harus Plt atau Plh.")
    return k


async def _employee(session: AsyncSession, identifier: str, role: str) -> Employee:
    emp = await find_by_identifier(session, identifier)
    if emp is None:
        raise DelegationError(f"Tidak ada pegawai aktif dengan NIP/nomor {identifier} ({role}).")
    return emp


async def add(session: AsyncSession, *, principal: str, acting: str, starts_on: date, ends_on: date,
              kind: str = "Plh", created_by: str, today: date, actor_telegram_id: int | None = None) -> Delegation:
    """`principal` (the pejabat) is stood in for by `acting` from starts_on to ends_on inclusive.
    The stand-in is told through the outbox, since requests may already be waiting for them."""
    kind = normalize_kind(kind)
    p = await _employee(session, principal, "pejabat")
    a = await _employee(session, acting, "pelaksana")
    if p.id == a.id:
        raise DelegationError("Pejabat dan pelaksana tidak boleh orang yang sama.")
    if ends_on < starts_on:
        raise DelegationError("Tanggal selesai tidak boleh sebelum tanggal mulai.")
    if ends_on < today:
        raise DelegationError("Masa penugasan sudah lewat.")
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise DelegationError(f"Masa penugasan paling lama {MAX_DAYS} hari; untuk lebih lama buat penugasan baru.")
    overlap = (await session.execute(select(Delegation.id).where(
        Delegation.principal_id == p.id, Delegation.acting_id == a.id, Delegation.revoked_at.is_(None),
        Delegation.starts_on <= ends_on, Delegation.ends_on >= starts_on).limit(1))).scalar_one_or_none()
    if overlap is not None:
        raise DelegationError(f"Penugasan yang sama untuk masa itu sudah ada (nomor {overlap}).")
    d = Delegation(principal_id=p.id, acting_id=a.id, kind=kind, starts_on=starts_on, ends_on=ends_on,
                   created_by=created_by[:80])
    session.add(d)
    await session.flush()
    audit.record(session, "delegation_added", actor=created_by[:80], actor_telegram_id=actor_telegram_id,
                 employee_id=a.id, delegation=d.id, principal_id=p.id, kind=kind,
                 starts_on=starts_on.isoformat(), ends_on=ends_on.isoformat())
    await outbox.enqueue_for_employee(
        session, a.id, dedupe_key=f"delegation:{d.id}:added",
        text=(f"ℹ️ Anda ditugaskan sebagai <b>{kind}. {html.escape(p.jabatan or p.full_name, quote=False)}</b> "
              f"(atas nama {html.escape(p.full_name, quote=False)}) dari {starts_on:%d-%m-%Y} s.d. {ends_on:%d-%m-%Y}.\n"
              "Permohonan yang menunggu keputusan beliau dapat Anda proses; ketik /antrian untuk melihatnya."))
    await session.commit()
    return d


async def revoke(session: AsyncSession, delegation_id: int, *, revoked_by: str,
                 actor_telegram_id: int | None = None) -> Delegation:
    d = await session.get(Delegation, delegation_id)
    if d is None:
        raise DelegationError(f"Penugasan nomor {delegation_id} tidak ditemukan.")
    if d.revoked_at is not None:
        raise DelegationError(f"Penugasan nomor {delegation_id} sudah dicabut.")
    d.revoked_at = utcnow()
    audit.record(session, "delegation_revoked", actor=revoked_by[:80], actor_telegram_id=actor_telegram_id,
                 employee_id=d.acting_id, delegation=d.id, principal_id=d.principal_id)
    await session.commit()
    return d


async def list_delegations(session: AsyncSession, *, today: date, include_past: bool = False) -> list[DelegationView]:
    """Current and future stand-ins (with include_past: every one ever set, revoked included)."""
    p, a = aliased(Employee), aliased(Employee)
    stmt = (select(Delegation, p, a).join(p, p.id == Delegation.principal_id).join(a, a.id == Delegation.acting_id)
            .order_by(Delegation.starts_on, Delegation.id))
    if not include_past:
        stmt = stmt.where(Delegation.revoked_at.is_(None), Delegation.ends_on >= today)
    rows = await session.execute(stmt)
    return [DelegationView(id=d.id, kind=d.kind, principal_name=pe.full_name, principal_nip=pe.nip or pe.nomor_non_pns or "",
                           principal_jabatan=pe.jabatan, acting_name=ae.full_name,
                           acting_nip=ae.nip or ae.nomor_non_pns or "", starts_on=d.starts_on, ends_on=d.ends_on,
                           created_by=d.created_by, revoked_at=d.revoked_at)
            for d, pe, ae in rows.all()]
