"""Approvers act from Telegram: the buttons on the request messages the outbox delivers
("apv:<app id>:<version>:<code>", "apd:<app id>"), /antrian, and /plh for staff.

A button only says what was pressed. The engine decides, on the server, whether this person
may take this action on this version of the request now (check_act at the press, act again at
the end), so a stale, forged, repeated or unauthorised press changes nothing and is told why.
Follow-up inputs (new dates, reasons, notes per document) live in the FSM as plain JSON."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import date, timedelta

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers import texts_approval as t
from handlers.admin import is_admin
from handlers.calendar import calendar_markup, parse_calendar_callback
from handlers.pengajuan import app_documents, detail_text, safe_edit
from services import files
from services.applications import delegation, engine, notify
from services.applications.engine import (
    CODE_ACTIONS, STATUS_LABELS, STEP_LABELS, Context, Status, WorkflowError,
)
from services.applications.routing import ACTION_LABELS
from services.linking import LinkingService
from services.models import Application, Employee
from services.textdate import parse_date, parse_range

log = logging.getLogger("asnbot.approval")
router = Router(name="approval")

_APV = re.compile(r"apv:(\d{1,12}):(\d{1,9}):([a-z])", re.ASCII)
_APD = re.compile(r"apd:(\d{1,12})", re.ASCII)
_APR = re.compile(r"apr:(?:d:(\d{1,3})|g|s)", re.ASCII)
CAL = "apk"  # calendar callback prefix (the state says which date is being picked)
MAX_REASON = 500
MAX_NOTE = 300
DEFER_MAX_DAYS = 366  # cuti tahunan may be deferred for at most a year
# Refusals that end a follow-up: the request moved on or the person may not act at all.
DEAD_CODES = {"sudah-selesai", "kedaluwarsa", "sudah-diproses"}
FINAL_CODES = {"tidak-ada", "sudah-selesai", "kedaluwarsa", "sudah-diproses", "bukan-wewenang", "aksi-tidak-dikenal"}


class ApprovalForm(StatesGroup):
    new_start = State()
    new_end = State()
    change_comment = State()
    reason = State()  # tangguh / tolak
    until = State()  # tangguh
    revisi = State()  # choosing documents to note
    revisi_note = State()  # typing a note


# ---- helpers ------------------------------------------------------------------------------------
def _cancel_row() -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=t.BTN_CANCEL, callback_data="apx:c")]


def _with_cancel(markup: InlineKeyboardMarkup | None = None, *extra: InlineKeyboardButton) -> InlineKeyboardMarkup:
    rows = list(markup.inline_keyboard) if markup else []
    rows.append([*extra, *_cancel_row()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _calendar(month: date, *, min_date: date, max_date: date) -> InlineKeyboardMarkup:
    return calendar_markup(month, prefix=CAL, min_date=min_date, max_date=max_date)


def _bounds(ctx: Context, state_name: str | None, data: dict) -> tuple[date, date]:
    today = ctx.today()
    if state_name == ApprovalForm.until.state:
        return today + timedelta(days=1), today + timedelta(days=DEFER_MAX_DAYS)
    if state_name == ApprovalForm.new_end.state and data.get("start"):
        start = date.fromisoformat(data["start"])
        return start, start + timedelta(days=365)
    return today, today + timedelta(days=365)


async def _linked(query: CallbackQuery, linking: LinkingService) -> Employee | None:
    emp = await linking.linked_employee(query.from_user.id)
    if emp is None:
        await query.answer(t.not_linked_button(), show_alert=True)
    return emp


async def _refuse_press(query: CallbackQuery, err: WorkflowError) -> None:
    await query.answer(t.alert(err.message), show_alert=True)
    # The request moved on: its buttons on this message are dead, take them away.
    if err.code in DEAD_CODES and query.message is not None:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


def _message_ref(query: CallbackQuery) -> dict:
    m = query.message
    return {"chat_id": m.chat.id, "message_id": m.message_id} if m is not None else {}


async def _result_text(session: AsyncSession, app: Application, event_label: str, acting_label: str | None,
                       ctx: Context) -> str:
    applicant = await session.get(Employee, app.employee_id)
    status = Status(app.status)
    if status == Status.PENDING:
        nxt = STEP_LABELS.get(app.step or "", app.step or "")
        if app.approver_id:
            who = await session.get(Employee, app.approver_id)
            nxt += f" ({who.full_name})" if who else ""
        tail = t.next_step_line(nxt)
    elif status == Status.REVISION:
        tail = t.revision_line()
    else:
        tail = t.final_line(STATUS_LABELS[status])
    return t.clip(notify.request_text(app, applicant, heading="📥")
                  + t.acted_footer(event_label, acting_label, ctx.now().astimezone(ctx.zone), tail))


async def _perform(bot: Bot, user_id: int, session: AsyncSession, ctx: Context, emp: Employee, data: dict, *,
                   comment: str | None = None, change: dict | None = None) -> WorkflowError | None:
    """engine.act, then the approver's request message shows the result without buttons."""
    action = data["action"]
    try:
        out = await engine.act(session, ctx, int(data["app_id"]), emp.id, action, version=int(data["version"]),
                               comment=comment, change=change, actor_telegram_id=user_id)
    except WorkflowError as err:
        await session.rollback()
        return err
    text = await _result_text(session, out.application, ACTION_LABELS[action], out.event.actor_label, ctx)
    ref = data.get("ref") or {}
    if not ref or not await safe_edit(bot, ref["chat_id"], ref["message_id"], text, None):
        await bot.send_message(user_id, text)
    return None


