"""Wires the daily jobs (services/scheduler.py) into the bot's lifetime: the reminders run every
day at REMINDER_TIME on one of the running instances, and catch up when the bot starts late."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from aiogram import Dispatcher

from knowledge.kb import KnowledgeBase
from services import reminders
from services.applications.engine import Context
from services.scheduler import DailyScheduler

if TYPE_CHECKING:
    from bot.app import App

REMINDERS_JOB = "daily-reminders"


def kb_documents(get_kb: Callable[[], KnowledgeBase | None]) -> reminders.DocumentLookup:
    """The syarat of a knowledge-base entry, read from the live KB at the time of the run (the
    reminders name entries; services do not read the KB themselves)."""

    def lookup(entry_id: str) -> list[str] | None:
        kb = get_kb()
        entry = kb.get(entry_id) if kb is not None else None
        return [r.item for r in entry.requirements] if entry is not None else None

    return lookup


def reminders_job(app: App) -> Callable[[date], Any]:
    s = app.settings
    ctx = Context(data_dir=s.data_dir, agency_dir=s.agency_dir, zone=s.zone)
    documents = kb_documents(lambda: app.knowledge.kb if app.knowledge.available else None)
    return lambda today: reminders.run_daily(app.sessions, ctx, today=today, documents=documents)


def attach_scheduler(dp: Dispatcher, app: App) -> None:
    """Run the daily jobs while the dispatcher runs (REMINDER_TIME empty: not at all)."""
    at = app.settings.reminder_at
    if at is None:
        return

    async def start() -> None:
        scheduler = DailyScheduler(app.sessions, zone=app.settings.zone, at=at)
        scheduler.add_daily(REMINDERS_JOB, reminders_job(app))
        scheduler.start()
        dp.workflow_data["scheduler"] = scheduler

    async def stop() -> None:
        scheduler = dp.workflow_data.pop("scheduler", None)
        if scheduler is not None:
            await scheduler.shutdown()

    dp.startup.register(start)
    dp.shutdown.register(stop)
