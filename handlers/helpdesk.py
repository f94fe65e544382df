"""Hand-off to BKPSDM staff: the employee sends the question on, a staff member replies in the
helpdesk chat, the answer comes back through the bot, and the employee rates it."""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers.tanya import HANDOFF_KEY, HumanForm
from services import helpdesk
from services.agency import Agency
from services.employees import profile
from services.linking import LinkingService

log = logging.getLogger("asnbot.helpdesk")
router = Router(name="helpdesk")


async def hand_off(
    bot: Bot, user_id: int, chat_id: int, question: str, session: AsyncSession, linking: LinkingService,
    helpdesk_chat_id: int | None, agency: Agency,
) -> str:
    if helpdesk_chat_id is None:
        return texts.handoff_unavailable(agency)
    employee = await linking.linked_employee(user_id)
    asker = "pengguna yang belum menautkan akun"
    if employee is not None:
        p = await profile(session, employee.id)
        asker = f"{p.full_name} ({p.identifier_label} {p.identifier}, {p.unit})"
    q = await helpdesk.open_question(
        session, telegram_user_id=user_id, chat_id=chat_id,
        employee_id=employee.id if employee else None, question=question,
    )
    sent = await bot.send_message(helpdesk_chat_id, texts.helpdesk_card(q.id, asker, q.question))
    await helpdesk.attach_staff_message(session, q.id, helpdesk_chat_id, sent.message_id)
    return texts.handoff_sent(q.id)


@router.callback_query(F.data == keyboards.CB_HANDOFF)
async def handoff_button(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, linking: LinkingService,
    helpdesk_chat_id: int | None, agency: Agency, bot: Bot,
) -> None:
    data = await state.get_data()
    question = data.get(HANDOFF_KEY)
    await query.answer()
    if not question:
        # Nothing pending (already sent: a double tap), so nothing is sent twice.
        await bot.send_message(query.from_user.id, texts.handoff_nothing())
        return
    await state.update_data({HANDOFF_KEY: None})
    reply = await hand_off(bot, query.from_user.id, query.from_user.id, question, session, linking,
                           helpdesk_chat_id, agency)
    await bot.send_message(query.from_user.id, reply)


@router.message(Command("petugas"))
async def handoff_command(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    linking: LinkingService, helpdesk_chat_id: int | None, agency: Agency, bot: Bot,
) -> None:
    question = (command.args or "").strip() or (await state.get_data()).get(HANDOFF_KEY)
    if not question:
        await message.answer(texts.handoff_nothing() + " Atau ketik: <code>/petugas pertanyaan Anda</code>")
        return
    await state.update_data({HANDOFF_KEY: None})
    await message.answer(await hand_off(bot, message.from_user.id, message.chat.id, question, session, linking,
                                        helpdesk_chat_id, agency))


@router.message(HumanForm.question, F.text, ~F.text.startswith("/"), F.text != texts.BTN_CANCEL,
                ~F.text.in_(texts.MENU_ITEMS))
async def question_for_human(
    message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService,
    helpdesk_chat_id: int | None, agency: Agency, bot: Bot,
) -> None:
    await state.set_state(None)
    await state.update_data({HANDOFF_KEY: None})
    reply = await hand_off(bot, message.from_user.id, message.chat.id, message.text, session, linking,
                           helpdesk_chat_id, agency)
    employee = await linking.linked_employee(message.from_user.id)
    await message.answer(reply, reply_markup=keyboards.main_menu() if employee else keyboards.link_menu())


def in_helpdesk_chat(message: Message, helpdesk_chat_id: int | None) -> bool:
    return helpdesk_chat_id is not None and message.chat.id == helpdesk_chat_id


@router.message(F.reply_to_message, F.text, in_helpdesk_chat)
async def staff_reply(message: Message, session: AsyncSession, bot: Bot) -> None:
    # Membership of the configured helpdesk chat is what makes someone staff here.
    staff = message.from_user.full_name if message.from_user else "petugas"
    q = await helpdesk.answer(
        session, staff_chat_id=message.chat.id, staff_message_id=message.reply_to_message.message_id,
        text=message.text, answered_by=staff,
    )
    if q is None:
        await message.reply(texts.staff_reply_unknown())
        return
    try:
        await bot.send_message(q.chat_id, texts.staff_answer(q.id, q.answer), reply_markup=keyboards.rating(q.id))
    except TelegramForbiddenError:
        await message.reply(texts.staff_answer_undeliverable(q.id))
        return
    await message.reply(texts.staff_answer_delivered(q.id))


@router.message(in_helpdesk_chat)
async def helpdesk_chatter(message: Message) -> None:
    """Staff talking among themselves in the helpdesk chat: not questions for the bot."""


@router.callback_query(F.data.startswith("hd:r:"))
async def rate(query: CallbackQuery, session: AsyncSession) -> None:
    parts = query.data.split(":")
    ok = False
    if len(parts) == 4 and parts[2].isdigit() and parts[3] in {"0", "1"}:
        ok = await helpdesk.rate(session, question_id=int(parts[2]), telegram_user_id=query.from_user.id,
                                 helpful=parts[3] == "1")
    await query.answer(texts.rating_thanks() if ok else texts.stale_button())
    if ok and query.message is not None:
        await query.message.edit_reply_markup(reply_markup=None)


@router.callback_query(F.data.startswith("ap:"))
async def application_button(query: CallbackQuery, agency: Agency, bot: Bot) -> None:
    await query.answer()
    await bot.send_message(query.from_user.id, texts.application_soon(query.data[3:], agency))
