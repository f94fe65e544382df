"""Runs the real asnbot (create_app + Dispatcher + aiogram Bot) against the local Bot API
server over HTTP, as it runs in production against Telegram."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot

from bot.app import App, Knowledge, build_bot, create_app, run_polling
from bot.local_api import LocalBotAPI
from bot.settings import Settings


def make_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "verification_key": "test-verification-key",
        "telegram_bot_token": None,
        "kb_watch_seconds": 0,  # tests that watch the knowledge base ask for it
        "quiet_hours": "",  # tests must not depend on the hour they run at; quiet-hour tests set it
        "rate_limit_per_minute": 0,  # tests send fast; tests/test_webhook.py tests the limit
        "reminder_time": "",  # no daily reminders job unless a test asks for it
        # The fake Bot API of the e2e tests enforces no limits; Telegram's pacing is tested in
        # tests/test_outbox.py and benchmarks/broadcast_20000.py. 1/s per chat would only make
        # every multi-message exchange wait.
        "send_rate_per_chat": 20,
    }
    values.update(overrides)
    # _env_file=None: a developer's .env must not leak into tests.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Running:
    app: App
    api: LocalBotAPI
    bot: Bot
    task: asyncio.Task[None]

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self.app.dispatcher.stop_polling()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 10)
        await self.bot.session.close()
        await self.app.close()


_SHARED_KNOWLEDGE: Knowledge | None = None


def shared_knowledge() -> Knowledge:
    """The repository's knowledge base, loaded once per test session: it is read-only, and
    loading and indexing it for every test would dominate the suite's time."""
    global _SHARED_KNOWLEDGE
    if _SHARED_KNOWLEDGE is None:
        _SHARED_KNOWLEDGE = Knowledge()
    return _SHARED_KNOWLEDGE


async def start_bot(settings: Settings, api: LocalBotAPI) -> Running:
    # Tests that edit or replace the knowledge base set kb_dir and get their own.
    knowledge = shared_knowledge() if settings.kb_dir is None else None
    app = await create_app(settings, knowledge=knowledge)
    bot = build_bot(api.token, api.base_url)
    task = asyncio.create_task(
        run_polling(app, bot, handle_as_tasks=False, polling_timeout=1, handle_signals=False)
    )
    # Wait until the bot has registered its commands: startup is over, polling begins.
    for _ in range(200):
        if api.commands is not None:
            break
        await asyncio.sleep(0.02)
    return Running(app, api, bot, task)
