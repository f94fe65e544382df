"""/pengaturan: each person turns their own kinds of reminder on or off."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import keyboards
from handlers import texts_pengaturan as t
from services import reminders
from services.linking import LinkingService
from services.models import Employee

router = Router(name="pengaturan")


def settings_keyboard(prefs: dict[str, bool], kinds: list[str]) -> InlineKeyboardMarkup:
    # "set:<kind>:<0|1>" = the state the press asks for; whose preference is never in the data.
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=t.button(k, prefs[k]), callback_data=f"set:{k}:{0 if prefs[k] else 1}")]
        for k in kinds
    ])


async def _view(session: AsyncSession, emp: Employee, zone: ZoneInfo, quiet_hours: str,
                reminder_time: str) -> tuple[str, InlineKeyboardMarkup]:
    prefs = await reminders.preferences(session, emp.id)
    kinds = [k for k in await reminders.relevant_kinds(session, emp) if k in t.KINDS]
    text = t.overview(prefs, kinds, quiet_hours=quiet_hours, reminder_time=reminder_time,
                      tz=datetime.now(zone).tzname() or str(zone))
    return text, settings_keyboard(prefs, kinds)


@router.message(Command("pengaturan", "settings"))
async def show_settings(message: Message, session: AsyncSession, linking: LinkingService, zone: ZoneInfo,
                        quiet_hours: str = "", reminder_time: str = "") -> None:
    emp = await linking.linked_employee(message.from_user.id)
    if emp is None:
        await message.answer(t.not_linked(), reply_markup=keyboards.link_menu())
        return
    text, markup = await _view(session, emp, zone, quiet_hours, reminder_time)
    await message.answer(text, reply_markup=markup)


@router.callback_query(F.data.startswith("set:"))
async def toggle(query: CallbackQuery, session: AsyncSession, linking: LinkingService, zone: ZoneInfo,
                 quiet_hours: str = "", reminder_time: str = "") -> None:
    _, kind, value = (query.data.split(":", 2) + ["", ""])[:3]
    if kind not in reminders.OPTIONAL or value not in ("0", "1"):
        await query.answer(t.unknown_choice(), show_alert=True)
        return
    # Only the presser's own preferences: the link decides who, never the button.
    emp = await linking.linked_employee(query.from_user.id)
    if emp is None:
        await query.answer(t.not_linked_alert(), show_alert=True)
        return
    enabled = value == "1"
    await reminders.set_preference(session, emp.id, kind, enabled, actor_telegram_id=query.from_user.id)
    await query.answer(t.toggled(kind, enabled))
    if isinstance(query.message, Message):
        text, markup = await _view(session, emp, zone, quiet_hours, reminder_time)
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest:  # unchanged (a repeated press) or too old to edit
            pass
