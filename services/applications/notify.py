"""Who hears about each step of an application, and what they read. Messages go into the
outbox in the caller's transaction (services never call Telegram); the delivery worker sends
them. Texts are Indonesian and HTML-escaped; buttons carry the application's version so a
stale one is recognised."""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import outbox
from services.applications import routing
from services.applications.engine import (
    ACTION_CODES, STATUS_LABELS, STEP_LABELS, Context, Status, esc, type_of,
)
from services.applications.routing import ACTION_LABELS
from services.models import Application, ApplicationEvent, ApplicationFile, Employee
from services.nip import format_nip


async def _doc_labels(session: AsyncSession, app_id: int) -> dict[str, str]:
    rows = await session.execute(select(ApplicationFile.doc_key, ApplicationFile.label)
                                 .where(ApplicationFile.application_id == app_id))
    return {k: v for k, v in rows.all()}


def _who(emp: Employee | None) -> str:
    return esc(emp.full_name) if emp else "-"


def _ident(emp: Employee) -> str:
    return f"NIP {format_nip(emp.nip)}" if emp.nip else f"No. {emp.nomor_non_pns}"


def action_keyboard(app: Application, actions: tuple[str, ...]) -> dict[str, Any]:
    buttons = [{"text": ACTION_LABELS[a], "callback_data": f"apv:{app.id}:{app.version}:{ACTION_CODES[a]}"}
               for a in actions]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([{"text": "Lihat lampiran & riwayat", "callback_data": f"apd:{app.id}"}])
    return {"inline_keyboard": rows}


def request_text(app: Application, emp: Employee, *, heading: str) -> str:
    impl = type_of(app)
    lines = [f"{heading} <b>{esc(impl.title.capitalize())} {esc(app.number)}</b>",
             f"Pemohon: {_who(emp)} ({esc(_ident(emp))})"]
    if emp.jabatan:
        lines.append(f"Jabatan: {esc(emp.jabatan)}")
    lines += impl.describe(app)
    considerations = app.data.get("considerations") or {}
    for step, c in considerations.items():
        line = f"{STEP_LABELS.get(step, step).capitalize()}: {ACTION_LABELS.get(c['action'], c['action'])}"
        if c.get("comment"):
            line += f" ({esc(c['comment'])})"
        lines.append(line)
    return "\n".join(lines)


async def recipients_for_step(session: AsyncSession, ctx: Context, app: Application) -> list[int]:
    """The approver at the current step and whoever stands in for them; else the step's queue."""
    if app.approver_id is not None:
        return [app.approver_id, *await routing.delegates_of(session, app.approver_id, ctx.today())]
    td = ctx.types()[app.type]
    step = td.step(app.step)
    people: list[int] = []
    rule = app.data.get("pejabat_rule") or ""
    if step and step.who == "pejabat" and rule.startswith("role:"):
        people += await routing.role_holders(session, "approver", rule[5:])
    if step and step.queue_role:
        people += await routing.role_holders(session, *step.queue_role)
    return [p for p in dict.fromkeys(people) if p != app.employee_id][:25]


async def _to_step(session: AsyncSession, ctx: Context, app: Application, emp: Employee, heading: str,
                   tag: str, *, urgent: bool = True, skip: Collection[int] = ()) -> list[int]:
    td = ctx.types()[app.type]
    step = td.step(app.step)
    if step is None:
        return []
    text = request_text(app, emp, heading=heading) + f"\n\nMohon {esc(STEP_LABELS.get(step.step, step.step))} Anda:"
    sent = []
    for person in await recipients_for_step(session, ctx, app):
        if person in skip:
            continue
        if await outbox.enqueue_for_employee(session, person, text=text, reply_markup=action_keyboard(app, step.actions),
                                             dedupe_key=f"app:{app.id}:v{app.version}:{tag}:{person}", urgent=urgent):
            sent.append(person)
    return sent


async def _next_label(session: AsyncSession, app: Application) -> str:
    step = STEP_LABELS.get(app.step or "", app.step or "")
    if app.approver_id:
        who = await session.get(Employee, app.approver_id)
        return f"{step} ({_who(who)})"
    return f"{step} (BKPSDM)" if app.step == "verifikasi" else step


