"""Tanya layanan: questions answered from the knowledge base, with sections on buttons,
clarifying choices, honest abstention with hand-off to BKPSDM staff, and smalltalk."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from knowledge import render
from knowledge.engine import Engine
from knowledge.handoff import wants_human
from knowledge.personal import personal_topic
from knowledge.kb import KnowledgeBase
from knowledge.model import Entry
from services import helpdesk, personal_dates
from services.cuti.quote import annual_balance
from services.agency import Agency
from services.linking import LinkingService

router = Router(name="tanya")


class HumanForm(StatesGroup):
    question = State()  # asked for a person: the next message goes to BKPSDM staff

HANDOFF_KEY = "handoff_question"  # FSM data: the last question the bot could not answer
MAX_QUESTION_CHARS = 1000


class KnowledgeView(Protocol):
    """What handlers need of the live knowledge base (bot.app.Knowledge provides it)."""

    @property
    def available(self) -> bool: ...

    def snapshot(self) -> tuple[KnowledgeBase, Engine]: ...


@router.message(F.text == texts.MENU_TANYA)
@router.message(Command("tanya"))
async def prompt_question(message: Message) -> None:
    await message.answer(texts.ask_question_prompt())


# Question words that ask for one section ("syaratnya apa", "dasar hukumnya") open it directly.
INTENT_SECTION = {"syarat": "syarat", "prosedur": "prosedur", "dasar": "dasar"}


async def show_entry(message: Message, entry: Entry, *, section: str = "card") -> None:
    if section == "syarat" and not entry.requirements or section == "prosedur" and not entry.steps:
        section = "card"
    text = render.answer_card(entry, html=True) if section == "card" else render.section(entry, section, html=True)
    await message.answer(text, reply_markup=keyboards.entry_actions(entry, current=section))


def _not_recorded(outcome: str) -> None:
    return None


class GapSink(Protocol):
    """Where abstained questions are counted (bot.app.GapRecorder batches them)."""

    @property
    def running(self) -> bool: ...

    def add(self, item: str) -> None: ...


@router.message(F.text, ~F.text.startswith("/"))
async def question(
    message: Message, state: FSMContext, session: AsyncSession, knowledge: KnowledgeView,
    linking: LinkingService, agency: Agency, zone: ZoneInfo,
    kb_outcome: Callable[[str], None] = _not_recorded,  # metrics, injected by the bot
    gap_recorder: GapSink | None = None,  # injected by the bot
) -> None:
    text = message.text[:MAX_QUESTION_CHARS]
    if wants_human(text):
        await state.set_state(HumanForm.question)
        await message.answer(texts.ask_for_human_question(), reply_markup=keyboards.cancel_only())
        return
    await state.update_data({HANDOFF_KEY: text})  # for "Tanya petugas", whatever the outcome
    topic = personal_topic(text)
    if topic is not None:
        # "kapan KGB saya?": the asker's own date from the database, not the generic entry.
        employee = await linking.linked_employee(message.from_user.id)
        if employee is not None:
            today = datetime.now(zone).date()
            if topic == "saldo-cuti":
                b = await annual_balance(session, employee, today=today)
                await message.answer(texts.saldo_cuti(b, today.year))
            else:
                await message.answer(texts.milestone(personal_dates.milestone(topic, employee, today)))
            return
    if not knowledge.available:
        kb_outcome("unavailable")
        await message.answer(texts.kb_unavailable(agency), reply_markup=keyboards.handoff_offer())
        return
    kb, engine = knowledge.snapshot()
    result = engine.ask(text)
    if result.outcome == "smalltalk":
        kb_outcome("smalltalk")
        linked = await linking.linked_employee(message.from_user.id) is not None
        await message.answer(
            texts.smalltalk(result.smalltalk_reply),
            reply_markup=keyboards.main_menu() if linked else keyboards.link_menu(),
        )
        return
    if result.outcome == "answer":
        entry = kb.get(result.candidates[0].entry_id)
        if entry is not None:
            kb_outcome("answer")
            await show_entry(message, entry, section=INTENT_SECTION.get(result.intent or "", "card"))
            return
    if result.outcome == "clarify":
        options = [e for c in result.candidates if (e := kb.get(c.entry_id)) is not None]
        if len(options) >= 2:
            kb_outcome("clarify")
            await message.answer(texts.clarify(), reply_markup=keyboards.clarify(options))
            return
    # Abstain: say so honestly, offer the hand-off, count the gap.
    kb_outcome("abstain")
    if gap_recorder is not None and gap_recorder.running:
        gap_recorder.add(result.normalized)
    else:
        await helpdesk.record_gap(session, result.normalized)
    await message.answer(texts.abstain(agency), reply_markup=keyboards.handoff_offer())


@router.callback_query(F.data.startswith("kb:"))
async def entry_button(query: CallbackQuery, knowledge: KnowledgeView) -> None:
    # Data is "kb:<action>:<entry id>"; the entry is looked up, never trusted from the button.
    _, action, entry_id = (query.data.split(":", 2) + ["", ""])[:3]
    kb = knowledge.snapshot()[0] if knowledge.available else None
    entry = kb.get(entry_id) if kb is not None else None
    if entry is None or action not in keyboards.KB_ACTIONS or query.message is None:
        await query.answer(texts.stale_button())
        return
    await query.answer()
    if action == "a":  # chosen from a clarify list or related list: a fresh answer card
        await show_entry(query.message, entry)
        return
    if action == "r":
        related = render.related_titles(kb, entry)
        await query.message.answer(texts.related_intro(entry.title), reply_markup=keyboards.related(related))
        return
    section = keyboards.KB_ACTIONS[action]
    text = render.answer_card(entry, html=True) if section == "card" else render.section(entry, section, html=True)
    try:
        await query.message.edit_text(text, reply_markup=keyboards.entry_actions(entry, current=section))
    except TelegramBadRequest as e:
        # A stale copy of the same section pressed twice: nothing to change, nothing to report.
        if "not modified" not in str(e):
            raise
