"""Whatever no other router took: unknown commands, other message kinds, stale buttons.
(Free text is a question for the knowledge base: handlers/tanya.py.)"""
from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from handlers import texts

router = Router(name="fallback")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    cmd = message.text.split()[0].split("@")[0]
    await message.answer(texts.unknown_command(cmd))


@router.message()
async def other_message(message: Message) -> None:
    await message.answer(texts.unsupported_message())


@router.callback_query()
async def stale_callback(query: CallbackQuery) -> None:
    # Every query is answered, even a forged or outdated one, so the client stops spinning.
    await query.answer(texts.stale_button(), show_alert=False)
