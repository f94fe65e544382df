"""Composition root: builds the database, the Bot, the Dispatcher and wires them together."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, TelegramObject
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.broadcast_progress import attach_broadcast_progress
from bot.scheduler import attach_scheduler
from bot.sender import attach_outbox_worker
from bot.fsm_redis import RedisFsmStorage
from bot.guard import AbuseGuard, RateLimit
from bot.metrics import CountApiCalls, ObserveUpdates, count_db_connections, record_kb_outcome
from bot.live import Knowledge, link_policy
from bot.settings import TELEGRAM_API_DEFAULT, Settings
from bot.storage import SqlStorage
from handlers import routers, texts
from services.agency import DEFAULT_AGENCY_DIR, Agency, load_agency
from services.applications.engine import Context
from services.db import make_engine, make_sessionmaker, migrate
from services.helpdesk import record_gaps
from services.linking import LinkingService, LinkPolicy
from services.models import Employee
from services.outbox import clear_undeliverable, clear_undeliverable_many

log = logging.getLogger("asnbot")

DEMO_FILE = Path(__file__).resolve().parent.parent / "services" / "data" / "demo" / "pegawai.csv"
REDIS_POOL_WAIT_SECONDS = 20.0  # how long a command waits for a free Redis connection


class BatchedWrites:
    """Writes that may wait a second: collected and made together in one transaction at most
    every ``interval`` seconds (the first after a quiet spell at once), and once more on stop.
    One statement per second instead of a transaction per update: on a small machine a database
    round trip costs as much CPU as answering a question."""

    what = "batched writes"  # for the log

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = 1.0) -> None:
        self.sessions = sessions
        self.interval = interval
        self.pending: Counter[Any] = Counter()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def add(self, item: Any) -> None:
        self.pending[item] += 1
        self._wake.set()

    async def write(self, session: AsyncSession, batch: Counter[Any]) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, Counter()
        try:
            async with self.sessions() as session:
                await self.write(session, batch)
        except Exception:
            log.exception("%s failed; retrying in a moment", self.what)
            self.pending.update(batch)
            self._wake.set()
        except BaseException:  # cancelled by stop(): its own flush takes these
            self.pending.update(batch)
            raise

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self.interval)  # under load: one transaction per interval

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()


class ReachableAgain(BatchedWrites):
    """Writing to the bot again means it can reach this person again (a 403 mark is cleared).
    The mark is rare, so the senders of private updates are cleared together by one conditional
    UPDATE. Before :meth:`start` (or after :meth:`stop`) ServicesMiddleware clears each inline."""

    what = "clearing undeliverable marks"

    async def write(self, session: AsyncSession, batch: Counter[Any]) -> None:
        if await clear_undeliverable_many(session, set(batch)):
            await session.commit()


class GapRecorder(BatchedWrites):
    """Questions the knowledge base could not answer, counted for `asnbot kb gaps`
    (handlers/tanya.py adds them; a second late is soon enough for a weekly list)."""

    what = "recording knowledge-base gaps"

    async def write(self, session: AsyncSession, batch: Counter[Any]) -> None:
        await record_gaps(session, batch)


class ServicesMiddleware(BaseMiddleware):
    """One database session per update, and the services built on it, injected by name."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes, policy: LinkPolicy,
                 settings: Settings | None = None, reachable: ReachableAgain | None = None) -> None:
        self.sessions = sessions
        self.key = key
        self.policy = policy
        self.settings = settings
        self.reachable = reachable
        self._contexts: dict[str | None, Context] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        session = self.sessions()
        try:
            user, chat = data.get("event_from_user"), data.get("event_chat")
            # Writing to the bot again means it can reach this person again (403 cleared).
            if user is not None and (chat is None or chat.type == "private"):
                if self.reachable is not None and self.reachable.running:
                    self.reachable.add(user.id)
                elif await clear_undeliverable(session, user.id):
                    await session.commit()
            data["session"] = session
            data["linking"] = LinkingService(session, self.key, self.policy)
            if self.settings is not None:
                data["actx"] = await self._context(data.get("bot"), data.get("now_fn"))
            return await handler(event, data)
        finally:
            # Only a session with a transaction open holds a connection. Closing one that never
            # began (most questions never touch the database) releases nothing and costs CPU.
            if session.in_transaction():
                await session.close()

    async def _context(self, bot: Bot | None, now_fn: Callable[[], Any] | None = None) -> Context:
        s = self.settings
        assert s is not None
        username = None
        if bot is not None:
            with contextlib.suppress(Exception):  # the letter's QR falls back to a text hint
                username = (await bot.me()).username  # aiogram caches getMe
        # now_fn: dispatcher data "now_fn", set only by tests that pin the clock.
        if now_fn is not None:
            return Context(data_dir=s.data_dir, agency_dir=s.agency_dir, zone=s.zone, bot_username=username,
                           now_fn=now_fn)
        # The same for every update (a frozen dataclass): built once per bot username.
        ctx = self._contexts.get(username)
        if ctx is None:
            ctx = self._contexts[username] = Context(data_dir=s.data_dir, agency_dir=s.agency_dir, zone=s.zone,
                                                     bot_username=username)
        return ctx


