"""Permohonan izin belajar from the phone: eligibility first, then jenjang, programme, campus,
accreditation, lecture schedule, each required document (the syarat of the knowledge-base entry
for SOP 62, so what the bot publishes is what it asks for), a summary with Kirim / Ubah / Batal.

The draft lives in the FSM storage under one key, JSON only, so it survives a restart; its
submit_key is fixed when the draft starts, so a double tap on Kirim files one application. The
rules are services/applications/izin_belajar.py; the engine checks everything again on submit.
Callback data "ib:<op>[:<arg>]" only names what was pressed; the state says what it applies to."""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import weakref

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers import texts_izin_belajar as t
from handlers.tanya import KnowledgeView
from services import files
from services.agency import Agency
from services.applications import engine, uploads
from services.applications import izin_belajar as ib
from services.applications.engine import Context, WorkflowError
from services.izin_belajar import load_config
from services.linking import LinkingService
from services.models import ApplicationFile, Employee

router = Router(name="izin_belajar")

SOP_ENTRY = "sop-62"  # the knowledge-base entry whose syarat the form asks for
KEY = "ib"  # the draft's key in the FSM data (other flows keep their own keys there)
CB_START = "ib:start"


class IzinBelajarForm(StatesGroup):
    jenjang = State()
    program = State()
    kampus = State()
    akreditasi = State()
    jadwal = State()
    dokumen = State()
    ringkasan = State()
    ubah = State()  # choosing what to change
    ubah_dokumen = State()  # choosing which document to replace


F_ = IzinBelajarForm
ORDER = [F_.jenjang, F_.program, F_.kampus, F_.akreditasi, F_.jadwal, F_.dokumen, F_.ringkasan]
BY_NAME = {s.state: s for s in IzinBelajarForm.__states__}
EDIT_TARGETS = {"j": F_.jenjang, "p": F_.program, "k": F_.kampus, "a": F_.akreditasi, "w": F_.jadwal,
                "d": F_.ubah_dokumen}
TEXT_LIMIT = ib.MAX_TEXT
# One upload at a time per user: several files sent at once must fill the checklist in order,
# not all land on the same missing document (aiogram may handle them concurrently).
_upload_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _free_input(message: Message) -> bool:
    """Typed text meant for the form: not a command, not a main-menu button."""
    text = message.text or ""
    return bool(text) and not text.startswith("/") and text not in texts.MENU_ITEMS


def _other_input(message: Message) -> bool:
    text = message.text or ""
    return not text.startswith("/") and text not in texts.MENU_ITEMS


