"""Status pengajuan (my applications, their history, withdraw, the letter, fixing what a verifier
returned) and /verifikasi (anyone checks a letter by its code).

Callback data "pg:<op>[:<app id>]" only names what was pressed: every handler re-reads the
application and checks it belongs to the presser's linked employee."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message,
)
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers import texts_approval as t
from services import files
from services.agency import Agency
from services.applications import engine, letter_issue, notify, uploads
from services.applications.engine import (
    OPEN, STATUS_LABELS, STEP_LABELS, Context, Status, WorkflowError, type_of,
)
from services.applications.routing import ACTION_LABELS
from services.linking import LinkingService
from services.models import Application, ApplicationFile, Employee

log = logging.getLogger("asnbot.pengajuan")
router = Router(name="pengajuan")

_CB = re.compile(r"pg:([obylrk])(?::(\d{1,12}))?", re.ASCII)


class FixForm(StatesGroup):
    upload = State()  # waiting for the next re-uploaded document
    confirm = State()  # everything uploaded: Kirim perbaikan / Batal


# ---- shared with handlers/approval.py -----------------------------------------------------------
def _file_ids(value: object) -> list[int]:
    items = value if isinstance(value, list) else [value]
    return [int(x) for x in items if isinstance(x, int) or (isinstance(x, str) and x.isdigit())]


async def app_documents(session: AsyncSession, app: Application) -> list[ApplicationFile]:
    """The application's current documents: linked to it, or named in its form data (cuti keeps
    {doc_code: file id} in data["files"]). Only the applicant's own files ever count."""
    ids = [i for v in (app.data.get("files") or {}).values() for i in _file_ids(v)]
    cond = ApplicationFile.application_id == app.id
    if ids:
        cond = or_(cond, ApplicationFile.id.in_(ids))
    rows = await session.execute(select(ApplicationFile).where(
        cond, ApplicationFile.employee_id == app.employee_id, ApplicationFile.superseded.is_(False))
        .order_by(ApplicationFile.id))
    return list(rows.scalars())


async def history_rows(session: AsyncSession, ctx: Context, app: Application,
                       doc_labels: dict[str, str] | None = None) -> list[t.HistoryRow]:
    out = []
    names: dict[int, str] = {}

    async def name(emp_id: int | None) -> str | None:
        if emp_id is None:
            return None
        if emp_id not in names:
            emp = await session.get(Employee, emp_id)
            names[emp_id] = emp.full_name if emp else "-"
        return names[emp_id]

    for ev in await engine.history(session, app.id):
        out.append(t.HistoryRow(
            at=ev.at.astimezone(ctx.zone), action=ev.action,
            action_label=t.EVENT_LABELS.get(ev.action) or ACTION_LABELS.get(ev.action, ev.action),
            step_label=STEP_LABELS.get(ev.step or "", ev.step) if ev.step else None,
            actor=await name(ev.actor_id), actor_label=ev.actor_label, on_behalf_of=await name(ev.on_behalf_of_id),
            comment=ev.comment, data=dict(ev.data or {}), doc_labels=doc_labels or {}))
    return out


async def waiting_for(session: AsyncSession, app: Application) -> str | None:
    if app.status != Status.PENDING:
        return None
    step = STEP_LABELS.get(app.step or "", app.step or "")
    if app.approver_id:
        who = await session.get(Employee, app.approver_id)
        return f"{step} ({who.full_name})" if who else step
    return f"{step} (BKPSDM)"


async def detail_text(session: AsyncSession, ctx: Context, app: Application, *, heading: str) -> str:
    applicant = await session.get(Employee, app.employee_id)
    docs = await app_documents(session, app)
    labels = {d.doc_key: d.label for d in docs}
    parts = [notify.request_text(app, applicant, heading=heading),
             t.status_line(STATUS_LABELS[Status(app.status)], await waiting_for(session, app))]
    if app.status == Status.REVISION:
        parts.append(t.revision_notes(app.data.get("revisi") or {}, labels))
    parts.append(t.history(await history_rows(session, ctx, app, labels)))
    return t.clip("\n\n".join(p for p in parts if p))


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    rows = [r for r in rows if r]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


