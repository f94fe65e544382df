"""Ajukan cuti: the form on the phone, from the kind to the filed application.

Thin: which kinds, the quote, the documents and the submission all come from services
(services.applications.cuti, services.applications.engine); this module only walks the steps.

The draft lives in the FSM data under KEY as plain JSON (dates as ISO strings), so with the
persistent storage (SQL or Redis) a half-filled form survives a restart. The flow is "fill the
first missing field": every answer stores its field and the form moves on to whatever is still
missing, so Back and Ubah only have to forget fields. A draft untouched for FORM_TTL_HOURS
expires: the next update says so and starts over.
"""
from __future__ import annotations

import asyncio
import secrets
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers import texts_cuti as tc
from handlers.calendar import calendar_markup, parse_calendar_callback
from services import files
from services.applications import cuti as cuti_app
from services.applications import engine, uploads
from services.applications.engine import Context, WorkflowError
from services.cuti import rules
from services.cuti.quote import Quote, annual_balance
from services.models import Employee
from services.phone import PhoneError, display_phone, normalize_phone
from services.textdate import format_date, parse_date, parse_range

router = Router(name="cuti")


class CutiForm(StatesGroup):
    kind = State()
    detail = State()  # reason code (cuti besar, cuti sakit) or birth order (cuti melahirkan)
    start = State()
    end = State()
    dates = State()  # the quote: working days, excluded dates, balance, problems
    abroad = State()
    alasan = State()
    alamat = State()
    telepon = State()
    files = State()
    summary = State()


KEY = "cuti"  # FSM data key of the draft
DEFAULT_TTL_HOURS = 24.0
# Callback data (<= 64 bytes; checked against the state and the draft, never trusted).
CB_START = "cuti:start"  # from the menu of a knowledge-base answer about cuti
CB_BACK, CB_CANCEL = "cu:back", "cu:cancel"
CB_KIND, CB_DETAIL, CB_ABROAD, CB_FIELD = "cu:k:", "cu:r:", "cu:ab:", "cu:e:"
CB_DATES_OK, CB_OTHER_DATES = "cu:ok", "cu:dt"
CB_SEND, CB_EDIT, CB_TEL = "cu:send", "cu:edit", "cu:tel"
CAL_START, CAL_END = "cus", "cue"
ORDER = ("kind", "detail", "start", "end", "dates", "abroad", "alasan", "alamat", "telepon", "files", "summary")
STATES = {name: getattr(CutiForm, name) for name in ORDER}
TEXT_LIMITS = {"alasan": ("Alasan", 3, 500), "alamat": ("Alamat", 5, 300)}
END_SPAN = timedelta(days=3 * 366 + 31)  # the longest leave (CLTN) is 3 years
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files
BACK_WORDS = {tc.BTN_BACK.lower(), "kembali", "‹ kembali"}
# What each step forgets when the user goes back to it or changes it.
FORGETS = {
    "kind": ("kind", "opts", "reason_code", "birth_order", "detail_done", "start", "end", "dates_ok", "docs",
             "abroad"),
    "detail": ("reason_code", "birth_order", "detail_done", "dates_ok", "docs"),
    "start": ("start", "end", "dates_ok", "docs"),
    "end": ("end", "dates_ok", "docs"),
    "dates": ("dates_ok", "docs"),
    "abroad": ("abroad",),
    "alasan": ("alasan",),
    "alamat": ("alamat",),
    "telepon": ("telepon",),
}


# ---- the draft ----------------------------------------------------------------------------------
def new_draft(now: datetime) -> dict[str, Any]:
    # The id makes the submit key: a double tap or a resend of this draft files one application.
    return {"id": secrets.token_hex(8), "started": now.isoformat(), "touched": now.isoformat(), "files": {}}


def applies(step: str, d: dict[str, Any]) -> bool:
    if step == "detail":
        return bool(d.get("opts"))
    if step == "abroad":
        return d.get("kind") in rules.ABROAD_KINDS
    if step == "files":
        return bool(d.get("docs"))
    return True


