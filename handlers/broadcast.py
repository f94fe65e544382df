"""/broadcast: staff with the broadcaster role (or admins) send a message to many employees.

Steps (one FSM form, its screens edited in place): the message (HTML text, or a document/photo
with a caption) -> the audience (filters on buttons, with a running count) -> the
acknowledgement button yes/no -> now or at a typed time -> a preview exactly as recipients see
it, with the counts -> confirm. Sending, progress and the final report run outside this module
(the outbox worker, bot/broadcast_progress.py); /laporan ID and /broadcast_batal ID work any
time. Recipients' "Sudah saya baca dan pahami" arrives as callback ``ack:<id>``.

Every button is re-authorised on the server: form buttons only act in the presser's own form
state, and confirm / stop / export check the role again.
"""
from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import texts
from handlers import texts_broadcast as tb
from services import broadcast as bc
from services.applications.engine import Context
from services.employees import has_role
from services.linking import LinkingService
from services.models import Broadcast, Employee, Role, utcnow
from services.pangkat import normalize_golongan

router = Router(name="broadcast")

MAX_DOWNLOAD = 20 * 1024 * 1024  # what getFile lets a bot download
OPD_PAGE = 8
MAX_SCHEDULE_DAYS = 90
_KEYS = ("bc_text", "bc_media", "bc_path", "bc_name", "bc_aud", "bc_view", "bc_q", "bc_ack", "bc_at", "bc_id")


class BroadcastForm(StatesGroup):
    message = State()
    audience = State()
    ack = State()
    when = State()
    time = State()
    confirm = State()


# ---- who may broadcast -----------------------------------------------------------------------------
async def staff(user_id: int, session: AsyncSession, linking: LinkingService,
                admin_ids: frozenset[int]) -> tuple[bool, Employee | None]:
    """(allowed, linked employee): ADMIN_TELEGRAM_IDS, or a linked employee holding the
    broadcaster (or admin) role."""
    employee = await linking.linked_employee(user_id)
    if user_id in admin_ids:
        return True, employee
    if employee is None:
        return False, None
    allowed = await has_role(session, employee.id, Role.BROADCASTER) or await has_role(session, employee.id, Role.ADMIN)
    return allowed, employee


def _label(user_id: int) -> str:
    return f"telegram:{user_id}"


# ---- keyboards -------------------------------------------------------------------------------------
def _kb(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label, callback_data=data) for label, data in row] for row in rows if row
    ])


def _mark(selected: bool, label: str) -> str:
    return f"✓ {label}" if selected else label


def _with_count(label: str, n: int) -> str:
    return f"{label} ({n})" if n else label


def audience_keyboard(aud: bc.Audience) -> InlineKeyboardMarkup:
    return _kb([
        [(_with_count(tb.BTN_OPD, len(aud.units)), "bca:o:0"), (_with_count(tb.BTN_STATUS, len(aud.statuses)), "bca:s")],
        [(_with_count(tb.BTN_GOLONGAN, len(aud.golongan)), "bca:g"),
         (_with_count(tb.BTN_ESELON, len(aud.eselon)), "bca:e")],
        [(tb.BTN_EVERYONE, "bca:0")] if not aud.everyone else [],
        [(tb.BTN_NEXT, "bca:n")],
    ])


