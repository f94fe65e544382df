"""Documents an applicant uploads while filling a form: kept as ApplicationFile rows before the
application exists (application_id NULL), then tied to it once it is filed."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.files import StoredBlob
from services.models import Application, ApplicationFile


async def record_upload(session: AsyncSession, *, employee_id: int, doc_key: str, label: str, blob: StoredBlob,
                        file_name: str | None, telegram_file_id: str | None) -> ApplicationFile:
    """One checked, stored document (services.files.store) of an employee; committed."""
    row = ApplicationFile(employee_id=employee_id, doc_key=doc_key, label=label[:300],
                          file_name=(file_name or None) and file_name[:200], mime=blob.mime, size=blob.size,
                          sha256=blob.sha256, path=blob.path, telegram_file_id=telegram_file_id)
    session.add(row)
    await session.commit()
    return row


async def attach_files(session: AsyncSession, app: Application, file_ids: Iterable[int]) -> int:
    """Tie the applicant's own, still unattached uploads to the filed application; committed.
    Returns how many rows were tied (a repeated call ties none)."""
    ids = [int(i) for i in file_ids]
    if not ids:
        return 0
    res = await session.execute(
        update(ApplicationFile)
        .where(ApplicationFile.id.in_(ids), ApplicationFile.employee_id == app.employee_id,
               ApplicationFile.application_id.is_(None))
        .values(application_id=app.id)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return res.rowcount or 0