async def _finish(bot: Bot, user_id: int, state: FSMContext, session: AsyncSession, linking: LinkingService,
                  ctx: Context, *, query: CallbackQuery | None = None, comment: str | None = None,
                  change: dict | None = None, retry_state: State | None = None) -> None:
    """Act with what the follow-up collected; on a refusal about the input, ask again.
    `query`: a callback still to be answered (each can be answered once)."""
    data = await state.get_data()
    emp = await linking.linked_employee(user_id)
    if emp is None or not data.get("app_id"):
        await state.clear()
        if query is not None:
            await query.answer()
        await bot.send_message(user_id, t.flow_expired())
        return
    err = await _perform(bot, user_id, session, ctx, emp, data, comment=comment, change=change)
    label = ACTION_LABELS[data["action"]]
    if query is not None:
        await query.answer(t.alert(err.message) if err else t.recorded_alert(label), show_alert=bool(err))
    if err is None:
        await state.clear()
        await bot.send_message(user_id, t.recorded_message(label, data.get("number", "")))
        return
    await bot.send_message(user_id, t.refused(err.message))
    if err.code in FINAL_CODES or retry_state is None:
        await state.clear()
        ref = data.get("ref") or {}
        if err.code in DEAD_CODES and ref:  # the request moved on meanwhile: its buttons are dead
            with contextlib.suppress(TelegramBadRequest):
                await bot.edit_message_reply_markup(chat_id=ref["chat_id"], message_id=ref["message_id"],
                                                    reply_markup=None)
        return
    await state.set_state(retry_state)
    await _prompt(bot, user_id, state, session, ctx)


async def _prompt(bot: Bot, user_id: int, state: FSMContext, session: AsyncSession, ctx: Context) -> None:
    """Ask for whatever the current follow-up state needs."""
    name = await state.get_state()
    data = await state.get_data()
    number = data.get("number", "")
    if name in (ApprovalForm.new_start.state, ApprovalForm.new_end.state, ApprovalForm.until.state):
        lo, hi = _bounds(ctx, name, data)
        month = date.fromisoformat(data["start"]) if name == ApprovalForm.new_end.state else \
            max(lo, date.fromisoformat(data["month"])) if data.get("month") else lo
        text = {ApprovalForm.new_start.state: lambda: t.ask_new_dates(number),
                ApprovalForm.new_end.state: lambda: t.ask_new_end(date.fromisoformat(data["start"])),
                ApprovalForm.until.state: lambda: t.ask_until(number)}[name]()
        await bot.send_message(user_id, text, reply_markup=_with_cancel(_calendar(month, min_date=lo, max_date=hi)))
    elif name == ApprovalForm.change_comment.state:
        await bot.send_message(user_id, t.ask_change_comment(date.fromisoformat(data["start"]),
                                                             date.fromisoformat(data["end"])),
                               reply_markup=_with_cancel(None, InlineKeyboardButton(text=t.BTN_SKIP,
                                                                                    callback_data="apx:s")))
    elif name == ApprovalForm.reason.state:
        await bot.send_message(user_id, t.ask_reason(number, ACTION_LABELS[data["action"]]),
                               reply_markup=_with_cancel())
    elif name == ApprovalForm.revisi.state:
        await bot.send_message(user_id, t.revision_menu(number, [tuple(d) for d in data["docs"]], data["notes"]),
                               reply_markup=_revision_markup(data))


