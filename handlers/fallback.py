"""Whatever no other router took: unknown commands, free text, other message kinds, stale buttons."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from handlers import keyboards, texts
from services.agency import Agency
from services.linking import LinkingService

router = Router(name="fallback")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    cmd = message.text.split()[0].split("@")[0]
    await message.answer(texts.unknown_command(cmd))


@router.message(F.text)
async def free_text(message: Message, linking: LinkingService, agency: Agency) -> None:
    if await linking.linked_employee(message.from_user.id) is None:
        await message.answer(texts.free_text_unlinked(), reply_markup=keyboards.link_menu())
    else:
        await message.answer(texts.free_text_linked(agency))


@router.message()
async def other_message(message: Message) -> None:
    await message.answer(texts.unsupported_message())


@router.callback_query()
async def stale_callback(query: CallbackQuery) -> None:
    # Every query is answered, even a forged or outdated one, so the client stops spinning.
    await query.answer(texts.stale_button(), show_alert=False)
