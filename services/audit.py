"""Audit trail: who linked, unlinked, failed to verify, issued a code, imported data."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.models import AuditLog


class Action:
    LINKED = "linked"
    UNLINKED = "unlinked"
    LINK_FAILED = "link_failed"
    LINK_CODE_ISSUED = "link_code_issued"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    IMPORT = "import_pegawai"
    SEED = "seed_demo"


def record(
    session: AsyncSession,
    action: str,
    *,
    actor_telegram_id: int | None = None,
    actor: str | None = None,
    employee_id: int | None = None,
    **detail: Any,
) -> AuditLog:
    # Detail holds reasons and ids only: never a NIK, phone number or message text.
    entry = AuditLog(
        action=action, actor_telegram_id=actor_telegram_id, actor=actor, employee_id=employee_id, detail=detail
    )
    session.add(entry)
    return entry
