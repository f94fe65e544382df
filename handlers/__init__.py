"""aiogram routers. Thin: parse input, call services/, render replies from texts/keyboards."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType


def _fresh(template: Router) -> Router:
    """A new Router carrying the template's handlers.

    Handler modules declare their handlers on a module-level router (aiogram's idiom), but a
    Router can be attached to one Dispatcher only; tests and the console build several.
    """
    router = Router(name=template.name)
    for name, observer in template.observers.items():
        router.observers[name].handlers.extend(observer.handlers)
    return router


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
        router.message.filter(F.chat.type == ChatType.PRIVATE)
    return built