# ---- keyboards ------------------------------------------------------------------------------
def _btn(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _nav(back: bool = True) -> list[InlineKeyboardButton]:
    return ([_btn(t.BTN_BACK, "ib:b")] if back else []) + [_btn(t.BTN_CANCEL, "ib:x")]


def _markup(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def start_button() -> InlineKeyboardMarkup:
    return _markup([_btn(t.BTN_START, CB_START)])


def _jenjang_kb(choices: list[str], draft: dict) -> InlineKeyboardMarkup:
    return _markup([_btn(j, f"ib:j:{j}") for j in choices], _nav(back=bool(draft.get("editing"))))


def _akreditasi_kb() -> InlineKeyboardMarkup:
    c = [_btn(label, f"ib:a:{i}") for i, label in enumerate(ib.AKREDITASI_CHOICES)]
    return _markup(c[:3], c[3:6], c[6:], _nav())


def _summary_kb() -> InlineKeyboardMarkup:
    return _markup([_btn(t.BTN_SEND, "ib:s")], [_btn(t.BTN_EDIT, "ib:e"), _btn(t.BTN_CANCEL, "ib:x")])


def _edit_kb() -> InlineKeyboardMarkup:
    b = [_btn(label, f"ib:e:{code}") for code, label in t.EDIT_FIELDS.items()]
    return _markup(b[0:2], b[2:4], b[4:6], [_btn(t.BTN_TO_SUMMARY, "ib:b")])


def _documents_kb(docs: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    rows = [[_btn(f"{i}. {t.short(label)}", f"ib:d:{i - 1}")] for i, (_, label) in enumerate(docs, 1)]
    return _markup(*rows, [_btn(t.BTN_TO_SUMMARY, "ib:b")])


def _resume_kb() -> InlineKeyboardMarkup:
    return _markup([_btn(t.BTN_RESUME, "ib:r"), _btn(t.BTN_RESTART, "ib:n")], [_btn(t.BTN_CANCEL, "ib:x")])


# ---- the draft ------------------------------------------------------------------------------
def published_documents(knowledge: KnowledgeView) -> list[str] | None:
    """The syarat of the SOP 62 entry as published now (None: the knowledge base has none)."""
    if not knowledge.available:
        return None
    entry = knowledge.snapshot()[0].get(SOP_ENTRY)
    items = [r.item for r in entry.requirements] if entry is not None else []
    return items or None


def _docs(draft: dict) -> list[tuple[str, str]]:
    return ib.document_keys(list(draft.get("documents") or []))


def _current_document(draft: dict) -> tuple[str, str, int, int] | None:
    """(key, label, position, total) of the document asked for now: the one being replaced, else
    the first still missing."""
    docs = _docs(draft)
    files_ = draft.get("files") or {}
    for i, (key, label) in enumerate(docs, 1):
        if key == draft.get("replace") or (not draft.get("replace") and key not in files_):
            return key, label, i, len(docs)
    return None


def _sync_documents(draft: dict, published: list[str] | None) -> bool:
    """Follow the published list if it changed since the draft started; True when it did."""
    if published is None or published == draft.get("documents"):
        return False
    draft["documents"] = list(published)
    keys = {k for k, _ in _docs(draft)}
    draft["files"] = {k: v for k, v in (draft.get("files") or {}).items() if k in keys}
    return True


async def _draft(state: FSMContext) -> dict | None:
    draft = (await state.get_data()).get(KEY)
    return dict(draft) if isinstance(draft, dict) else None


async def _save(state: FSMContext, draft: dict | None) -> None:
    if draft is None:
        data = await state.get_data()
        data.pop(KEY, None)
        await state.set_data(data)
    else:
        await state.update_data({KEY: draft})


async def _end(state: FSMContext) -> None:
    await state.set_state(None)
    await _save(state, None)


async def _end_mine(state: FSMContext) -> None:
    """Drop an izin belajar draft, leaving any other flow the user is in alone."""
    if await state.get_state() in BY_NAME:
        await _end(state)
    else:
        await _save(state, None)


async def _screen(step: State, draft: dict, session: AsyncSession, actx: Context,
                  emp: Employee) -> tuple[str, InlineKeyboardMarkup]:
    """The prompt and buttons of a step."""
    if step == F_.jenjang:
        pre = await ib.precheck(session, actx, emp)
        return t.ask_jenjang(emp.full_name, emp.education, pre.jenjang), _jenjang_kb(pre.jenjang, draft)
    if step == F_.program:
        return t.ask_program(draft.get("jenjang") or "-"), _markup(_nav())
    if step == F_.kampus:
        return t.ask_kampus(), _markup(_nav())
    if step == F_.akreditasi:
        return t.ask_akreditasi(draft.get("program_studi") or "-"), _akreditasi_kb()
    if step == F_.jadwal:
        hours = ib.working_hours_text(await ib.unit_work_weekdays(session, emp), load_config(actx.agency_dir))
        return t.ask_jadwal(hours, ib.EXAMPLES), _markup(_nav())
    if step == F_.dokumen:
        key, label, i, n = _current_document(draft)  # type: ignore[misc]  # callers check
        return t.ask_document(label, i, n, _docs(draft), draft.get("files") or {},
                              replacing=bool(draft.get("replace"))), _markup(_nav())
    if step == F_.ubah:
        return t.edit_menu(), _edit_kb()
    if step == F_.ubah_dokumen:
        return t.choose_document(), _documents_kb(_docs(draft))
    return t.summary(draft, _docs(draft)), _summary_kb()


async def _go(step: State, draft: dict, *, state: FSMContext, session: AsyncSession, actx: Context,
              emp: Employee, message: Message, edit: bool = False, notice: str | None = None) -> None:
    """Move to `step` and show it: in place of the pressed message, or as a new message (after
    `notice`, e.g. what was just received, so one message answers one upload)."""
    if step == F_.dokumen and _current_document(draft) is None:
        step = F_.ringkasan
    if step == F_.ringkasan:
        draft.pop("editing", None)
        draft.pop("replace", None)
    await state.set_state(step)
    await _save(state, draft)
    text, markup = await _screen(step, draft, session, actx, emp)
    if notice:
        text = f"{notice}\n\n{text}"
    if edit and isinstance(message, Message):  # an old, inaccessible message cannot be edited
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as err:  # too old or deleted: send it anew
            if "not modified" in str(err).lower():
                return
    await message.answer(text, reply_markup=markup)


def _next(step: State, draft: dict) -> State:
    if draft.get("editing"):
        return F_.ringkasan
    return ORDER[ORDER.index(step) + 1]


async def _me(user_id: int, linking: LinkingService, reply_to: Message) -> Employee | None:
    emp = await linking.linked_employee(user_id)
    if emp is None:
        await reply_to.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
    return emp


# ---- entry ----------------------------------------------------------------------------------
async def begin(message: Message, user_id: int, *, state: FSMContext, session: AsyncSession,
                linking: LinkingService, knowledge: KnowledgeView, actx: Context, agency: Agency,
                fresh: bool = False) -> None:
    emp = await _me(user_id, linking, message)
    if emp is None:
        return
    documents = published_documents(knowledge)
    if documents is None:
        await message.answer(t.documents_unavailable(agency))
        return
    if not fresh and await state.get_state() in BY_NAME and await _draft(state):
        await message.answer(t.resume_or_restart(), reply_markup=_resume_kb())
        return
    # Eligibility first: nobody fills a long form to be told no at the end.
    pre = await ib.precheck(session, actx, emp)
    if pre.open_application is not None:
        await _end_mine(state)
        await message.answer(t.open_application(ib.open_application_message(pre.open_application)))
        return
    if pre.blocking:
        await _end_mine(state)
        await message.answer(t.not_eligible([p.message for p in pre.blocking], agency))
        return
    draft = {"submit_key": f"ib-{user_id}-{secrets.token_hex(8)}", "documents": documents, "files": {}}
    await _go(F_.jenjang, draft, state=state, session=session, actx=actx, emp=emp, message=message)


@router.message(F.text == texts.MENU_IZIN_BELAJAR)
@router.message(Command("izinbelajar"))
async def from_menu(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                    knowledge: KnowledgeView, actx: Context, agency: Agency) -> None:
    await begin(message, message.from_user.id, state=state, session=session, linking=linking, knowledge=knowledge,
                actx=actx, agency=agency)


@router.callback_query(F.data == CB_START)
async def from_button(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                      knowledge: KnowledgeView, actx: Context, agency: Agency) -> None:
    await query.answer()
    if query.message is not None:
        await begin(query.message, query.from_user.id, state=state, session=session, linking=linking,
                    knowledge=knowledge, actx=actx, agency=agency)


@router.callback_query(StateFilter(IzinBelajarForm), F.data.in_({"ib:r", "ib:n"}))
async def resume_or_restart(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                            knowledge: KnowledgeView, actx: Context, agency: Agency) -> None:
    await query.answer()
    if query.message is None:
        return
    draft = await _draft(state)
    if query.data == "ib:n" or draft is None:
        await begin(query.message, query.from_user.id, state=state, session=session, linking=linking,
                    knowledge=knowledge, actx=actx, agency=agency, fresh=True)
        return
    emp = await _me(query.from_user.id, linking, query.message)
    if emp is None:
        return
    step = BY_NAME[await state.get_state()]
    if _sync_documents(draft, published_documents(knowledge)):
        await query.message.answer(t.documents_changed())
    await _go(step, draft, state=state, session=session, actx=actx, emp=emp, message=query.message, edit=True)


# ---- navigation -----------------------------------------------------------------------------
@router.callback_query(StateFilter(IzinBelajarForm), F.data == "ib:x")
async def cancel(query: CallbackQuery, state: FSMContext) -> None:
    await _end(state)
    await query.answer(texts.cancelled())
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(t.cancelled(), reply_markup=None)


@router.callback_query(StateFilter(IzinBelajarForm), F.data == "ib:b")
async def back(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
               actx: Context) -> None:
    await query.answer()
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    if draft is None or emp is None or query.message is None:
        await _end(state)
        return
    current = BY_NAME[await state.get_state()]
    if current == F_.ubah_dokumen:
        target = F_.ubah
    elif current in (F_.ubah, F_.ringkasan) or draft.get("editing") or draft.get("replace"):
        target = F_.ringkasan  # leaving a change unmade: back to the summary
    elif current == F_.jenjang:
        target = F_.jenjang
    else:
        target = ORDER[ORDER.index(current) - 1]
    await _go(target, draft, state=state, session=session, actx=actx, emp=emp, message=query.message, edit=True)


@router.callback_query(StateFilter(F_.ringkasan), F.data == "ib:e")
async def edit(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
               actx: Context) -> None:
    await query.answer()
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    if draft is None or emp is None or query.message is None:
        return
    await _go(F_.ubah, draft, state=state, session=session, actx=actx, emp=emp, message=query.message, edit=True)


@router.callback_query(StateFilter(F_.ubah), F.data.startswith("ib:e:"))
async def edit_field(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     actx: Context) -> None:
    target = EDIT_TARGETS.get(query.data[5:])
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    if target is None or draft is None or emp is None or query.message is None:
        await query.answer(texts.stale_button())
        return
    await query.answer()
    draft["editing"] = True
    await _go(target, draft, state=state, session=session, actx=actx, emp=emp, message=query.message, edit=True)


@router.callback_query(StateFilter(F_.ubah_dokumen), F.data.startswith("ib:d:"))
async def replace_document(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    docs = _docs(draft or {})
    arg = query.data[5:]
    if draft is None or emp is None or query.message is None or not arg.isdigit() or int(arg) >= len(docs):
        await query.answer(texts.stale_button())
        return
    await query.answer()
    draft["replace"] = docs[int(arg)][0]
    await _go(F_.dokumen, draft, state=state, session=session, actx=actx, emp=emp, message=query.message, edit=True)


# ---- the steps ------------------------------------------------------------------------------
@router.callback_query(StateFilter(F_.jenjang), F.data.startswith("ib:j:"))
async def jenjang_chosen(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                         actx: Context) -> None:
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    if draft is None or emp is None or query.message is None:
        await query.answer(texts.stale_button())
        return
    choice = query.data[5:]
    pre = await ib.precheck(session, actx, emp)  # the button is not trusted: checked again here
    if choice not in pre.jenjang:
        await query.answer(texts.stale_button(), show_alert=True)
        return
    await query.answer()
    draft["jenjang"] = choice
    await _go(_next(F_.jenjang, draft), draft, state=state, session=session, actx=actx, emp=emp,
              message=query.message, edit=True)


@router.message(StateFilter(F_.program, F_.kampus), _free_input)
async def name_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     actx: Context) -> None:
    draft = await _draft(state)
    emp = await _me(message.from_user.id, linking, message)
    if draft is None or emp is None:
        await _end(state)
        return
    step = BY_NAME[await state.get_state()]
    field, what = ("program_studi", "program studi") if step == F_.program else ("perguruan_tinggi", "perguruan tinggi")
    value = " ".join(message.text.split())
    if len(value) < 3:
        await message.answer(t.text_too_short(what), reply_markup=_markup(_nav()))
        return
    if len(value) > TEXT_LIMIT:
        await message.answer(t.text_too_long(what, TEXT_LIMIT), reply_markup=_markup(_nav()))
        return
    draft[field] = value
    await _go(_next(step, draft), draft, state=state, session=session, actx=actx, emp=emp, message=message)


async def _take_akreditasi(value: str, message: Message, state: FSMContext, session: AsyncSession, actx: Context,
                           emp: Employee, draft: dict, *, edit: bool) -> None:
    problem = ib.check_akreditasi(value, load_config(actx.agency_dir))
    if problem is not None:
        await message.answer(t.akreditasi_refused(problem.message), reply_markup=_akreditasi_kb())
        return
    draft["akreditasi"] = ib.normalize_akreditasi(value)
    await _go(_next(F_.akreditasi, draft), draft, state=state, session=session, actx=actx, emp=emp, message=message,
              edit=edit)


@router.callback_query(StateFilter(F_.akreditasi), F.data.startswith("ib:a:"))
async def akreditasi_chosen(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
                            actx: Context) -> None:
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    arg = query.data[5:]
    if (draft is None or emp is None or query.message is None or not arg.isdigit()
            or int(arg) >= len(ib.AKREDITASI_CHOICES)):
        await query.answer(texts.stale_button())
        return
    await query.answer()
    await _take_akreditasi(ib.AKREDITASI_CHOICES[int(arg)], query.message, state, session, actx, emp, draft, edit=True)


@router.message(StateFilter(F_.akreditasi), _free_input)
async def akreditasi_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                           actx: Context) -> None:
    draft = await _draft(state)
    emp = await _me(message.from_user.id, linking, message)
    if draft is None or emp is None:
        await _end(state)
        return
    await _take_akreditasi(message.text, message, state, session, actx, emp, draft, edit=False)


@router.message(StateFilter(F_.jadwal), _free_input)
async def jadwal_typed(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                       actx: Context) -> None:
    draft = await _draft(state)
    emp = await _me(message.from_user.id, linking, message)
    if draft is None or emp is None:
        await _end(state)
        return
    try:
        slots = ib.parse_jadwal(message.text[:500])
    except ib.JadwalError as err:
        await message.answer(t.jadwal_unreadable(str(err)), reply_markup=_markup(_nav()))
        return
    clashes = ib.check_jadwal(slots, await ib.unit_work_weekdays(session, emp), load_config(actx.agency_dir))
    if clashes:
        await message.answer(t.jadwal_refused([p.message for p in clashes]), reply_markup=_markup(_nav()))
        return
    draft["jadwal"] = [s.as_json() for s in slots]
    draft["jadwal_text"] = ib.format_jadwal(slots)
    await _go(_next(F_.jadwal, draft), draft, state=state, session=session, actx=actx, emp=emp, message=message)


@router.message(StateFilter(F_.dokumen), F.document | F.photo)
async def document_sent(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                        actx: Context, bot: Bot) -> None:
    emp = await _me(message.from_user.id, linking, message)
    if emp is None:
        return
    lock = _upload_locks.setdefault(message.from_user.id, asyncio.Lock())
    async with lock:
        # Read the draft inside the lock: a file sent together with this one may have just filled a slot.
        draft = await _draft(state)
        current = _current_document(draft) if draft and await state.get_state() == F_.dokumen.state else None
        if draft is None or current is None:
            await message.answer(t.expired() if draft is None else t.summary(draft, _docs(draft)),
                                 reply_markup=None if draft is None else _summary_kb())
            return
        key, label, _, _ = current
        if message.document is not None:
            file_id, size, name = message.document.file_id, message.document.file_size, message.document.file_name
        else:
            largest = message.photo[-1]
            file_id, size, name = largest.file_id, largest.file_size, None
        if size and size > files.DEFAULT_MAX_BYTES:  # refused before downloading anything
            await message.answer(t.document_rejected(label, t.file_too_big(
                files.format_size(files.DEFAULT_MAX_BYTES), files.format_size(size, round_up=True))),
                reply_markup=_markup(_nav()))
            return
        content = (await bot.download(file_id)).getvalue()
        try:
            blob = await asyncio.to_thread(files.store, content, root=actx.data_dir / "files", claimed_name=name)
        except files.FileRejected as err:
            await message.answer(t.document_rejected(label, err.message), reply_markup=_markup(_nav()))
            return
        previous = (draft.get("files") or {}).get(key)
        row = await uploads.record_upload(session, employee_id=emp.id, doc_key=key, label=label, blob=blob,
                                          file_name=name or f"{key}{blob.ext}", telegram_file_id=file_id[:200])
        if previous:
            old = await session.get(ApplicationFile, previous)
            if old is not None and old.application_id is None and old.employee_id == emp.id:
                old.superseded = True  # replaced in the draft: kept for the record only
                await session.commit()
        draft.setdefault("files", {})[key] = row.id
        editing = bool(draft.pop("replace", None))
        await _go(F_.ringkasan if editing else F_.dokumen, draft, state=state, session=session, actx=actx, emp=emp,
                  message=message, notice=t.document_ok(label))


# ---- sending --------------------------------------------------------------------------------
@router.callback_query(StateFilter(F_.ringkasan), F.data == "ib:s")
async def send(query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
               knowledge: KnowledgeView, actx: Context) -> None:
    draft = await _draft(state)
    emp = await linking.linked_employee(query.from_user.id)
    if draft is None or emp is None or query.message is None:
        await query.answer(texts.stale_button())
        return
    if _sync_documents(draft, published_documents(knowledge)):
        # The published list changed while the form was open: ask for what it now requires.
        await query.answer()
        await query.message.answer(t.documents_changed())
        await _go(F_.dokumen, draft, state=state, session=session, actx=actx, emp=emp, message=query.message)
        return
    form = {k: draft.get(k) for k in ("jenjang", "program_studi", "perguruan_tinggi", "akreditasi", "jadwal",
                                      "documents", "files")}
    try:
        try:
            result = await engine.submit(session, actx, emp.id, ib.TYPE, form, submit_key=draft["submit_key"],
                                         actor_telegram_id=query.from_user.id)
        except WorkflowError as err:
            if err.code != "masih-diproses":
                raise
            # A second tap that raced the first sees "one open request" before "same form": asking
            # again finds this draft's own application by its key, and refuses anything else.
            await session.rollback()
            result = await engine.submit(session, actx, emp.id, ib.TYPE, form, submit_key=draft["submit_key"],
                                         actor_telegram_id=query.from_user.id)
    except WorkflowError as err:
        await session.rollback()
        await query.answer()
        await query.message.answer(t.submit_refused(err.message), reply_markup=_summary_kb())
        return
    app = result.application
    await uploads.attach_files(session, app, (app.data.get("files") or {}).values())
    await _end(state)
    await query.answer()
    if not result.created:
        await query.message.answer(t.already_submitted(app.number))
        return
    if not isinstance(query.message, Message):
        await query.message.answer(t.submitted("", app.number).strip())
        return
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_text(t.submitted(t.summary(draft, _docs(draft)), app.number), reply_markup=None)


# ---- anything else while the form is open ---------------------------------------------------
@router.message(StateFilter(IzinBelajarForm), _other_input)
async def unexpected(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
                     actx: Context) -> None:
    draft = await _draft(state)
    emp = await _me(message.from_user.id, linking, message)
    if emp is None:
        return
    if draft is None:
        await _end(state)
        await message.answer(t.expired())
        return
    step = BY_NAME[await state.get_state()]
    if step == F_.dokumen and (current := _current_document(draft)) is not None:
        await message.answer(t.expect_document(current[1]), reply_markup=_markup(_nav()))
        return
    if step in (F_.program, F_.kampus, F_.jadwal):
        text, markup = await _screen(step, draft, session, actx, emp)  # a photo where text was asked
        await message.answer(text, reply_markup=markup)
        return
    await message.answer(t.use_buttons())