def _revision_markup(data: dict) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=("✏️ " if key in data["notes"] else "📄 ") + label[:48],
                                  callback_data=f"apr:d:{i}")] for i, (key, label) in enumerate(data["docs"])]
    rows.append([InlineKeyboardButton(text=t.BTN_GENERAL_NOTE, callback_data="apr:g")])
    last = [InlineKeyboardButton(text=t.BTN_SEND_REVISION, callback_data="apr:s")] if data["notes"] else []
    rows.append([*last, *_cancel_row()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


# ---- the approver's buttons ---------------------------------------------------------------------
@router.callback_query(F.data.startswith("apv:"))
async def approver_pressed(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    m = _APV.fullmatch(query.data or "")
    action = CODE_ACTIONS.get(m[3]) if m else None
    if action is None:
        await query.answer(t.invalid_button(), show_alert=True)
        return
    emp = await _linked(query, linking)
    if emp is None:
        return
    app_id, version = int(m[1]), int(m[2])
    try:
        app, _, _ = await engine.check_act(session, actx, app_id, emp.id, action, version=version)
    except WorkflowError as err:
        await _refuse_press(query, err)
        return
    data = {"app_id": app_id, "version": version, "action": action, "number": app.number, "ref": _message_ref(query)}
    if (await state.get_state() or "").startswith("ApprovalForm:"):
        await state.clear()  # a follow-up left half-way for another request ends here
    if action in ("setuju", "teruskan"):
        err = await _perform(query.bot, query.from_user.id, session, actx, emp, data)
        if err is not None:
            await _refuse_press(query, err)
        else:
            await query.answer(t.recorded_alert(ACTION_LABELS[action]))
        return
    await query.answer()
    if action == "ubah":
        data["month"] = app.data.get("start") or actx.today().isoformat()
        await state.set_state(ApprovalForm.new_start)
    elif action in ("tangguh", "tolak"):
        await state.set_state(ApprovalForm.reason)
    elif action == "revisi":
        docs = await app_documents(session, app)
        data.update(docs=[[d.doc_key, d.label] for d in docs], notes={})
        await state.set_state(ApprovalForm.revisi)
    await state.set_data(data)
    await _prompt(query.bot, query.from_user.id, state, session, actx)


@router.callback_query(F.data.startswith("apx:"))
async def followup_control(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    current = await state.get_state()
    if not (current or "").startswith("ApprovalForm:"):
        await query.answer(t.flow_expired(), show_alert=True)
        return
    if query.data == "apx:c":
        await state.clear()
        await query.answer()
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await query.bot.send_message(query.from_user.id, t.flow_cancelled())
    elif query.data == "apx:s" and current == ApprovalForm.change_comment.state:
        data = await state.get_data()
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await _finish(query.bot, query.from_user.id, state, session, linking, actx, query=query,
                      change={"start": data["start"], "end": data["end"]}, retry_state=ApprovalForm.new_start)
    else:
        await query.answer(t.flow_expired(), show_alert=True)


@router.callback_query(F.data.startswith(f"{CAL}:"))
async def calendar_pressed(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    current = await state.get_state()
    if current not in (ApprovalForm.new_start.state, ApprovalForm.new_end.state, ApprovalForm.until.state):
        await query.answer(t.flow_expired(), show_alert=True)
        return
    data = await state.get_data()
    lo, hi = _bounds(actx, current, data)
    kind, picked = parse_calendar_callback(query.data, CAL, min_date=lo, max_date=hi)
    if kind == "month":
        await query.answer()
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(
                reply_markup=_with_cancel(_calendar(picked, min_date=lo, max_date=hi)))
        return
    if kind != "day":
        await query.answer()
        return
    await query.answer()
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_reply_markup(reply_markup=None)
    await _date_chosen(query.bot, query.from_user.id, picked, None, state, session, linking, actx)


async def _date_chosen(bot: Bot, user_id: int, first: date, last: date | None, state: FSMContext,
                       session: AsyncSession, linking: LinkingService, ctx: Context) -> None:
    current = await state.get_state()
    data = await state.get_data()
    if current == ApprovalForm.until.state:
        await _finish(bot, user_id, state, session, linking, ctx, comment=data.get("reason"),
                      change={"until": first.isoformat()}, retry_state=ApprovalForm.until)
        return
    if current == ApprovalForm.new_start.state:
        if last is None:
            await state.update_data(start=first.isoformat())
            await state.set_state(ApprovalForm.new_end)
            await _prompt(bot, user_id, state, session, ctx)
            return
        await state.update_data(start=first.isoformat(), end=last.isoformat())
    else:  # new_end
        if first < date.fromisoformat(data["start"]):
            await bot.send_message(user_id, t.end_before_start())
            await _prompt(bot, user_id, state, session, ctx)
            return
        await state.update_data(end=first.isoformat())
    await state.set_state(ApprovalForm.change_comment)
    await _prompt(bot, user_id, state, session, ctx)


def _text_input():  # noqa: ANN202 - aiogram magic filter
    return F.text & ~F.text.startswith("/") & ~F.text.in_(texts.MENU_ITEMS) & (F.text != texts.BTN_CANCEL)


@router.message(StateFilter(ApprovalForm.new_start, ApprovalForm.new_end, ApprovalForm.until), _text_input())
async def date_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     actx: Context) -> None:
    current = await state.get_state()
    today = actx.today()
    rng = parse_range(message.text, today) if current == ApprovalForm.new_start.state else None
    if rng is not None:
        await _date_chosen(message.bot, message.from_user.id, rng[0], rng[1], state, session, linking, actx)
        return
    d = parse_date(message.text, today)
    if d is None:
        await message.answer(t.date_not_understood())
        return
    if current == ApprovalForm.until.state:
        lo, hi = _bounds(actx, current, await state.get_data())
        if not lo <= d <= hi:
            await message.answer(t.until_out_of_range(lo, hi))
            return
    await _date_chosen(message.bot, message.from_user.id, d, None, state, session, linking, actx)


@router.message(StateFilter(ApprovalForm.change_comment), _text_input())
async def change_comment_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                               actx: Context) -> None:
    if len(message.text) > MAX_REASON:
        await message.answer(t.too_long(MAX_REASON))
        return
    data = await state.get_data()
    await _finish(message.bot, message.from_user.id, state, session, linking, actx, comment=message.text.strip(),
                  change={"start": data["start"], "end": data["end"]}, retry_state=ApprovalForm.new_start)


@router.message(StateFilter(ApprovalForm.reason), _text_input())
async def reason_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                       actx: Context) -> None:
    reason = message.text.strip()
    if len(reason) > MAX_REASON:
        await message.answer(t.too_long(MAX_REASON))
        return
    data = await state.get_data()
    if data["action"] == "tangguh":
        await state.update_data(reason=reason)
        await state.set_state(ApprovalForm.until)
        await _prompt(message.bot, message.from_user.id, state, session, actx)
        return
    await _finish(message.bot, message.from_user.id, state, session, linking, actx, comment=reason,
                  retry_state=ApprovalForm.reason)


@router.callback_query(F.data.startswith("apr:"))
async def revision_pressed(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    m = _APR.fullmatch(query.data or "")
    if m is None or await state.get_state() not in (ApprovalForm.revisi.state, ApprovalForm.revisi_note.state):
        await query.answer(t.flow_expired(), show_alert=True)
        return
    data = await state.get_data()
    if query.data == "apr:s":
        if not data["notes"]:
            await query.answer(t.revision_needs_note(), show_alert=True)
            return
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        labels = dict(tuple(d) for d in data["docs"])
        comment = t.revision_comment([labels[k] for k in data["notes"] if k in labels])
        await _finish(query.bot, query.from_user.id, state, session, linking, actx, query=query, comment=comment,
                      change=dict(data["notes"]), retry_state=ApprovalForm.revisi)
        return
    if m[1] is not None:
        i = int(m[1])
        if i >= len(data["docs"]):
            await query.answer(t.invalid_button(), show_alert=True)
            return
        key, label = data["docs"][i]
        prompt = t.ask_doc_note(label)
    else:
        key, prompt = t.GENERAL, t.ask_general_note()
    await query.answer()
    await state.update_data(note_for=key)
    await state.set_state(ApprovalForm.revisi_note)
    await query.bot.send_message(query.from_user.id, prompt, reply_markup=_with_cancel())


@router.message(StateFilter(ApprovalForm.revisi_note), _text_input())
async def revision_note_typed(message: Message, state: FSMContext, session: AsyncSession, actx: Context) -> None:
    note = message.text.strip()
    if len(note) > MAX_NOTE:
        await message.answer(t.too_long(MAX_NOTE))
        return
    data = await state.get_data()
    notes = dict(data["notes"])
    notes[data["note_for"]] = note
    await state.update_data(notes=notes)
    await state.set_state(ApprovalForm.revisi)
    await _prompt(message.bot, message.from_user.id, state, session, actx)


@router.message(StateFilter(ApprovalForm), ~F.text)
async def followup_not_text(message: Message) -> None:
    await message.answer(t.text_expected())


# ---- details, attachments, history --------------------------------------------------------------
@router.callback_query(F.data.startswith("apd:"))
async def details_pressed(query: CallbackQuery, session: AsyncSession, linking: LinkingService, actx: Context) -> None:
    m = _APD.fullmatch(query.data or "")
    if m is None:
        await query.answer(t.invalid_button(), show_alert=True)
        return
    emp = await _linked(query, linking)
    if emp is None:
        return
    app = await engine.get(session, int(m[1]))
    # The same answer for "no such request" and "not yours": ids reveal nothing.
    if app is None or not await engine.can_view(session, actx, app, emp.id):
        await query.answer(t.no_access(), show_alert=True)
        return
    await query.answer()
    user = query.from_user.id
    await query.bot.send_message(user, await detail_text(session, actx, app, heading="📄"))
    docs = await app_documents(session, app)
    await query.bot.send_message(user, t.attachments_intro(len(docs)))
    root = actx.data_dir / "files"
    for doc in docs:
        try:
            content = await asyncio.to_thread(files.read, root, doc.path)
        except (OSError, ValueError):
            log.warning("stored file %s of application %s unreadable", doc.id, app.id)
            await query.bot.send_message(user, t.attachment_missing(doc.label))
            continue
        name = doc.file_name or f"{doc.doc_key}"
        await query.bot.send_document(user, BufferedInputFile(content, filename=name), caption=t.e(doc.label)[:1000])


# ---- /antrian -----------------------------------------------------------------------------------
QUEUE_SHOWN = 10


@router.message(Command("antrian"))
async def queue(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                actx: Context) -> None:
    emp = await linking.linked_employee(message.from_user.id)
    if emp is None:
        await message.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    await state.clear()
    apps = await engine.actionable(session, actx, emp.id, limit=QUEUE_SHOWN + 1)
    if not apps:
        await message.answer(t.queue_empty())
        return
    await message.answer(t.queue_intro(min(len(apps), QUEUE_SHOWN), len(apps) > QUEUE_SHOWN))
    for app in apps[:QUEUE_SHOWN]:
        applicant = await session.get(Employee, app.employee_id)
        step = actx.types()[app.type].step(app.step)
        acting = await engine.can_act(session, actx, app, emp.id)
        lines = [notify.request_text(app, applicant, heading="📥"),
                 t.waiting_since(app.step_since.astimezone(actx.zone))]
        if acting and acting.on_behalf_of_id:
            principal = await session.get(Employee, acting.on_behalf_of_id)
            lines.append(t.acting_as(acting.label or "", principal.full_name if principal else "-"))
        lines.append("\n" + t.please_act(STEP_LABELS.get(step.step, step.step)))
        markup = InlineKeyboardMarkup.model_validate(notify.action_keyboard(app, step.actions))
        await message.answer(t.clip("\n".join(lines)), reply_markup=markup)


# ---- /plh (staff) -------------------------------------------------------------------------------
@router.message(Command("plh", "plt"))
async def plh(message: Message, command: CommandObject, session: AsyncSession, linking: LinkingService,
              admin_ids: frozenset[int], actx: Context) -> None:
    if not await is_admin(message.from_user.id, session, linking, admin_ids):
        await message.answer(texts.unknown_command(f"/{command.command}"))
        return
    args = (command.args or "").split()
    today = actx.today()
    by = f"tg:{message.from_user.id}"
    if not args:
        await message.answer(t.plh_usage())
        return
    if args[0].lower() in ("daftar", "list"):
        await message.answer(t.plh_list(await delegation.list_delegations(session, today=today)))
        return
    if args[0].lower() in ("cabut", "hapus", "revoke") and len(args) == 2 and args[1].isdigit():
        try:
            d = await delegation.revoke(session, int(args[1]), revoked_by=by, actor_telegram_id=message.from_user.id)
        except delegation.DelegationError as err:
            await message.answer(t.plh_error(err.message))
            return
        await message.answer(t.plh_revoked(d.id))
        return
    if len(args) not in (4, 5):
        await message.answer(t.plh_usage())
        return
    dates = []
    for raw in args[2:4]:
        d = parse_date(raw, today)
        if d is None:
            await message.answer(t.plh_bad_date(raw))
            return
        dates.append(d)
    kind = args[4] if len(args) == 5 else ("Plt" if command.command.lower() == "plt" else "Plh")
    try:
        d = await delegation.add(session, principal=args[0], acting=args[1], starts_on=dates[0], ends_on=dates[1],
                                 kind=kind, created_by=by, today=today, actor_telegram_id=message.from_user.id)
    except delegation.DelegationError as err:
        await session.rollback()
        await message.answer(t.plh_error(err.message))
        return
    principal = await session.get(Employee, d.principal_id)
    acting = await session.get(Employee, d.acting_id)
    await message.answer(t.plh_added(d.id, d.kind, principal.full_name, acting.full_name, d.starts_on, d.ends_on))