def missing_docs(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [(code, msg) for code, msg in d.get("docs") or [] if code not in d["files"]]


def done(step: str, d: dict[str, Any]) -> bool:
    if step == "kind":
        return d.get("kind") is not None
    if step == "detail":
        return bool(d.get("detail_done"))
    if step in ("start", "end", "alasan", "alamat", "telepon"):
        return bool(d.get(step))
    if step == "dates":
        return bool(d.get("dates_ok"))
    if step == "abroad":
        return d.get("abroad") is not None
    if step == "files":
        return not missing_docs(d)
    return False  # the summary waits for Kirim


def next_step(d: dict[str, Any]) -> str:
    return next(s for s in ORDER if applies(s, d) and not done(s, d))


def previous_step(d: dict[str, Any], current: str) -> str | None:
    before = [s for s in ORDER[:ORDER.index(current)] if applies(s, d)]
    return before[-1] if before else None


def forget(step: str, d: dict[str, Any]) -> None:
    for k in FORGETS.get(step, ()):
        d.pop(k, None)


def form_data(d: dict[str, Any]) -> dict[str, Any]:
    """The application's data as services.applications.cuti expects it."""
    needed = [code for code, _ in d.get("docs") or []]
    return {
        "kind": d["kind"], "start": d["start"], "end": d["end"], "abroad": bool(d.get("abroad")),
        "reason_code": d.get("reason_code"), "birth_order": d.get("birth_order"), "alasan": d.get("alasan"),
        "alamat": d.get("alamat"), "telepon": d.get("telepon"),
        "files": {code: d["files"][code] for code in needed if code in d["files"]},
    }


# ---- keyboards ----------------------------------------------------------------------------------
def _b(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def nav_row(*, back: bool = True) -> list[InlineKeyboardButton]:
    row = [_b(tc.BTN_BACK, CB_BACK)] if back else []
    return row + [_b(texts.BTN_CANCEL, CB_CANCEL)]


def markup(rows: list[list[InlineKeyboardButton]], *, back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_row(back=back)])


def summary_markup(blocked: bool) -> InlineKeyboardMarkup:
    rows = [] if blocked else [[_b(tc.BTN_SEND, CB_SEND)]]
    rows.append([_b(tc.BTN_EDIT, CB_EDIT), _b(texts.BTN_CANCEL, CB_CANCEL)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def fields_markup(d: dict[str, Any]) -> InlineKeyboardMarkup:
    names = [f for f in tc.FIELD_BUTTONS if f not in ("abroad", "files") or applies(f, d)]
    buttons = [_b(tc.FIELD_BUTTONS[f], CB_FIELD + f) for f in names]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_b(tc.BTN_TO_SUMMARY, CB_FIELD + "x")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


# ---- one update's view of the form --------------------------------------------------------------
@dataclass
class Form:
    bot: Bot
    chat_id: int
    user_id: int
    state: FSMContext
    session: AsyncSession
    actx: Context
    emp: Employee
    d: dict[str, Any] = field(default_factory=dict)
    # The FSM data besides the draft (e.g. the question kept for "Tanya petugas"), read once per
    # update; None until read. Saving writes it back with the draft, so a save needs no read.
    # Nothing else writes this chat's FSM data while the update runs (events isolation).
    others: dict[str, Any] | None = field(default=None, repr=False)
    # The state as stored (read under this update's lock), so going to the step already stored
    # writes nothing; the FSM keys have no TTL to refresh (bot/app.py build_storage).
    raw_state: str | None = field(default=None, repr=False)
    _kinds: list[str] | None = field(default=None, repr=False)

    @property
    def today(self) -> date:
        return self.actx.today()

    async def kinds(self) -> list[str]:
        """The kinds this person may take, worked out once per update (opening the form asks
        twice: whether there is any, then for the buttons)."""
        if self._kinds is None:
            self._kinds = await cuti_app.kinds_for(self.session, self.actx, self.emp)
        return self._kinds

    def date(self, key: str) -> date:
        return date.fromisoformat(self.d[key])

    async def save(self) -> None:
        self.d["touched"] = self.actx.now().isoformat()
        if self.others is None:  # opened from the menu: the rest of the data was not needed yet
            self.others = {k: v for k, v in (await self.state.get_data()).items() if k != KEY}
        await self.state.set_data({**self.others, KEY: self.d})

    async def send(self, text: str, reply_markup: Any = None, *, prompt: bool = False) -> Message:
        if prompt:
            await self.retire_prompt()
        sent = await self.bot.send_message(self.chat_id, text, reply_markup=reply_markup)
        if prompt:
            self.d["prompt"] = sent.message_id
        return sent

    async def retire_prompt(self) -> None:
        """Drop the buttons of the previous step's message: they no longer apply."""
        old = self.d.pop("prompt", None)
        if old:
            try:
                await self.bot.edit_message_reply_markup(chat_id=self.chat_id, message_id=old, reply_markup=None)
            except TelegramBadRequest:
                pass  # already without buttons, or deleted by the user

    async def advance(self) -> None:
        """An answer was stored: on to whatever is still missing."""
        self.d.pop("undo", None)
        await self.go(next_step(self.d))

    async def go(self, step: str) -> None:
        target = STATES[step].state
        if target != self.raw_state:
            await self.state.set_state(target)
            self.raw_state = target
        # Saved before the prompt goes out, so an answer is never lost to a restart between the
        # two (the user would see the next step while the draft still lacks this answer).
        await self.save()
        await ASK[step](self)
        await self.save()  # the new prompt's message id, for retiring its buttons later

    async def quote(self) -> Quote:
        return await cuti_app.quote_for(self.session, self.actx, self.emp, cuti_app.request_from(self.d))

    async def calendar(self, prefix: str, month: date) -> InlineKeyboardMarkup:
        lo, hi = self.bounds(prefix)
        first = month.replace(day=1)
        last = first.replace(day=monthrange(first.year, first.month)[1])
        off = await cuti_app.off_days(self.session, self.actx, self.emp, first, last)
        marked = {self.date("start")} if prefix == CAL_END else set()
        cal = calendar_markup(month, prefix=prefix, min_date=lo, max_date=hi, marked=marked, off_days=off)
        return InlineKeyboardMarkup(inline_keyboard=[*cal.inline_keyboard, nav_row()])

    def bounds(self, prefix: str) -> tuple[date, date]:
        if prefix == CAL_END:
            start = self.date("start")
            return start, start + END_SPAN
        return cuti_app.date_bounds(self.actx, self.d["kind"])


async def settle(query: CallbackQuery, text: str | None = None) -> None:
    """The pressed message keeps the choice made (or just loses its buttons)."""
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        if text:
            await message.edit_text(text)
        else:
            await message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest:
        pass  # not modified, or too old to edit: nothing to tidy


def _ids(event: Message | CallbackQuery) -> tuple[int, int]:
    if isinstance(event, CallbackQuery):
        chat = event.message.chat.id if event.message is not None else event.from_user.id
        return chat, event.from_user.id
    return event.chat.id, event.from_user.id


async def _employee(event: Message | CallbackQuery, data: dict[str, Any]) -> Employee | None:
    emp = await data["linking"].linked_employee(event.from_user.id)
    if emp is None:
        await data["state"].clear()
        chat_id, _ = _ids(event)
        await data["bot"].send_message(chat_id, tc.not_linked_first(), reply_markup=keyboards.link_menu())
    return emp


def _form(event: Message | CallbackQuery, data: dict[str, Any], emp: Employee, d: dict[str, Any],
          others: dict[str, Any] | None = None, raw_state: str | None = None) -> Form:
    # raw_state: handlers that take it as a parameter no longer have it in data.
    chat_id, user_id = _ids(event)
    return Form(bot=data["bot"], chat_id=chat_id, user_id=user_id, state=data["state"], session=data["session"],
                actx=data["actx"], emp=emp, d=d, others=others, raw_state=raw_state or data.get("raw_state"))


async def load(event: Message | CallbackQuery, data: dict[str, Any], raw_state: str | None = None) -> Form | None:
    """The form of this chat, or None when the update was answered here already (not linked,
    or the draft expired and was started over)."""
    emp = await _employee(event, data)
    if emp is None:
        if isinstance(event, CallbackQuery):
            await event.answer()
        return None
    others = await data["state"].get_data()
    d = others.pop(KEY, None)
    actx: Context = data["actx"]
    ttl = float(data.get("form_ttl_hours") or DEFAULT_TTL_HOURS)
    try:
        idle = actx.now() - datetime.fromisoformat(d["touched"]) if d else None
    except (KeyError, TypeError, ValueError):
        idle = None
    if idle is None or idle > timedelta(hours=ttl):
        if isinstance(event, CallbackQuery):
            await event.answer()
        form = _form(event, data, emp, {}, others, raw_state)
        await form.send(tc.expired(ttl))
        await begin(form)
        return None
    return _form(event, data, emp, d, others, raw_state)


async def begin(form: Form) -> None:
    """A fresh draft: the kinds this person may take."""
    kinds = await form.kinds()
    if not kinds:
        refusals = await cuti_app.refusals_for(form.session, form.actx, form.emp)
        await form.state.clear()
        await form.send(tc.no_kinds(refusals.get("tahunan")))
        return
    form.d = new_draft(form.actx.now())
    await form.go("kind")


# ---- asking each step -------------------------------------------------------------------------------
async def ask_kind(form: Form) -> None:
    kinds = await form.kinds()
    balance = await annual_balance(form.session, form.emp, today=form.today, agency_dir=form.actx.agency_dir)
    rows = [[_b(tc.KIND_BUTTONS[k], CB_KIND + k)] for k in kinds]
    await form.send(tc.choose_kind(balance), markup(rows, back=False), prompt=True)


async def ask_detail(form: Form) -> None:
    kind = form.d["kind"]
    labels = tc.DETAIL_LABELS[kind]
    rows = [[_b(labels[o], CB_DETAIL + o)] for o in form.d["opts"]]
    await form.send(tc.choose_detail(kind), markup(rows), prompt=True)


async def ask_start(form: Form) -> None:
    lo, _ = form.bounds(CAL_START)
    month = form.date("start") if form.d.get("start") else max(form.today, lo)
    await form.send(tc.ask_start(form.d["kind"]), await form.calendar(CAL_START, month), prompt=True)


async def ask_end(form: Form) -> None:
    start = form.date("start")
    await form.send(tc.ask_end(form.d["kind"], start), await form.calendar(CAL_END, start), prompt=True)


async def ask_dates(form: Form) -> None:
    q = await form.quote()
    blocked = any(p.blocking for p in q.problems)
    rows = [[_b(tc.BTN_OTHER_DATES, CB_OTHER_DATES)]]
    if not blocked:
        rows.insert(0, [_b(tc.BTN_NEXT, CB_DATES_OK)])
    text = tc.quote(form.d["kind"], form.date("start"), form.date("end"), q)
    await form.send(text, InlineKeyboardMarkup(inline_keyboard=[*rows, [_b(texts.BTN_CANCEL, CB_CANCEL)]]),
                    prompt=True)


async def ask_abroad(form: Form) -> None:
    rows = [[_b(tc.BTN_YES, CB_ABROAD + "1"), _b(tc.BTN_NO, CB_ABROAD + "0")]]
    await form.send(tc.ask_abroad(), markup(rows), prompt=True)


async def ask_alasan(form: Form) -> None:
    await form.send(tc.ask_alasan(form.d["kind"]), markup([]), prompt=True)


async def ask_alamat(form: Form) -> None:
    await form.send(tc.ask_alamat(), markup([]), prompt=True)


async def ask_telepon(form: Form) -> None:
    rows = []
    if form.emp.phone:
        rows.append([_b(tc.use_registered(display_phone(form.emp.phone)), CB_TEL)])
    await form.send(tc.ask_telepon(), markup(rows), prompt=True)


async def ask_files(form: Form) -> None:
    docs = form.d["docs"]
    code, msg = missing_docs(form.d)[0]
    i = [c for c, _ in docs].index(code) + 1
    await form.send(tc.ask_file(i, len(docs), msg), markup([]), prompt=True)


async def ask_summary(form: Form) -> None:
    q = await form.quote()
    blocked = any(p.blocking for p in q.problems)
    labels = [tc.doc_label(code, msg) for code, msg in form.d.get("docs") or [] if code in form.d["files"]]
    await form.send(tc.summary(form.d, q, form.d.get("telepon"), labels), summary_markup(blocked), prompt=True)


ASK = {"kind": ask_kind, "detail": ask_detail, "start": ask_start, "end": ask_end, "dates": ask_dates,
       "abroad": ask_abroad, "alasan": ask_alasan, "alamat": ask_alamat, "telepon": ask_telepon,
       "files": ask_files, "summary": ask_summary}


def current_step(raw_state: str | None) -> str | None:
    for name, st in STATES.items():
        if st.state == raw_state:
            return name
    return None


# ---- entry --------------------------------------------------------------------------------------
@router.message(Command("cuti"))
@router.message(F.text == texts.MENU_CUTI)
async def entry(message: Message, **data: Any) -> None:
    emp = await _employee(message, data)
    if emp is not None:
        await begin(_form(message, data, emp, {}))


@router.callback_query(F.data == CB_START)
async def entry_button(query: CallbackQuery, **data: Any) -> None:
    await query.answer()
    emp = await _employee(query, data)
    if emp is not None:
        await begin(_form(query, data, emp, {}))


# ---- choices on buttons -------------------------------------------------------------------------
@router.callback_query(CutiForm.kind, F.data.startswith(CB_KIND))
async def kind_chosen(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    kind = query.data[len(CB_KIND):]
    if kind not in rules.KINDS:
        await query.answer(texts.stale_button())
        return
    # Re-checked here: a forged or outdated button cannot open a kind this person may not take.
    if kind not in await form.kinds():
        refusals = await cuti_app.refusals_for(form.session, form.actx, form.emp)
        await query.answer()
        await form.send(tc.kind_refused(kind, refusals.get(kind)))
        return
    await query.answer()
    await settle(query, tc.chosen("Jenis cuti", tc.kind_name(kind)))
    form.d.pop("prompt", None)
    forget("kind", form.d)
    form.d["kind"] = kind
    if kind == "melahirkan":
        opts = list(tc.DETAIL_LABELS["melahirkan"])
    else:
        reasons = await cuti_app.reasons_for(form.session, form.actx, form.emp, kind)
        opts = ["-" if r is None else r for r in reasons] if reasons != [None] else []
    form.d["opts"] = opts
    await form.advance()


@router.callback_query(CutiForm.detail, F.data.startswith(CB_DETAIL))
async def detail_chosen(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    option = query.data[len(CB_DETAIL):]
    if option not in (form.d.get("opts") or []):
        await query.answer(texts.stale_button())
        return
    await query.answer()
    kind = form.d["kind"]
    await settle(query, tc.chosen(tc.kind_name(kind), tc.DETAIL_LABELS[kind][option]))
    form.d.pop("prompt", None)
    forget("detail", form.d)
    if kind == "melahirkan":
        form.d["birth_order"] = int(option[1:])
    else:
        form.d["reason_code"] = None if option == "-" else option
    form.d["detail_done"] = True
    await form.advance()


@router.callback_query(CutiForm.start, F.data.startswith(CAL_START + ":"))
@router.callback_query(CutiForm.end, F.data.startswith(CAL_END + ":"))
async def calendar_pressed(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    prefix = query.data.split(":", 1)[0]
    lo, hi = form.bounds(prefix)
    what, value = parse_calendar_callback(query.data, prefix, min_date=lo, max_date=hi)
    if what == "noop":
        await query.answer()
        return
    if what == "invalid" or value is None:
        await query.answer(texts.stale_button())
        return
    if what == "month":
        await query.answer()
        if isinstance(query.message, Message):
            try:
                await query.message.edit_reply_markup(reply_markup=await form.calendar(prefix, value))
            except TelegramBadRequest:
                pass  # the same month pressed twice
        return
    await query.answer()
    label = "Tanggal mulai" if prefix == CAL_START else "Tanggal selesai"
    await settle(query, tc.chosen(label, format_date(value)))
    form.d.pop("prompt", None)
    if prefix == CAL_START:
        forget("start", form.d)
        form.d["start"] = value.isoformat()
    else:
        forget("end", form.d)
        form.d["end"] = value.isoformat()
    await form.advance()


@router.callback_query(CutiForm.dates, F.data.in_({CB_DATES_OK, CB_OTHER_DATES}))
async def dates_answer(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    await query.answer()
    if query.data == CB_OTHER_DATES:
        forget("start", form.d)
        await form.go("start")
        return
    q = await form.quote()
    if any(p.blocking for p in q.problems):  # things changed since it was shown (another request)
        await form.go("dates")
        return
    await settle(query)
    form.d.pop("prompt", None)
    form.d["dates_ok"] = True
    form.d["docs"] = [[code, msg] for code, msg in cuti_app.documents_needed(q)]
    await form.advance()


@router.callback_query(CutiForm.abroad, F.data.in_({CB_ABROAD + "1", CB_ABROAD + "0"}))
async def abroad_answer(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    await query.answer()
    abroad = query.data.endswith("1")
    await settle(query, tc.chosen("Di luar negeri", tc.BTN_YES if abroad else tc.BTN_NO))
    form.d.pop("prompt", None)
    form.d["abroad"] = abroad
    await form.advance()


@router.callback_query(CutiForm.telepon, F.data == CB_TEL)
async def registered_phone(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    await query.answer()
    if not form.emp.phone:
        await form.go("telepon")
        return
    form.d["telepon"] = display_phone(form.emp.phone)
    await settle(query, tc.chosen("Telepon", form.d["telepon"]))
    form.d.pop("prompt", None)
    await form.advance()


# ---- typed answers ------------------------------------------------------------------------------
def _typed(state: State) -> tuple[Any, ...]:
    return (state, F.text, ~F.text.startswith("/"), ~F.text.in_(texts.MENU_ITEMS),
            ~F.text.lower().in_(BACK_WORDS))


@router.message(*_typed(CutiForm.start))
@router.message(*_typed(CutiForm.end))
async def typed_date(message: Message, raw_state: str | None = None, **data: Any) -> None:
    form = await load(message, data, raw_state)
    if form is None:
        return
    today = form.today
    text = message.text
    found = parse_range(text, today)
    if found:
        forget("start", form.d)
        form.d["start"], form.d["end"] = found[0].isoformat(), found[1].isoformat()
        await form.advance()
        return
    day = parse_date(text, today)
    if day is None:
        await message.answer(tc.date_not_understood())
        return
    if current_step(raw_state) == "start":
        forget("start", form.d)
        form.d["start"] = day.isoformat()
    else:
        start = form.date("start")
        if day < start:
            day = parse_date(text, start) or day  # "3/1" after a start in December is next January
        if day < start:
            await message.answer(tc.end_before_start(start))
            return
        forget("end", form.d)
        form.d["end"] = day.isoformat()
    await form.advance()


@router.message(*_typed(CutiForm.alasan))
@router.message(*_typed(CutiForm.alamat))
async def typed_text(message: Message, raw_state: str | None = None, **data: Any) -> None:
    form = await load(message, data, raw_state)
    if form is None:
        return
    step = current_step(raw_state)
    assert step in TEXT_LIMITS
    what, lo, hi = TEXT_LIMITS[step]
    value = " ".join(message.text.split())
    if len(value) < lo:
        await message.answer(tc.text_too_short(what, lo))
        return
    if len(value) > hi:
        await message.answer(tc.text_too_long(what, hi))
        return
    form.d[step] = value
    await form.advance()


@router.message(*_typed(CutiForm.telepon))
async def typed_phone(message: Message, **data: Any) -> None:
    form = await load(message, data)
    if form is None:
        return
    raw = message.text.strip()
    try:
        shown = display_phone(normalize_phone(raw))
    except PhoneError:
        # Loosely: a landline of the family home is a fine contact during leave too.
        digits = "".join(ch for ch in raw if ch.isdigit())
        plausible = all(ch.isdigit() or ch in " +-().–/" for ch in raw)
        if not (plausible and 7 <= len(digits) <= 15):
            await message.answer(tc.bad_phone())
            return
        shown = raw
    form.d["telepon"] = shown
    await form.advance()


@router.message(CutiForm.files, F.document | F.photo)
async def attachment(message: Message, **data: Any) -> None:
    form = await load(message, data)
    if form is None:
        return
    pending = missing_docs(form.d)
    if not pending:
        await form.go(next_step(form.d))
        return
    code, msg = pending[0]
    if message.document is not None:
        file_id, size, name = message.document.file_id, message.document.file_size, message.document.file_name
    else:
        photo = message.photo[-1]  # the largest size
        file_id, size, name = photo.file_id, photo.file_size, None
    if size and size > TELEGRAM_DOWNLOAD_LIMIT:
        await message.answer(tc.file_too_big(files.format_size(files.DEFAULT_MAX_BYTES)))
        return
    try:
        content = (await form.bot.download(file_id)).getvalue()
    except TelegramBadRequest:
        await message.answer(tc.file_download_failed())
        return
    try:
        blob = await asyncio.to_thread(files.store, content, root=form.actx.data_dir / "files", claimed_name=name)
    except files.FileRejected as e:
        await message.answer(tc.file_rejected(e.message))
        return
    label = tc.doc_label(code, msg)
    row = await uploads.record_upload(form.session, employee_id=form.emp.id, doc_key=code, label=label, blob=blob,
                                      file_name=name, telegram_file_id=file_id)
    form.d["files"][code] = row.id
    await message.answer(tc.file_received(label))
    await form.advance()


# ---- summary: Kirim / Ubah ----------------------------------------------------------------------
@router.callback_query(CutiForm.summary, F.data == CB_SEND)
async def send(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    d = form.d
    try:
        result = await engine.submit(form.session, form.actx, form.emp.id, cuti_app.TYPE, form_data(d),
                                     submit_key=f"cuti-{d['id']}", actor_telegram_id=form.user_id)
    except WorkflowError as e:
        await query.answer()
        await settle(query)
        d.pop("prompt", None)
        await form.send(tc.refused(e.message))
        await form.go("summary")
        return
    app = result.application
    await uploads.attach_files(form.session, app, form_data(d)["files"].values())
    await form.state.clear()
    await query.answer(tc.submitted_toast(app.number) if result.created else tc.already_submitted(app.number))
    # The summary becomes the record; the outbox brings the confirmation with the next step.
    await settle(query, tc.filed(app.number, engine.type_of(app).describe(app)))


@router.callback_query(CutiForm.summary, F.data == CB_EDIT)
async def edit(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    await query.answer()
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=fields_markup(form.d))
        except TelegramBadRequest:
            pass


@router.callback_query(CutiForm.summary, F.data.startswith(CB_FIELD))
async def edit_field(query: CallbackQuery, **data: Any) -> None:
    form = await load(query, data)
    if form is None:
        return
    name = query.data[len(CB_FIELD):]
    if name == "x":
        await query.answer()
        await form.go("summary")
        return
    if name not in tc.FIELD_BUTTONS:
        await query.answer(texts.stale_button())
        return
    await query.answer()
    await settle(query)
    form.d.pop("prompt", None)
    # Back right after Ubah restores everything as it was.
    form.d["undo"] = {k: v for k, v in form.d.items() if k != "undo"}
    if name == "files":
        form.d["files"] = {}
    else:
        forget({"dates": "start"}.get(name, name), form.d)
    await form.go(next_step(form.d))


# ---- back and cancel ----------------------------------------------------------------------------
async def go_back(form: Form, raw_state: str | None) -> None:
    undo = form.d.pop("undo", None)
    if undo:
        form.d = {**undo, "prompt": form.d.get("prompt")}
        await form.go("summary")
        return
    current = current_step(raw_state) or next_step(form.d)
    if current == "files":
        uploaded = [c for c, _ in form.d["docs"] if c in form.d["files"]]
        if uploaded:
            form.d["files"].pop(uploaded[-1])
            await form.go("files")
            return
    target = previous_step(form.d, current)
    if target is None:
        await form.go(current)
        return
    if target == "files":
        form.d["files"].pop([c for c, _ in form.d["docs"]][-1], None)
    forget(target, form.d)
    await form.go(target)


@router.callback_query(StateFilter(CutiForm), F.data == CB_BACK)
async def back_pressed(query: CallbackQuery, raw_state: str | None = None, **data: Any) -> None:
    form = await load(query, data, raw_state)
    if form is None:
        return
    await query.answer()
    await settle(query)
    form.d.pop("prompt", None)
    await go_back(form, raw_state)


@router.message(StateFilter(CutiForm), F.text.lower().in_(BACK_WORDS))
async def back_typed(message: Message, raw_state: str | None = None, **data: Any) -> None:
    form = await load(message, data, raw_state)
    if form is not None:
        await go_back(form, raw_state)


@router.callback_query(F.data == CB_CANCEL)
async def cancel_pressed(query: CallbackQuery, state: FSMContext, raw_state: str | None = None) -> None:
    if current_step(raw_state) is None:
        await query.answer(texts.stale_button())
        return
    await state.clear()
    await query.answer()
    await settle(query)
    if query.message is not None:
        await query.message.answer(tc.cancelled(), reply_markup=keyboards.main_menu())


# ---- anything else while the form is open -------------------------------------------------------
@router.message(StateFilter(CutiForm), ~F.text.startswith("/"))
async def unexpected_message(message: Message, raw_state: str | None = None, **data: Any) -> None:
    form = await load(message, data, raw_state)
    if form is None:
        return
    step = current_step(raw_state) or next_step(form.d)
    if message.text in texts.MENU_ITEMS:
        hint = tc.in_form()
    elif step == "files":
        hint = tc.file_expected()
    else:
        hint = tc.use_buttons() if step not in ("start", "end", "alasan", "alamat", "telepon") else tc.in_form()
    await message.answer(hint)
    await form.go(step)


@router.callback_query(StateFilter(CutiForm), F.data.startswith("cu"))
async def unexpected_button(query: CallbackQuery, **data: Any) -> None:
    # A button of another step or an older message, or forged: nothing changes.
    form = await load(query, data)
    if form is not None:
        await query.answer(texts.stale_button())
