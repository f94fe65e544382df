"""Unexpected errors: the user gets an apology and a reference code; the trace goes to the log."""
from __future__ import annotations

import logging
import secrets

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from handlers import texts

log = logging.getLogger("asnbot.errors")
router = Router(name="errors")


def new_reference() -> str:
    return "ERR-" + secrets.token_hex(3).upper()


@router.errors()
async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    ref = new_reference()
    update = event.update
    log.exception("unhandled error ref=%s update_id=%s", ref, update.update_id, exc_info=event.exception)
    chat_id = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        chat_id = update.callback_query.from_user.id
        try:
            await update.callback_query.answer()
        except Exception:  # noqa: BLE001 - the query may be what failed; the message below matters more
            log.debug("could not answer callback ref=%s", ref)
    if chat_id is not None:
        try:
            await bot.send_message(chat_id, texts.error(ref))
        except Exception:  # noqa: BLE001 - never raise from the error handler itself
            log.warning("could not deliver error notice ref=%s", ref)
    return True
