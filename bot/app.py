"""Composition root: builds the database, the Bot, the Dispatcher and wires them together."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommand, TelegramObject
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import TELEGRAM_API_DEFAULT, Settings
from bot.storage import SqlStorage
from handlers import routers, texts
from services.agency import DEFAULT_AGENCY_DIR, Agency, load_agency
from services.db import make_engine, make_sessionmaker, migrate
from services.linking import LinkingService, LinkPolicy
from services.models import Employee

log = logging.getLogger("asnbot")

DEMO_FILE = Path(__file__).resolve().parent.parent / "services" / "data" / "demo" / "pegawai.csv"


class ServicesMiddleware(BaseMiddleware):
    """One database session per update, and the services built on it, injected by name."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes, policy: LinkPolicy) -> None:
        self.sessions = sessions
        self.key = key
        self.policy = policy

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            data["linking"] = LinkingService(session, self.key, self.policy)
            return await handler(event, data)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    agency: Agency
    storage: BaseStorage
    demo_summary: str | None = None  # set when this start loaded the demo data
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = build_dispatcher(self)

    @property
    def link_policy(self) -> LinkPolicy:
        return link_policy(self.settings)

    async def close(self) -> None:
        await self.storage.close()
        await self.engine.dispose()


def link_policy(settings: Settings) -> LinkPolicy:
    return LinkPolicy(
        max_failures=settings.link_max_failures,
        failure_window=timedelta(minutes=settings.link_failure_window_minutes),
        code_ttl=timedelta(hours=settings.link_code_ttl_hours),
    )


def build_dispatcher(app: App) -> Dispatcher:
    dp = Dispatcher(
        storage=app.storage,
        agency=app.agency,
        admin_ids=frozenset(app.settings.admin_telegram_ids),
        zone=app.settings.zone,
    )
    dp.update.outer_middleware(ServicesMiddleware(app.sessions, app.settings.verification_secret, app.link_policy))
    dp.include_routers(*routers())
    dp.startup.register(on_startup)
    return dp


async def on_startup(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in texts.COMMANDS])


def build_bot(token: str, api_base: str = TELEGRAM_API_DEFAULT) -> Bot:
    session = AiohttpSession()
    if api_base.rstrip("/") != TELEGRAM_API_DEFAULT:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_storage(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return SqlStorage(sessions)


async def create_app(settings: Settings, *, load_demo: bool = False) -> App:
    """Connect, migrate, and (for a first run) load the demo personnel data."""
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size)
    await migrate(engine)
    sessions = make_sessionmaker(engine)
    summary = await load_demo_data(settings, sessions) if load_demo else None
    agency = load_agency(settings.agency_dir)
    return App(settings, engine, sessions, agency, build_storage(settings, sessions), demo_summary=summary)


async def employee_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return (await s.execute(select(func.count()).select_from(Employee))).scalar_one()


async def load_demo_data(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], employees: int = 500
) -> str | None:
    """On an empty database only: a synthetic Kota Bekasi plus the sample export."""
    if await employee_count(sessions):
        return None
    from services.importer import import_pegawai
    from services.seed import seed_demo

    key = settings.verification_secret
    report = await seed_demo(sessions, employees=employees, seed=1, verification_key=key,
                             agency_dir=settings.agency_dir or DEFAULT_AGENCY_DIR)
    imported = await import_pegawai(sessions, DEMO_FILE, verification_key=key, actor="demo")
    summary = (
        f"Basis data kosong: data demo dimuat ({report.employees} pegawai sintetis dan "
        f"{imported.added} pegawai dari {DEMO_FILE.name})."
    )
    log.info(summary)
    return summary


async def run_polling(app: App, bot: Bot, *, handle_as_tasks: bool = True, polling_timeout: int = 10,
                      handle_signals: bool = True) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    await app.dispatcher.start_polling(
        bot,
        handle_as_tasks=handle_as_tasks,
        polling_timeout=polling_timeout,
        handle_signals=handle_signals,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
    )
