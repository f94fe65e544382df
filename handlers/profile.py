"""Profil saya: what the bot knows about the linked employee."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards, texts
from services.employees import profile
from services.linking import LinkingService

router = Router(name="profile")


@router.message(Command("profil", "profile"))
@router.message(F.text == texts.MENU_PROFIL)
async def show_profile(message: Message, session: AsyncSession, linking: LinkingService) -> None:
    # Only the presser's own record: the link decides, nothing in the message does.
    employee = await linking.linked_employee(message.from_user.id)
    if employee is None:
        await message.answer(texts.not_linked(), reply_markup=keyboards.link_menu())
        return
    await message.answer(texts.profile_card(await profile(session, employee.id)), reply_markup=keyboards.main_menu())
