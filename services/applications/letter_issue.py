"""Issuing the letter of a decided application: render the PDF, keep it under DATA_DIR/letters
with its checksum and a verification code, and put it in the applicant's outbox. Anyone
holding the paper checks it with `/verifikasi KODE`."""
from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import letters, outbox
from services.agency import load_agency
from services.applications.engine import STATUS_LABELS, Context, Status, esc, type_of
from services.employees import unit_path
from services.models import Application, Employee, Letter
from services.nip import format_nip

ACTION_OPTION = {"setuju": "disetujui", "ubah": "perubahan", "tangguh": "ditangguhkan", "tolak": "tidak disetujui",
                 "teruskan": "disetujui"}


def letters_dir(ctx: Context) -> Path:
    return ctx.data_dir / "letters"


def verify_hint(ctx: Context, code: str) -> tuple[str, str | None]:
    if ctx.bot_username:
        return (f"Cek keaslian: kirim /verifikasi {code} ke @{ctx.bot_username}",
                f"https://t.me/{ctx.bot_username}?start=v-{code.replace('-', '')}")
    return f"Cek keaslian: kirim /verifikasi {code} ke bot layanan BKPSDM", None


def masa_kerja(since: date | None, at: date) -> str:
    if since is None:
        return "-"
    months = (at.year - since.year) * 12 + at.month - since.month - (at.day < since.day)
    return f"{months // 12} tahun {months % 12} bulan"


async def letter_employee(session: AsyncSession, emp: Employee, today: date) -> letters.LetterEmployee:
    path = await unit_path(session, emp.unit_id)
    unit = " - ".join(u.name for u in (path[-1:] if len(path) < 2 else [path[-1], path[0]]))
    return letters.LetterEmployee(nama=emp.full_name, nip=format_nip(emp.nip) if emp.nip else None,
                                  jabatan=emp.jabatan or "-", unit_kerja=unit or "-", golongan=emp.golongan,
                                  masa_kerja=masa_kerja(emp.tmt_cpns, today), nomor=emp.nomor_non_pns)


async def decision_of(session: AsyncSession, c: dict | None, *, with_option: bool = True) -> letters.Decision | None:
    if not c:
        return None
    actor = await session.get(Employee, c["actor_id"]) if c.get("actor_id") else None
    return letters.Decision(
        name=actor.full_name if actor else "-", nip=format_nip(actor.nip) if actor and actor.nip else None,
        decided_on=datetime.fromisoformat(c["at"]).date(), option=ACTION_OPTION.get(c["action"]) if with_option else None,
        comment=c.get("comment") or "", jabatan=actor.jabatan if actor else None, acting_for=c.get("label"))


def agency_of(ctx: Context) -> letters.LetterAgency:
    a = load_agency(ctx.agency_dir)
    return letters.LetterAgency(government=a.government, name=a.name, short_name=a.short_name,
                                address=a.contact.get("office", "") if isinstance(a.contact, dict) else "")


async def issue(session: AsyncSession, ctx: Context, app: Application, emp: Employee,
                render: Callable[[str, str, str | None], bytes]) -> Letter:
    """render(code, hint, url) -> PDF bytes. Runs inside the deciding transaction."""
    existing = (await session.execute(select(Letter).where(Letter.application_id == app.id))).scalar_one_or_none()
    if existing is not None:
        return existing
    code = letters.new_verification_code()
    while (await session.execute(select(Letter.id).where(Letter.code == code))).first():
        code = letters.new_verification_code()
    hint, url = verify_hint(ctx, code)
    rel = f"{app.number}.pdf"
    target = letters_dir(ctx) / rel
    # Rendering takes ~0.1 s of CPU: off the event loop, so other chats are not held up.
    pdf = await asyncio.to_thread(_render_and_write, render, code, hint, url, target)
    letter = Letter(application_id=app.id, code=code, path=rel, sha256=hashlib.sha256(pdf).hexdigest(),
                    issued_at=ctx.now())
    session.add(letter)
    await outbox.enqueue_for_employee(
        session, emp.id, method="sendDocument", dedupe_key=f"letter:{app.id}",
        payload={"document_path": f"letters/{rel}", "file_name": f"{app.number}.pdf",
                 "caption": f"📄 Surat {esc(type_of(app).title.replace('permohonan ', ''))} {esc(app.number)}. "
                            f"Kode verifikasi: {code}", "parse_mode": "HTML"})
    return letter


def _render_and_write(render: Callable[[str, str, str | None], bytes], code: str, hint: str, url: str | None,
                      target: Path) -> bytes:
    pdf = render(code, hint, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    os.replace(tmp, target)  # a crash never leaves half a letter under the final name
    return pdf


async def letter_of(session: AsyncSession, app_id: int) -> Letter | None:
    return (await session.execute(select(Letter).where(Letter.application_id == app_id))).scalar_one_or_none()


def read_letter(ctx: Context, letter: Letter) -> bytes:
    root = letters_dir(ctx).resolve()
    path = (root / letter.path).resolve()
    if root not in path.parents:
        raise ValueError("letter path outside the letters directory")
    return path.read_bytes()


@dataclass
class Verification:
    found: bool
    valid: bool = False
    number: str = ""
    title: str = ""
    holder: str = ""
    holder_id: str = ""
    period: str = ""
    issued_on: date | None = None
    status: str = ""


async def verify(session: AsyncSession, ctx: Context, text: str) -> Verification:
    code = letters.normalize_code(text)
    if code is None:
        return Verification(found=False)
    letter = (await session.execute(select(Letter).where(Letter.code == code))).scalar_one_or_none()
    if letter is None:
        return Verification(found=False)
    app = await session.get(Application, letter.application_id)
    emp = await session.get(Employee, app.employee_id) if app else None
    if app is None or emp is None:
        return Verification(found=False)
    valid = letter.revoked_at is None and app.status == Status.APPROVED
    ident = emp.nip or emp.nomor_non_pns or ""
    # Enough to match the paper; the middle of the NIP stays hidden from whoever scans it.
    masked = ident[:4] + "•" * max(0, len(ident) - 8) + ident[-4:] if len(ident) > 8 else ident
    period = ""
    if "start" in app.data and "end" in app.data:
        period = f"{app.data['start']} s.d. {app.data['end']}"
    status = "dicabut" if letter.revoked_at else STATUS_LABELS[Status(app.status)]
    return Verification(found=True, valid=valid, number=app.number, title=type_of(app).title, holder=emp.full_name,
                        holder_id=masked, period=period, issued_on=letter.issued_at.astimezone(ctx.zone).date(),
                        status=status)