async def submitted(session: AsyncSession, ctx: Context, app: Application, emp: Employee) -> None:
    impl = type_of(app)
    text = (f"✅ {esc(impl.title.capitalize())} Anda terkirim dengan nomor <b>{esc(app.number)}</b>.\n"
            f"Berikutnya: {await _next_label(session, app)}. Setiap perubahan status akan saya kabarkan.")
    await outbox.enqueue_for_employee(session, emp.id, text=text, dedupe_key=f"app:{app.id}:v{app.version}:applicant")
    await _to_step(session, ctx, app, emp, "📥", "step")


async def acted(session: AsyncSession, ctx: Context, app: Application, emp: Employee, event: ApplicationEvent) -> None:
    """After an action or a resubmission: tell the applicant, and whoever acts next."""
    if event.action == "perbaiki":
        await outbox.enqueue_for_employee(
            session, emp.id, dedupe_key=f"app:{app.id}:v{app.version}:applicant",
            text=f"✅ Perbaikan {esc(app.number)} terkirim. Berikutnya: {await _next_label(session, app)}.")
        await _to_step(session, ctx, app, emp, "🔁 Perbaikan", "step")
        return
    actor = await session.get(Employee, event.actor_id) if event.actor_id else None
    by = _who(actor) + (f" selaku {esc(event.actor_label)}" if event.actor_label else "")
    lines = [f"🔔 <b>{esc(app.number)}</b>: {esc(STEP_LABELS.get(event.step or '', event.step or ''))} - "
             f"<b>{esc(ACTION_LABELS.get(event.action, event.action))}</b> oleh {by.rstrip('.')}."]
    if event.comment:
        lines.append(f"Catatan: {esc(event.comment)}")
    after = (event.data or {}).get("after")
    if after:
        lines += type_of(app).describe(app)
    status = Status(app.status)
    if status == Status.PENDING:
        lines.append(f"Berikutnya: {await _next_label(session, app)}.")
    elif status == Status.REVISION:
        notes = (event.data or {}).get("notes") or {}
        labels = await _doc_labels(session, app.id)
        lines += [f"- {esc(labels.get(k, k))}: {esc(v)}" for k, v in notes.items()]
        lines.append("Silakan perbaiki lewat menu <b>Status pengajuan</b>.")
    else:
        lines.append(f"Status akhir: <b>{esc(STATUS_LABELS[status])}</b>.")
    await outbox.enqueue_for_employee(session, emp.id, text="\n".join(lines),
                                      dedupe_key=f"app:{app.id}:v{app.version}:applicant")
    if status == Status.PENDING:
        await _to_step(session, ctx, app, emp, "📥", "step")


async def withdrawn(session: AsyncSession, ctx: Context, app: Application, emp: Employee | None,
                    previous_approver: int | None) -> None:
    if emp is not None:
        await outbox.enqueue_for_employee(session, emp.id, dedupe_key=f"app:{app.id}:v{app.version}:applicant",
                                          text=f"Permohonan {esc(app.number)} telah Anda batalkan.")
    if previous_approver:
        await outbox.enqueue_for_employee(
            session, previous_approver, dedupe_key=f"app:{app.id}:v{app.version}:withdrawn:{previous_approver}",
            text=f"ℹ️ Permohonan {esc(app.number)} ({_who(emp)}) dibatalkan oleh pemohon; tidak perlu diproses lagi.")


async def remind(session: AsyncSession, ctx: Context, app: Application, day_key: str, *,
                 skip: Collection[int] = ()) -> list[int]:
    """A reminder to whoever should act on a waiting application; once per step and `day_key`.
    `skip`: people not to remind (reminders turned off, already reminded). Not urgent: it
    waits for the end of quiet hours. Returns who was reminded."""
    emp = await session.get(Employee, app.employee_id)
    if emp is None:
        return []
    return await _to_step(session, ctx, app, emp, "⏰ Masih menunggu:", f"remind-{day_key}", urgent=False, skip=skip)