async def safe_edit(bot: Bot, chat_id: int, message_id: int, text: str,
                    markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit a message, or report False (deleted, too old, unchanged) so the caller can send anew."""
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
        return True
    except TelegramBadRequest as err:
        return "not modified" in str(err).lower()


# ---- Status pengajuan ---------------------------------------------------------------------------
async def _mine(query: CallbackQuery, session: AsyncSession, linking: LinkingService,
                app_id: int | None) -> tuple[Employee, Application] | None:
    """The presser's own application, or None after telling them (forged or stale buttons)."""
    emp = await linking.linked_employee(query.from_user.id)
    if emp is None:
        await query.answer(t.not_linked_button(), show_alert=True)
        return None
    app = await engine.get(session, app_id) if app_id else None
    if app is None or app.employee_id != emp.id:
        await query.answer(t.not_yours(), show_alert=True)
        return None
    return emp, app


async def _list_view(session: AsyncSession, emp: Employee) -> tuple[str, InlineKeyboardMarkup | None]:
    apps = await engine.of_employee(session, emp.id, limit=10)
    if not apps:
        return t.status_empty(), None
    rows = [[InlineKeyboardButton(text=t.status_button(a.number, STATUS_LABELS[Status(a.status)]),
                                  callback_data=f"pg:o:{a.id}")] for a in apps]
    lines = [t.status_item(a.number, type_of(a).title, _period(a), STATUS_LABELS[Status(a.status)],
                           STEP_LABELS.get(a.step or "") if a.status == Status.PENDING else None) for a in apps]
    return t.clip(t.status_intro(len(apps)) + "\n\n" + "\n".join(lines)), _markup(rows)


def _period(app: Application) -> str | None:
    start, end = app.data.get("start"), app.data.get("end")
    return f"{t.iso_short(start)} s.d. {t.iso_short(end)}" if start and end else None


@router.message(Command("status"))
@router.message(F.text == texts.MENU_STATUS)
async def status_list(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService) -> None:
    emp = await linking.linked_employee(message.from_user.id)
    if emp is None:
        await message.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    await state.clear()
    text, markup = await _list_view(session, emp)
    await message.answer(text, reply_markup=markup or keyboards.main_menu())


async def _detail_view(session: AsyncSession, ctx: Context, app: Application) -> tuple[str, InlineKeyboardMarkup | None]:
    text = await detail_text(session, ctx, app, heading="📋")
    row1 = []
    if app.status == Status.REVISION:
        row1.append(InlineKeyboardButton(text=t.BTN_FIX, callback_data=f"pg:r:{app.id}"))
    if app.status in OPEN:
        row1.append(InlineKeyboardButton(text=t.BTN_WITHDRAW, callback_data=f"pg:b:{app.id}"))
    row2 = []
    if await letter_issue.letter_of(session, app.id) is not None:
        row2.append(InlineKeyboardButton(text=t.BTN_DOWNLOAD, callback_data=f"pg:l:{app.id}"))
    return text, _markup([row1, row2, [InlineKeyboardButton(text=t.BTN_BACK, callback_data="pg:k")]])


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    msg = query.message
    if msg is None or not await safe_edit(query.bot, msg.chat.id, msg.message_id, text, markup):
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


@router.callback_query(F.data.startswith("pg:"))
async def status_pressed(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                         actx: Context) -> None:
    m = _CB.fullmatch(query.data or "")
    if m is None:
        await query.answer(t.invalid_button(), show_alert=True)
        return
    op, app_id = m[1], int(m[2]) if m[2] else None
    if op == "k":
        emp = await linking.linked_employee(query.from_user.id)
        if emp is None:
            await query.answer(t.not_linked_button(), show_alert=True)
            return
        await query.answer()
        await _show(query, *await _list_view(session, emp))
        return
    mine = await _mine(query, session, linking, app_id)
    if mine is None:
        return
    emp, app = mine
    if op == "o":
        await query.answer()
        await _show(query, *await _detail_view(session, actx, app))
    elif op == "b":
        if app.status not in OPEN:
            await query.answer()
            await _show(query, *await _detail_view(session, actx, app))
            return
        await query.answer()
        await _show(query, t.withdraw_confirm(app.number), _markup([[
            InlineKeyboardButton(text=t.BTN_WITHDRAW_YES, callback_data=f"pg:y:{app.id}"),
            InlineKeyboardButton(text=t.BTN_WITHDRAW_NO, callback_data=f"pg:o:{app.id}")]]))
    elif op == "y":
        try:
            app = await engine.withdraw(session, actx, app.id, emp.id, actor_telegram_id=query.from_user.id)
        except WorkflowError as err:
            await session.rollback()
            await query.answer(t.alert(err.message), show_alert=True)
            app = await engine.get(session, app.id)
            if app is not None:
                await _show(query, *await _detail_view(session, actx, app))
            return
        await query.answer(t.alert(f"Permohonan {app.number} dibatalkan."))
        await _show(query, *await _detail_view(session, actx, app))
    elif op == "l":
        await _send_letter(query, session, actx, app)
    elif op == "r":
        await _start_fix(query, state, session, app)


async def _send_letter(query: CallbackQuery, session: AsyncSession, ctx: Context, app: Application) -> None:
    letter = await letter_issue.letter_of(session, app.id)
    if letter is None:
        await query.answer(t.letter_missing(), show_alert=True)
        return
    try:
        pdf = await asyncio.to_thread(letter_issue.read_letter, ctx, letter)
    except (OSError, ValueError):
        log.exception("letter of application %s unreadable", app.id)
        await query.answer(t.letter_unreadable(), show_alert=True)
        return
    await query.answer()
    await query.bot.send_document(query.from_user.id, BufferedInputFile(pdf, filename=f"{app.number}.pdf"),
                                  caption=t.letter_caption(app.number, letter.code))


# ---- fixing what the verifier returned ----------------------------------------------------------
async def _start_fix(query: CallbackQuery, state: FSMContext, session: AsyncSession, app: Application) -> None:
    if app.status != Status.REVISION:
        await query.answer(t.fix_not_open(), show_alert=True)
        return
    await query.answer()
    notes: dict[str, str] = app.data.get("revisi") or {}
    docs = await app_documents(session, app)
    labels = {d.doc_key: d.label for d in docs}
    # Exactly what was returned: the documents with a note, nothing else.
    pending = [[k, labels[k]] for k in notes if k in labels]
    await state.set_state(FixForm.upload if pending else FixForm.confirm)
    await state.set_data({"app_id": app.id, "version": app.version, "pending": pending, "new": {}})
    chat = query.from_user.id
    await query.bot.send_message(chat, t.fix_intro(app.number, t.revision_notes(notes, labels)))
    if pending:
        await query.bot.send_message(chat, t.ask_upload(pending[0][1], 1, len(pending)), reply_markup=_cancel_fix())
    else:
        await query.bot.send_message(chat, t.fix_nothing_to_upload())
        await query.bot.send_message(chat, t.fix_ready(app.number, []), reply_markup=_confirm_fix())


def _cancel_fix() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t.BTN_CANCEL, callback_data="pgf:x")]])


