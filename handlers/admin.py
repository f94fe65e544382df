"""Staff commands in Telegram. Authorised on the server: ADMIN_TELEGRAM_IDS or the admin role."""
from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import texts
from services.employees import has_role
from services.linking import CodeNotIssued, LinkingService
from services.models import Role

router = Router(name="admin")


async def is_admin(user_id: int, session: AsyncSession, linking: LinkingService, admin_ids: frozenset[int]) -> bool:
    if user_id in admin_ids:
        return True
    employee = await linking.linked_employee(user_id)
    return employee is not None and await has_role(session, employee.id, Role.ADMIN)


@router.message(Command("kodetautan"))
async def issue_link_code(
    message: Message, command: CommandObject, session: AsyncSession, linking: LinkingService,
    admin_ids: frozenset[int], zone: ZoneInfo,
) -> None:
    if not await is_admin(message.from_user.id, session, linking, admin_ids):
        # Same answer as for any unknown command: non-staff learn nothing about staff tools.
        await message.answer(texts.unknown_command("/kodetautan"))
        return
    if not command.args:
        await message.answer(texts.admin_code_usage())
        return
    try:
        code, expires, employee = await linking.issue_code(
            command.args.strip(), created_by=f"tg:{message.from_user.id}"
        )
    except CodeNotIssued:
        await message.answer(texts.admin_code_unknown(command.args.strip()))
        return
    me = await message.bot.me()  # cached by aiogram after the first call
    await message.answer(texts.admin_code_issued(employee.full_name, code, expires.astimezone(zone), me.username or ""))


@router.message(Command("kbreload"))
async def kb_reload(
    message: Message, session: AsyncSession, linking: LinkingService, admin_ids: frozenset[int], knowledge,  # noqa: ANN001
) -> None:
    if not await is_admin(message.from_user.id, session, linking, admin_ids):
        await message.answer(texts.unknown_command("/kbreload"))
        return
    problems = await asyncio.to_thread(knowledge.reload)  # CPU work: keep the loop serving others
    errors = [str(p) for p in problems if p.is_error]
    if errors:
        await message.answer(texts.kb_reload_failed(errors))
    else:
        await message.answer(texts.kb_reloaded(len(knowledge.kb.entries), len(problems)))