async def watch_knowledge(knowledge: Knowledge, bot: Bot, admin_ids: list[int], interval: float) -> None:
    """Reload the knowledge base when staff edit its files; a broken edit keeps the previous
    one live and the admins are told what is wrong."""
    last = knowledge.signature()
    while True:
        await asyncio.sleep(interval)
        current = knowledge.signature()
        if current == last:
            continue
        last = current
        problems = await asyncio.to_thread(knowledge.reload)  # parsing and indexing: off the loop
        errors = [p for p in problems if p.is_error]
        if not errors:
            log.info("knowledge base reloaded: %d entries", len(knowledge.kb.entries))
            continue
        log.warning("knowledge base edit rejected, previous version kept: %d errors", len(errors))
        for admin in admin_ids:
            try:
                await bot.send_message(admin, texts.kb_reload_failed([str(p) for p in errors]))
            except Exception:  # noqa: BLE001 - one unreachable admin must not stop the watcher
                log.warning("could not notify admin about the knowledge base")


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    agency: Agency
    storage: BaseStorage
    knowledge: Knowledge
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


def events_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update at a time per chat and user: a person who answers a form step the moment its
    prompt arrives must not have that answer handled while the previous step is still saving
    (the later save would overwrite it). Across instances through Redis, else within the process."""
    create = getattr(storage, "create_isolation", None)
    if create is not None:  # Redis (bot/fsm_redis.py)
        return create(lock_kwargs={"timeout": 60, "sleep": 0.01})
    return SimpleEventIsolation()


def build_dispatcher(app: App) -> Dispatcher:
    dp = Dispatcher(
        storage=app.storage,
        events_isolation=events_isolation(app.storage),
        agency=app.agency,
        admin_ids=frozenset(app.settings.admin_telegram_ids),
        zone=app.settings.zone,
        knowledge=app.knowledge,
        helpdesk_chat_id=app.settings.helpdesk_chat_id,
        kb_watch_seconds=app.settings.kb_watch_seconds,
        form_ttl_hours=app.settings.form_ttl_hours,
        quiet_hours=app.settings.quiet_hours,  # shown by /pengaturan
        reminder_time=app.settings.reminder_time,
    )
    dp["kb_outcome"] = record_kb_outcome  # handlers/tanya.py reports each question's outcome
    # Outer middlewares run in this order: trace and count, refuse abuse cheaply, then a DB session.
    dp.update.outer_middleware(ObserveUpdates(app.settings.verification_secret))
    guard = AbuseGuard(rate_limit(app.settings, app.storage), max_text_chars=app.settings.max_text_chars,
                       max_file_bytes=app.settings.max_file_bytes)
    dp.update.outer_middleware(guard)
    reachable = ReachableAgain(app.sessions)
    dp.update.outer_middleware(ServicesMiddleware(
        app.sessions, app.settings.verification_secret, app.link_policy, app.settings, reachable))
    dp.include_routers(*routers())
    guard.handled_kinds = frozenset(dp.resolve_used_update_types())  # the rest is dropped unanswered
    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    dp.startup.register(reachable.start)
    dp.shutdown.register(reachable.stop)
    gaps = GapRecorder(app.sessions)
    dp["gap_recorder"] = gaps  # handlers/tanya.py: abstained questions, recorded in batches
    dp.startup.register(gaps.start)
    dp.shutdown.register(gaps.stop)
    if app.settings.outbox_worker:
        attach_outbox_worker(dp, app.sessions, app.settings)
    attach_scheduler(dp, app)  # daily reminders at REMINDER_TIME
    attach_broadcast_progress(dp, app.sessions, app.settings)  # scheduled broadcasts, progress, final report
    return dp


async def on_startup(bot: Bot, dispatcher: Dispatcher, knowledge: Knowledge, admin_ids: frozenset[int],
                     kb_watch_seconds: float) -> None:
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in texts.COMMANDS])
    if kb_watch_seconds > 0:
        task = asyncio.create_task(watch_knowledge(knowledge, bot, sorted(admin_ids), kb_watch_seconds))
        dispatcher.workflow_data["_kb_watch_task"] = task


async def on_shutdown(dispatcher: Dispatcher) -> None:
    task = dispatcher.workflow_data.pop("_kb_watch_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class KeepResponseTypes(BaseRequestMiddleware):
    """Keeps aiogram's ``Response[<result type>]`` classes alive.

    aiogram parses every Bot API answer with ``Response[method.__returning__]``; pydantic caches
    such parametrised classes only weakly, so once the garbage collector took one, the next
    request built the class (and its validator) again: milliseconds of CPU per reply."""

    def __init__(self) -> None:
        self.kept: dict[Any, type] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Any,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self.kept:
            self.kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


def build_bot(token: str, api_base: str = TELEGRAM_API_DEFAULT) -> Bot:
    session = AiohttpSession()
    if api_base.rstrip("/") != TELEGRAM_API_DEFAULT:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    session.middleware(KeepResponseTypes())
    session.middleware(CountApiCalls())  # /metrics: Bot API calls and 429s, whoever makes them
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_storage(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder

        from redis.asyncio import BlockingConnectionPool, Redis

        # A blocking pool: past max_connections a command waits for a connection. redis-py's
        # default pool raises "Too many connections" instead (at 100 since redis-py 8), which a
        # burst of 128 users at once turned into thousands of failed updates in the load benchmark.
        pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=settings.redis_max_connections,
                                               timeout=REDIS_POOL_WAIT_SECONDS)
        return RedisFsmStorage(Redis(connection_pool=pool),
                               key_builder=DefaultKeyBuilder(prefix=f"{settings.redis_key_prefix}:fsm"))
    return SqlStorage(sessions)


def rate_limit(settings: Settings, storage: BaseStorage) -> RateLimit | None:
    """Per-user limit: in Redis (shared by all instances) when the FSM is there, else in memory."""
    if settings.rate_limit_per_minute <= 0:
        return None
    redis = getattr(storage, "redis", None)
    if settings.redis_url and redis is not None:
        return RateLimit.in_redis(settings.rate_limit_per_minute, settings.redis_url, redis.connection_pool,
                                  prefix=f"{settings.redis_key_prefix}:rl",
                                  fsm=storage if isinstance(storage, RedisFsmStorage) else None)
    return RateLimit.in_memory(settings.rate_limit_per_minute)


async def create_app(settings: Settings, *, load_demo: bool = False, knowledge: Knowledge | None = None) -> App:
    """Connect, migrate, and (for a first run) load the demo personnel data."""
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    count_db_connections(engine)
    await migrate(engine)
    sessions = make_sessionmaker(engine)
    summary = await load_demo_data(settings, sessions) if load_demo else None
    agency = load_agency(settings.agency_dir)
    if knowledge is None:
        # Parsing and indexing the entries is CPU work: keep it off the event loop.
        knowledge = await asyncio.to_thread(Knowledge, settings.kb_dir)
    return App(settings, engine, sessions, agency, build_storage(settings, sessions), knowledge, demo_summary=summary)


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
    await grant_demo_roles(sessions)
    summary = (
        f"Basis data kosong: data demo dimuat ({report.employees} pegawai sintetis dan "
        f"{imported.added} pegawai dari {DEMO_FILE.name})."
    )
    log.info(summary)
    return summary


# Demo staff roles, so every queue of the demo has someone to act on it (see README).
DEMO_ROLES = (
    ("198811302011022001", "verifier", "pka"),  # Dewi Lestari, Kepala Bidang PKA: cuti queue
    ("198506172019031001", "verifier", "pkom"),  # Bambang Sutrisno: izin belajar verification (demo only)
    ("197010051991101001", "approver", "izin-belajar"),  # Hendra Gunawan, Kepala Badan
    ("197010051991101001", "broadcaster", ""),
)


async def grant_demo_roles(sessions: async_sessionmaker[AsyncSession]) -> None:
    from services import roles

    async with sessions() as s:
        for nip, role, scope in DEMO_ROLES:
            await roles.grant(s, nip, role, scope, granted_by="demo")


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