def _confirm_fix() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t.BTN_SEND_FIX, callback_data="pgf:s"),
                                                  InlineKeyboardButton(text=t.BTN_CANCEL, callback_data="pgf:x")]])


@router.message(StateFilter(FixForm.upload), F.document | F.photo)
async def fix_upload(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     actx: Context) -> None:
    data = await state.get_data()
    emp = await linking.linked_employee(message.from_user.id)
    app = await engine.get(session, int(data.get("app_id") or 0))
    if emp is None or app is None or app.employee_id != emp.id or app.status != Status.REVISION:
        await state.clear()
        await message.answer(t.fix_not_open())
        return
    pending: list[list[str]] = data["pending"]
    new: dict[str, int] = data["new"]
    left = [(k, lb) for k, lb in pending if k not in new]
    if not left:
        await state.set_state(FixForm.confirm)
        await message.answer(t.fix_ready(app.number, [lb for _, lb in pending]), reply_markup=_confirm_fix())
        return
    key, label = left[0]
    if message.document:
        file_id, name, size = message.document.file_id, message.document.file_name, message.document.file_size
    else:
        file_id, name, size = message.photo[-1].file_id, None, message.photo[-1].file_size
    if size and size > files.DEFAULT_MAX_BYTES:  # refused before downloading it
        await message.answer(t.upload_rejected(t.too_big(files.format_size(files.DEFAULT_MAX_BYTES),
                                                         files.format_size(size, round_up=True))))
        return
    content = (await message.bot.download(file_id)).getvalue()
    try:
        blob = await asyncio.to_thread(files.store, content, root=actx.data_dir / "files", claimed_name=name)
    except files.FileRejected as err:
        await message.answer(t.upload_rejected(err.message))
        return
    # Kept unattached until the fix is sent: a cancelled fix changes nothing.
    row = await uploads.record_upload(session, employee_id=emp.id, doc_key=key, label=label, blob=blob,
                                      file_name=name or f"{key}{blob.ext}", telegram_file_id=file_id[:200])
    new[key] = row.id
    await state.update_data(new=new)
    await message.answer(t.upload_ok(label))
    left = [(k, lb) for k, lb in pending if k not in new]
    if left:
        await message.answer(t.ask_upload(left[0][1], len(new) + 1, len(pending)), reply_markup=_cancel_fix())
        return
    await state.set_state(FixForm.confirm)
    await message.answer(t.fix_ready(app.number, [lb for _, lb in pending]), reply_markup=_confirm_fix())


