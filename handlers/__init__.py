"""aiogram routers. Thin: parse input, call services/, render replies from texts/keyboards."""
from __future__ import annotations

import copy
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.enums import ChatType
from aiogram.types import Message

from handlers.gate import GatedRouter


class _InlineFilter(FilterObject):
    """A synchronous filter called on the event loop (see _inline)."""

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        return self.callback(*args, **self._prepare_kwargs(kwargs))


def _inline(f: FilterObject) -> FilterObject:
    """The same filter, evaluated on the event loop.

    aiogram runs every synchronous filter (each ``F.text == ...``) in a worker thread
    (``asyncio.to_thread``); a free-text question is checked against dozens of them before it
    reaches Tanya layanan, and those thread hops were most of the CPU an update cost. Magic
    filters are pure attribute comparisons, so they run inline instead: same result, no hop."""
    if f.awaitable or type(f) is not FilterObject:
        return f
    clone = _InlineFilter.__new__(_InlineFilter)
    clone.__dict__.update(f.__dict__)  # callback, params, varkw, magic: as aiogram prepared them
    return clone


def _with_inline_filters(handler: HandlerObject) -> HandlerObject:
    if not handler.filters or all(f.awaitable for f in handler.filters):
        return handler
    clone = copy.copy(handler)
    clone.filters = [_inline(f) for f in handler.filters]
    return clone


def _fresh(template: Router) -> GatedRouter:
    """A new router carrying the template's handlers (their filters run inline, see _inline),
    behind a gate derived from them (handlers/gate.py).

    Handler modules declare their handlers on a module-level router (aiogram's idiom), but a
    Router can be attached to one Dispatcher only; tests and the console build several.
    """
    router = GatedRouter(name=template.name)
    for name, observer in template.observers.items():
        router.observers[name].handlers.extend(_with_inline_filters(h) for h in observer.handlers)
    router.seal()
    return router


async def private_chat(message: Message) -> bool:
    # An async filter: aiogram would run a synchronous one (F.chat.type == ...) in a thread.
    return message.chat.type == ChatType.PRIVATE


def routers() -> list[Router]:
    # Order matters: specific routers first, the catch-all fallback last.
    from handlers import (
        admin, approval, broadcast, cuti, errors, fallback, helpdesk, izin_belajar, linking, pengajuan, pengaturan,
        profile, start, tanya,
    )

    modules = [errors, helpdesk, start, linking, profile, admin, approval, pengajuan, cuti, izin_belajar, pengaturan,
               broadcast, tanya, fallback]
    built = [_fresh(m.router) for m in modules]
    for router in built[2:]:
        # Employees talk to the bot privately; in any group (but the helpdesk, handled above)
        # the bot stays silent rather than answering every message as a question.
        router.message.filter(private_chat)
    return built
