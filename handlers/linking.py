"""Linking a Telegram account: own contact + NIK digits, or a one-time code; and /unlink."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from services.agency import Agency
from services.employees import profile
from services.linking import LinkingService, LinkResult, Outcome, TelegramProfile

router = Router(name="linking")


class LinkForm(StatesGroup):
    verification = State()  # waiting for the NIK digits
    code = State()  # waiting for a link code


def who(message: Message) -> TelegramProfile:
    u = message.from_user
    return TelegramProfile(user_id=u.id, chat_id=message.chat.id, username=u.username, first_name=u.first_name)


async def reply_failure(message: Message, result: LinkResult, agency: Agency) -> None:
    """One place maps every refused outcome to its text, so wording stays consistent."""
    left = result.attempts_left
    text = {
        Outcome.LOCKED: lambda: texts.locked(result.wait),
        Outcome.NOT_OWN_CONTACT: texts.not_own_contact,
        Outcome.BAD_PHONE: lambda: texts.bad_phone(result.detail),
        Outcome.PHONE_NOT_FOUND: lambda: texts.phone_not_found(agency, left),
        Outcome.PHONE_AMBIGUOUS: lambda: texts.phone_ambiguous(agency),
        Outcome.NO_VERIFICATION_DATA: lambda: texts.no_verification_data(agency),
        Outcome.WRONG_VERIFICATION: lambda: texts.wrong_verification(left),
        Outcome.CODE_INVALID: lambda: texts.code_invalid(left),
        Outcome.CODE_EXPIRED: lambda: texts.code_expired(left),
        Outcome.CODE_USED: lambda: texts.code_used(left),
    }[result.outcome]()
    await message.answer(text, reply_markup=keyboards.link_menu())


async def greet_linked(message: Message, session: AsyncSession, employee_id: int) -> None:
    p = await profile(session, employee_id)
    await message.answer(texts.linked(p), reply_markup=keyboards.main_menu())


async def refuse_if_linked(message: Message, session: AsyncSession, linking: LinkingService) -> bool:
    current = await linking.linked_employee(message.from_user.id)
    if current is None:
        return False
    await message.answer(texts.already_linked(await profile(session, current.id)), reply_markup=keyboards.main_menu())
    return True


async def redeem_code_and_reply(
    message: Message, code: str, session: AsyncSession, linking: LinkingService, agency: Agency
) -> None:
    if await refuse_if_linked(message, session, linking):
        return
    result = await linking.redeem_code(who(message), code)
    if result.outcome is Outcome.LINKED:
        await greet_linked(message, session, result.employee.id)
    else:
        await reply_failure(message, result, agency)


@router.message(F.contact)
async def contact_shared(
    message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency
) -> None:
    if await refuse_if_linked(message, session, linking):
        return
    result = await linking.start_with_contact(who(message), message.contact.user_id, message.contact.phone_number)
    if result.outcome is Outcome.ASK_VERIFICATION:
        # Only the employee id is kept in the conversation state: the secret stays in the DB.
        await state.set_state(LinkForm.verification)
        await state.update_data(employee_id=result.employee.id)
        await message.answer(texts.ask_verification(linking.policy.nik_digits), reply_markup=keyboards.cancel_only())
        return
    await state.clear()
    await reply_failure(message, result, agency)


@router.message(StateFilter(LinkForm.verification), F.text, ~F.text.startswith("/"))
async def verification_answer(
    message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency
) -> None:
    answer = message.text.strip().replace(" ", "")
    digits = linking.policy.nik_digits
    if not (answer.isdigit() and len(answer) == digits):
        await message.answer(texts.verification_format(digits))
        return
    employee_id = (await state.get_data()).get("employee_id")
    result = await linking.verify(who(message), int(employee_id), answer)
    if result.outcome is Outcome.LINKED:
        await state.clear()
        await greet_linked(message, session, result.employee.id)
    elif result.outcome is Outcome.WRONG_VERIFICATION:
        await message.answer(texts.wrong_verification(result.attempts_left))
    else:
        await state.clear()
        await reply_failure(message, result, agency)


@router.message(Command("link"))
async def link_command(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    linking: LinkingService, agency: Agency,
) -> None:
    await state.clear()
    if not command.args:
        if await refuse_if_linked(message, session, linking):
            return
        await state.set_state(LinkForm.code)
        await message.answer(texts.ask_code(), reply_markup=keyboards.cancel_only())
        return
    await redeem_code_and_reply(message, command.args, session, linking, agency)


@router.message(F.text == texts.BTN_HAVE_CODE)
async def have_code(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService) -> None:
    if await refuse_if_linked(message, session, linking):
        return
    await state.set_state(LinkForm.code)
    await message.answer(texts.ask_code(), reply_markup=keyboards.cancel_only())


@router.message(StateFilter(LinkForm.code), F.text, ~F.text.startswith("/"))
async def code_answer(
    message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency
) -> None:
    await state.clear()
    await redeem_code_and_reply(message, message.text, session, linking, agency)


@router.message(Command("unlink"))
async def unlink(message: Message, session: AsyncSession, linking: LinkingService) -> None:
    employee = await linking.linked_employee(message.from_user.id)
    if employee is None:
        await message.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    p = await profile(session, employee.id)
    await message.answer(texts.unlink_confirm(p), reply_markup=keyboards.unlink_confirm())


@router.callback_query(F.data == keyboards.CB_UNLINK_YES)
async def unlink_yes(query: CallbackQuery, linking: LinkingService) -> None:
    # Authorised by who presses, not by the button: it only ever unlinks the presser's own account.
    employee = await linking.unlink(query.from_user.id)
    if employee is None:
        # Stale (already unlinked) or forged on a chat that was never linked: nothing to do.
        await query.answer(texts.stale_button())
        await query.bot.send_message(query.from_user.id, texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    await query.answer()
    if query.message is not None and getattr(query.message, "reply_markup", None):
        await query.message.edit_reply_markup(reply_markup=None)
    await query.bot.send_message(query.from_user.id, texts.unlinked(), reply_markup=keyboards.link_menu())


@router.callback_query(F.data == keyboards.CB_UNLINK_NO)
async def unlink_no(query: CallbackQuery) -> None:
    await query.answer(texts.unlink_cancelled())
    if query.message is not None and getattr(query.message, "reply_markup", None):
        await query.message.edit_text(texts.unlink_cancelled())