@router.message(StateFilter(FixForm.upload), ~F.text.startswith("/"), ~F.text.in_(texts.MENU_ITEMS))
async def fix_upload_other(message: Message) -> None:
    await message.answer(t.upload_expected(), reply_markup=_cancel_fix())


@router.callback_query(F.data == "pgf:x")
async def fix_cancel(query: CallbackQuery, state: FSMContext) -> None:
    if await state.get_state() in (FixForm.upload.state, FixForm.confirm.state):
        await state.clear()
    await query.answer(texts.cancelled())
    if query.message is not None:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


@router.callback_query(F.data == "pgf:s")
async def fix_send(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                   actx: Context) -> None:
    if await state.get_state() != FixForm.confirm.state:
        await query.answer(t.flow_expired(), show_alert=True)
        return
    data = await state.get_data()
    mine = await _mine(query, session, linking, int(data.get("app_id") or 0))
    if mine is None:
        await state.clear()
        return
    emp, app = mine
    new = {k: int(v) for k, v in (data.get("new") or {}).items()}
    if app.status != Status.REVISION or app.version != data.get("version"):
        await state.clear()
        await query.answer(t.fix_not_open(), show_alert=True)
        return
    old_docs = await app_documents(session, app)
    for doc in old_docs:
        if doc.doc_key in new and doc.id not in new.values():
            doc.superseded = True  # kept for the record, no longer counts
    update: dict[str, object] = {}
    for key, file_id in new.items():
        row = await session.get(ApplicationFile, file_id)
        if row is None or row.employee_id != emp.id:
            continue
        row.application_id = app.id
    if "files" in app.data:
        mapping = dict(app.data.get("files") or {})
        mapping.update(new)
        update["files"] = mapping
    try:
        app = await engine.resubmit(session, actx, app.id, emp.id, update, actor_telegram_id=query.from_user.id)
    except WorkflowError as err:
        await session.rollback()
        await state.clear()
        await query.answer(t.alert(err.message), show_alert=True)
        return
    await state.clear()
    await query.answer(t.alert(t.fix_sent(app.number)))
    if query.message is not None:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(t.fix_sent(app.number), reply_markup=None)


# ---- /verifikasi --------------------------------------------------------------------------------
async def verify_and_reply(message: Message, code: str, session: AsyncSession, ctx: Context, agency: Agency) -> None:
    v = await letter_issue.verify(session, ctx, code)
    if not v.found:
        await message.answer(t.verify_not_found(code.strip(), agency))
        return
    await message.answer(t.verify_found(v))


@router.message(Command("verifikasi"))
async def verifikasi(message: Message, command: CommandObject, session: AsyncSession, actx: Context,
                     agency: Agency) -> None:
    # Anyone holding the paper may check it: no linking needed, and nothing private is shown.
    if not (command.args or "").strip():
        await message.answer(t.verify_usage())
        return
    await verify_and_reply(message, command.args, session, actx, agency)