def opd_keyboard(aud: bc.Audience, opds: list[tuple[int, str]], page: int) -> InlineKeyboardMarkup:
    pages = max(1, -(-len(opds) // OPD_PAGE))
    page = min(max(page, 0), pages - 1)
    rows = [[(_mark(uid in aud.units, name), f"bca:u:{uid}:{page}")]
            for uid, name in opds[page * OPD_PAGE:(page + 1) * OPD_PAGE]]
    nav = []
    if page > 0:
        nav.append((tb.BTN_PREV_PAGE, f"bca:o:{page - 1}"))
    if page < pages - 1:
        nav.append((tb.BTN_NEXT_PAGE, f"bca:o:{page + 1}"))
    return _kb([*rows, nav, [(tb.BTN_BACK, "bca:m")]])


def search_keyboard(aud: bc.Audience, found: list[tuple[int, str, str | None]]) -> InlineKeyboardMarkup:
    rows = [[(_mark(uid in aud.units, f"{name} · {opd}" if opd else name)[:120], f"bca:u:{uid}:q")]
            for uid, name, opd in found]
    return _kb([*rows, [(tb.BTN_BACK, "bca:m")]])


def choice_keyboard(kind: str, options: list[tuple[str, str]], selected: tuple[str, ...]) -> InlineKeyboardMarkup:
    code = {"statuses": "s", "golongan": "g", "eselon": "e"}[kind]
    buttons = [(_mark(value in selected, label), f"bca:{code}:{value}") for value, label in options]
    # Typed exact values (III/a) are listed too, so they can be removed again.
    known = {v for v, _ in options}
    buttons += [(_mark(True, v), f"bca:{code}:{v}") for v in selected if v not in known]
    rows = [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    return _kb([*rows, [(tb.BTN_BACK, "bca:m")]])


STATUS_OPTIONS = [("pns", "PNS"), ("pppk", "PPPK"), ("non-pns", "Non-PNS")]
GOLONGAN_OPTIONS = [(g, g) for g in bc.ROOMS]
ESELON_OPTIONS = [(e, e) for e in ("II", "III", "IV")]


def ack_keyboard() -> InlineKeyboardMarkup:
    return _kb([[(tb.BTN_ACK_YES, "bck:1"), (tb.BTN_ACK_NO, "bck:0")]])


def when_keyboard() -> InlineKeyboardMarkup:
    return _kb([[(tb.BTN_NOW, "bcw:now"), (tb.BTN_LATER, "bcw:later")]])


def confirm_keyboard(broadcast_id: int, scheduled: bool) -> InlineKeyboardMarkup:
    return _kb([[(tb.BTN_CONFIRM_LATER if scheduled else tb.BTN_CONFIRM_NOW, f"bcc:{broadcast_id}"),
                 (tb.BTN_DISCARD, f"bcd:{broadcast_id}")]])


def stop_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    return _kb([[(tb.BTN_STOP, f"bcs:{broadcast_id}")]])


def export_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    return _kb([[(tb.BTN_CSV, f"bcx:{broadcast_id}:csv"), (tb.BTN_XLSX, f"bcx:{broadcast_id}:xlsx")]])


def as_dict(markup: InlineKeyboardMarkup) -> dict[str, Any]:
    """A keyboard as the outbox stores it (Bot API JSON)."""
    return markup.model_dump(exclude_none=True)


# ---- helpers ---------------------------------------------------------------------------------------
async def _edit(message: Message | Any, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as err:
        if "not modified" not in err.message:
            raise


async def _audience(state: FSMContext) -> bc.Audience:
    return bc.Audience.from_json((await state.get_data()).get("bc_aud"))


async def _screen(session: AsyncSession, aud: bc.Audience, view: str, *, page: int = 0,
                  query: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    count = await bc.count(session, aud)
    if view == "main":
        return tb.audience_screen(await bc.summarize(session, aud), count), audience_keyboard(aud)
    counted = "\n\n" + tb.counts(count)
    if view == "opd":
        opds = await bc.opd_list(session)
        pages = max(1, -(-len(opds) // OPD_PAGE))
        page = min(max(page, 0), pages - 1)
        return tb.opd_page(page, pages) + counted, opd_keyboard(aud, opds, page)
    if view == "search":
        found = await bc.find_units(session, query or "")
        return tb.unit_search(query or "", len(found)) + counted, search_keyboard(aud, found)
    if view == "statuses":
        return tb.status_screen() + counted, choice_keyboard("statuses", STATUS_OPTIONS, aud.statuses)
    if view == "golongan":
        return tb.golongan_screen() + counted, choice_keyboard("golongan", GOLONGAN_OPTIONS, aud.golongan)
    return tb.eselon_screen() + counted, choice_keyboard("eselon", ESELON_OPTIONS, aud.eselon)


async def send_as_recipient(bot: Bot, chat_id: int, b: Broadcast, data_dir: Any) -> None:
    """The broadcast exactly as the outbox worker sends it (same payload)."""
    method, payload = bc.message_for(b)
    markup = payload.get("reply_markup")
    kwargs: dict[str, Any] = {"reply_markup": InlineKeyboardMarkup.model_validate(markup) if markup else None}
    if method == "sendMessage":
        await bot.send_message(chat_id, payload["text"], **kwargs)
        return
    kind = "document" if method == "sendDocument" else "photo"
    upload = FSInputFile(data_dir / payload[f"{kind}_path"], filename=payload.get("file_name"))
    send = bot.send_document if kind == "document" else bot.send_photo
    await send(chat_id, upload, caption=payload.get("caption"), **kwargs)


async def _leave_form(state: FSMContext) -> None:
    await state.set_state(None)
    await state.update_data(dict.fromkeys(_KEYS))


# ---- 1. the message --------------------------------------------------------------------------------
@router.message(Command("broadcast", "siaran"))
async def start(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                admin_ids: frozenset[int]) -> None:
    allowed, _ = await staff(message.from_user.id, session, linking, admin_ids)
    if not allowed:
        # The same answer as any unknown command: non-staff learn nothing about staff tools.
        await message.answer(texts.unknown_command(message.text.split()[0].split("@")[0]))
        return
    await state.update_data(dict.fromkeys(_KEYS))
    await state.set_state(BroadcastForm.message)
    await message.answer(tb.ask_message())


async def _to_audience(message: Message, state: FSMContext, session: AsyncSession, **data: Any) -> None:
    await state.update_data(bc_aud=bc.Audience().to_json(), bc_view="main", **data)
    await state.set_state(BroadcastForm.audience)
    text, markup = await _screen(session, bc.Audience(), "main")
    await message.answer(text, reply_markup=markup)


@router.message(BroadcastForm.message, F.text, ~F.text.startswith("/"), ~F.text.in_(texts.MENU_ITEMS))
async def got_text(message: Message, state: FSMContext, session: AsyncSession) -> None:
    body = message.html_text
    try:
        bc.check_message(body, None)
    except bc.BroadcastError as err:
        await message.answer(tb.error(err.message))
        return
    await _to_audience(message, state, session, bc_text=body, bc_media=None, bc_path=None, bc_name=None)


@router.message(BroadcastForm.message, F.document | F.photo)
async def got_file(message: Message, state: FSMContext, session: AsyncSession, bot: Bot, actx: Context) -> None:
    media = "document" if message.document else "photo"
    caption = message.html_text if message.caption else ""
    try:
        bc.check_message(caption, media)
    except bc.BroadcastError as err:
        await message.answer(tb.error(err.message))
        return
    item = message.document or message.photo[-1]
    if (item.file_size or 0) > MAX_DOWNLOAD:
        await message.answer(tb.file_too_big())
        return
    content = (await bot.download(item.file_id)).getvalue()
    name = message.document.file_name if message.document else None
    path, shown = await asyncio.to_thread(bc.store_file, actx.data_dir, content, name, media=media)
    await _to_audience(message, state, session, bc_text=caption, bc_media=media, bc_path=path, bc_name=shown)


@router.message(BroadcastForm.message, lambda m: not (m.text or "").startswith("/"))
async def got_other(message: Message) -> None:
    await message.answer(tb.message_unsupported())


# ---- 2. the audience -------------------------------------------------------------------------------
@router.callback_query(BroadcastForm.audience, F.data.startswith("bca:"))
async def audience_action(query: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    parts = query.data.split(":")
    aud = await _audience(state)
    action, args = parts[1], parts[2:]
    view, page, search = "main", 0, (await state.get_data()).get("bc_q")
    try:
        if action == "0":
            aud = bc.Audience()
        elif action == "o":
            view, page = "opd", int(args[0])
        elif action == "u":
            unit_id = int(args[0])
            if unit_id not in (await bc.unit_tree(session)).parent:
                raise ValueError("unknown unit")
            aud = aud.toggle("units", unit_id)
            view, page = ("search", 0) if args[1] == "q" else ("opd", int(args[1]))
        elif action in ("s", "g", "e"):
            kind = {"s": "statuses", "g": "golongan", "e": "eselon"}[action]
            view = kind
            if args:
                value = ":".join(args)
                checked = bc.Audience.build(**{kind: [value]})  # refuses forged values
                aud = aud.toggle(kind, getattr(checked, kind)[0])
        elif action == "n":
            count = await bc.count(session, aud)
            if count.linked == 0:
                await query.answer(tb.audience_empty(), show_alert=True)
                return
            await state.set_state(BroadcastForm.ack)
            await query.answer()
            await _edit(query.message, tb.ask_ack(), ack_keyboard())
            return
        elif action != "m":
            raise ValueError("unknown action")
    except (ValueError, IndexError):
        await query.answer(texts.stale_button())
        return
    await state.update_data(bc_aud=aud.to_json(), bc_view=view)
    await query.answer()
    text, markup = await _screen(session, aud, view, page=page, query=search)
    await _edit(query.message, text, markup)


@router.message(BroadcastForm.audience, F.text, ~F.text.startswith("/"), ~F.text.in_(texts.MENU_ITEMS))
async def audience_typed(message: Message, state: FSMContext, session: AsyncSession) -> None:
    """Typed text while choosing: an exact golongan ("III/a", or "IX" on the golongan screen),
    else a search for units by name (sub-units are not in the OPD list)."""
    data = await state.get_data()
    aud = bc.Audience.from_json(data.get("bc_aud"))
    typed = message.text.strip()
    golongan = normalize_golongan(typed) if len(typed) <= 8 else None
    if golongan and ("/" in golongan or data.get("bc_view") == "golongan"):
        aud = aud.toggle("golongan", golongan)
        await state.update_data(bc_aud=aud.to_json(), bc_view="golongan")
        text, markup = await _screen(session, aud, "golongan")
    else:
        await state.update_data(bc_q=typed[:100], bc_view="search")
        text, markup = await _screen(session, aud, "search", query=typed[:100])
    await message.answer(text, reply_markup=markup)


# ---- 3. acknowledgement, 4. when -------------------------------------------------------------------
@router.callback_query(BroadcastForm.ack, F.data.in_({"bck:1", "bck:0"}))
async def choose_ack(query: CallbackQuery, state: FSMContext) -> None:
    await state.update_data(bc_ack=query.data == "bck:1")
    await state.set_state(BroadcastForm.when)
    await query.answer()
    await _edit(query.message, tb.ask_when(), when_keyboard())


@router.callback_query(BroadcastForm.when, F.data.in_({"bcw:now", "bcw:later"}))
async def choose_when(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                      bot: Bot, actx: Context) -> None:
    await query.answer()
    if query.data == "bcw:later":
        await state.set_state(BroadcastForm.time)
        await _edit(query.message, tb.ask_time())
        return
    await _edit(query.message, tb.ask_when() + " " + tb.BTN_NOW.lower() + ".")
    await _preview(query.from_user.id, query.from_user.id, state, session, linking, bot, actx, at=None)


@router.message(BroadcastForm.time, F.text, ~F.text.startswith("/"), ~F.text.in_(texts.MENU_ITEMS))
async def typed_time(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     bot: Bot, actx: Context) -> None:
    now = actx.now()
    at = bc.parse_when(message.text, now.astimezone(actx.zone))
    if at is None:
        await message.answer(tb.bad_time())
        return
    if at <= now + timedelta(minutes=1):
        await message.answer(tb.time_not_future())
        return
    if at > now + timedelta(days=MAX_SCHEDULE_DAYS):
        await message.answer(tb.time_too_far())
        return
    await _preview(message.from_user.id, message.chat.id, state, session, linking, bot, actx, at=at)


# ---- 5. preview, 6. confirm ------------------------------------------------------------------------
async def _preview(user_id: int, chat_id: int, state: FSMContext, session: AsyncSession, linking: LinkingService,
                   bot: Bot, actx: Context, *, at: Any) -> None:
    data = await state.get_data()
    aud = bc.Audience.from_json(data.get("bc_aud"))
    employee = await linking.linked_employee(user_id)
    b = await bc.create(
        session, text=data.get("bc_text") or "", audience=aud, created_by=employee.id if employee else None,
        created_by_label=_label(user_id), ack=bool(data.get("bc_ack")), media=data.get("bc_media"),
        document_path=data.get("bc_path"), document_name=data.get("bc_name"), report_chat_id=chat_id,
        scheduled_at=at,
    )
    count = await bc.count(session, aud)
    summary = await bc.summarize(session, aud)
    await session.commit()
    await state.update_data(bc_id=b.id)
    await state.set_state(BroadcastForm.confirm)
    await bot.send_message(chat_id, tb.preview_intro())
    await send_as_recipient(bot, chat_id, b, actx.data_dir)
    local = at.astimezone(actx.zone) if at else None
    await bot.send_message(chat_id, tb.preview_summary(b.id, summary, count, ack=b.ack, at=local),
                           reply_markup=confirm_keyboard(b.id, at is not None))


async def _own_draft(query: CallbackQuery, session: AsyncSession, linking: LinkingService,
                     admin_ids: frozenset[int]) -> int | None:
    """The broadcast id of a confirm/discard button, if the presser may use it (else answered)."""
    allowed, _ = await staff(query.from_user.id, session, linking, admin_ids)
    if not allowed:
        await query.answer(tb.not_allowed_anymore(), show_alert=True)
        return None
    tail = query.data.split(":", 1)[1]
    b = await session.get(Broadcast, int(tail)) if tail.isdigit() else None
    if b is None:
        await query.answer(texts.stale_button())
        return None
    if b.created_by_label != _label(query.from_user.id):
        await query.answer(tb.not_yours(), show_alert=True)
        return None
    return b.id


@router.callback_query(F.data.startswith("bcc:"))
async def confirm(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                  admin_ids: frozenset[int], actx: Context) -> None:
    broadcast_id = await _own_draft(query, session, linking, admin_ids)
    if broadcast_id is None:
        return
    try:
        done = await bc.confirm(session, broadcast_id, actor=_label(query.from_user.id),
                                actor_telegram_id=query.from_user.id, now=actx.now())
    except bc.BroadcastError as err:
        await query.answer(err.message, show_alert=True)
        return
    await session.commit()
    await query.answer()
    if (await state.get_data()).get("bc_id") == broadcast_id:
        await _leave_form(state)
    b = done.broadcast
    if done.released is not None:
        await _edit(query.message, tb.confirmed_now(b.id, done.released), stop_keyboard(b.id))
    else:
        await _edit(query.message, tb.confirmed_later(b.id, b.scheduled_at.astimezone(actx.zone)))


@router.callback_query(F.data.startswith("bcd:"))
async def discard(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                  admin_ids: frozenset[int]) -> None:
    broadcast_id = await _own_draft(query, session, linking, admin_ids)
    if broadcast_id is None:
        return
    try:
        await bc.cancel(session, broadcast_id, actor=_label(query.from_user.id), actor_telegram_id=query.from_user.id)
    except bc.BroadcastError as err:
        await query.answer(err.message, show_alert=True)
        return
    await session.commit()
    await query.answer()
    if (await state.get_data()).get("bc_id") == broadcast_id:
        await _leave_form(state)
    await _edit(query.message, tb.discarded(broadcast_id))


# ---- any time: stop, report, export ----------------------------------------------------------------
async def _stop(user_id: int, broadcast_id: int, session: AsyncSession) -> str:
    try:
        c = await bc.cancel(session, broadcast_id, actor=_label(user_id), actor_telegram_id=user_id)
    except bc.BroadcastError as err:
        return tb.error(err.message)
    await session.commit()
    return tb.cancelled(c)


@router.callback_query(F.data.startswith("bcs:"))
async def stop_button(query: CallbackQuery, session: AsyncSession, linking: LinkingService,
                      admin_ids: frozenset[int], bot: Bot) -> None:
    allowed, _ = await staff(query.from_user.id, session, linking, admin_ids)
    tail = query.data[4:]
    if not allowed or not tail.isdigit():
        await query.answer(texts.stale_button())
        return
    await query.answer()
    reply = await _stop(query.from_user.id, int(tail), session)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(query.from_user.id, reply)


def _number(command: CommandObject) -> int | None:
    arg = (command.args or "").strip().lstrip("#")
    return int(arg) if arg.isdigit() else None


@router.message(Command("broadcast_batal", "siaran_batal"))
async def stop_command(message: Message, command: CommandObject, session: AsyncSession, linking: LinkingService,
                       admin_ids: frozenset[int]) -> None:
    allowed, _ = await staff(message.from_user.id, session, linking, admin_ids)
    if not allowed:
        await message.answer(texts.unknown_command("/broadcast_batal"))
        return
    number = _number(command)
    if number is None:
        await message.answer(tb.usage_cancel())
        return
    await message.answer(await _stop(message.from_user.id, number, session))


@router.message(Command("laporan"))
async def report_command(message: Message, command: CommandObject, session: AsyncSession, linking: LinkingService,
                         admin_ids: frozenset[int], actx: Context) -> None:
    allowed, _ = await staff(message.from_user.id, session, linking, admin_ids)
    if not allowed:
        await message.answer(texts.unknown_command("/laporan"))
        return
    number = _number(command)
    if number is None:
        await message.answer(tb.usage_report())
        return
    try:
        r = await bc.report(session, number)
    except bc.BroadcastError as err:
        await message.answer(tb.error(err.message))
        return
    await message.answer(tb.report(r, actx.zone), reply_markup=export_keyboard(number) if r.total.recipients else None)


@router.callback_query(F.data.startswith("bcx:"))
async def export(query: CallbackQuery, session: AsyncSession, linking: LinkingService, admin_ids: frozenset[int],
                 bot: Bot, actx: Context) -> None:
    allowed, _ = await staff(query.from_user.id, session, linking, admin_ids)
    parts = query.data.split(":")
    if not allowed or len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("csv", "xlsx"):
        await query.answer(texts.stale_button())
        return
    broadcast_id, fmt = int(parts[1]), parts[2]
    try:
        rows = await bc.recipient_rows(session, broadcast_id)
    except bc.BroadcastError as err:
        await query.answer(err.message, show_alert=True)
        return
    await query.answer()
    build = bc.export_csv if fmt == "csv" else bc.export_xlsx
    content = await asyncio.to_thread(build, rows, actx.zone)  # 20,000 rows: keep the loop free
    await bc.record_export(session, broadcast_id, fmt, len(rows), actor=_label(query.from_user.id),
                           actor_telegram_id=query.from_user.id)
    await session.commit()
    await bot.send_document(query.from_user.id, BufferedInputFile(content, filename=f"siaran-{broadcast_id}.{fmt}"),
                            caption=tb.export_caption(broadcast_id, len(rows)))


# ---- recipients: "Sudah saya baca dan pahami" ------------------------------------------------------
@router.callback_query(F.data.startswith(bc.ACK_PREFIX))
async def acknowledge(query: CallbackQuery, session: AsyncSession, linking: LinkingService) -> None:
    tail = query.data[len(bc.ACK_PREFIX):]
    employee = await linking.linked_employee(query.from_user.id)
    if employee is None:
        await query.answer(tb.ack_not_linked(), show_alert=True)
        return
    if not tail.isdigit():
        await query.answer(texts.stale_button())
        return
    try:
        first = await bc.ack(session, int(tail), employee.id, now=utcnow())
    except bc.NotRecipient:
        await query.answer(tb.ack_not_recipient(), show_alert=True)
        return
    if not first:
        await query.answer(tb.ack_again())
        return
    await session.commit()
    await query.answer(tb.ack_thanks(), show_alert=True)
    if isinstance(query.message, Message):
        # The button stays (a second press answers "sudah tercatat") but shows it is done.
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(
                reply_markup=InlineKeyboardMarkup.model_validate(bc.ack_markup(int(tail), done=True)))
