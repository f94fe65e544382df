"""/start (with optional deep-link code), main menu, help, cancel, and features to come."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from handlers.linking import redeem_code_and_reply
from handlers.pengajuan import verify_and_reply
from services.applications.engine import Context
from services.agency import Agency
from services.employees import profile
from services.linking import LinkingService

router = Router(name="start")


async def forget_conversation(state: FSMContext, raw_state: str | None) -> None:
    """state.clear(), without deleting a state that is not there: raw_state was read at the
    start of this update, under its lock, so it is still what is stored."""
    if raw_state is not None:
        await state.set_state(None)
    await state.set_data({})


async def show_home(message: Message, session: AsyncSession, linking: LinkingService, agency: Agency) -> None:
    employee = await linking.linked_employee(message.from_user.id)
    if employee is None:
        await message.answer(texts.welcome_unlinked(agency), reply_markup=keyboards.link_menu())
        return
    p = await profile(session, employee.id)
    await message.answer(texts.welcome_linked(p), reply_markup=keyboards.main_menu())


@router.message(CommandStart(deep_link=True))
async def start_with_code(
    message: Message, command: CommandObject, state: FSMContext, session: AsyncSession,
    linking: LinkingService, agency: Agency, actx: Context,
) -> None:
    # t.me/<bot>?start=<code> arrives as "/start <code>"; "v-<code>" is a letter's QR code.
    await state.clear()
    if (command.args or "").startswith("v-"):
        await verify_and_reply(message, command.args[2:], session, actx, agency)
        return
    await redeem_code_and_reply(message, command.args or "", session, linking, agency)


@router.message(CommandStart())
async def start(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency,
                raw_state: str | None = None) -> None:
    await forget_conversation(state, raw_state)
    await show_home(message, session, linking, agency)


@router.message(Command("menu"))
async def menu(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency,
               raw_state: str | None = None) -> None:
    await forget_conversation(state, raw_state)
    await show_home(message, session, linking, agency)


@router.message(Command("batal", "cancel"))
@router.message(F.text == texts.BTN_CANCEL)
async def cancel(message: Message, state: FSMContext, session: AsyncSession, linking: LinkingService, agency: Agency,
                 raw_state: str | None = None) -> None:
    # Works from any state, as every form's way out. raw_state: read at the start of this update.
    if raw_state is None:
        await message.answer(texts.nothing_to_cancel())
    else:
        await state.clear()
        await message.answer(texts.cancelled())
    await show_home(message, session, linking, agency)


@router.message(Command("bantuan", "help"))
@router.message(F.text == texts.MENU_BANTUAN)
async def bantuan(message: Message, linking: LinkingService, agency: Agency) -> None:
    linked = await linking.linked_employee(message.from_user.id) is not None
    await message.answer(
        texts.help_text(agency), reply_markup=keyboards.main_menu() if linked else keyboards.link_menu()
    )


@router.message(F.text.in_(texts.COMING_SOON.keys()))
async def coming_soon(message: Message, linking: LinkingService, agency: Agency) -> None:
    if await linking.linked_employee(message.from_user.id) is None:
        await message.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    await message.answer(texts.coming_soon(texts.COMING_SOON[message.text], agency))
