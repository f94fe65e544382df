"""Broadcast housekeeping beside the delivery worker: release scheduled broadcasts when due,
keep the sender's progress message current, and send the final report once.

Design: one small loop per bot instance that polls the database (every second; progress edits at
most every few seconds). Everything that must happen once is decided by the database, not by
this process: releasing a scheduled broadcast and finishing one are conditional UPDATEs
(services/broadcast.py), and the progress message and the final report go through the outbox
with dedupe keys ``bc:<id>:progress`` / ``bc:<id>:report``. The outbox row of the progress
message keeps its Telegram message id, so any instance (or this one after a restart) can edit
it. Several instances may each edit it; an identical edit is refused by Telegram as "not
modified" and ignored.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import Settings
from handlers import texts_broadcast as tb
from handlers.broadcast import as_dict, export_keyboard, stop_keyboard
from services import broadcast as bc
from services import outbox
from services.models import Broadcast, OutboxMessage, utcnow

log = logging.getLogger("asnbot.broadcast")


def progress_key(broadcast_id: int) -> str:
    return f"bc:{broadcast_id}:progress"


def report_key(broadcast_id: int) -> str:
    return f"bc:{broadcast_id}:report"


class BroadcastProgress:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bot: Bot, zone: ZoneInfo, *,
                 interval: float = 1.0, edit_every: float = 3.0) -> None:
        self.sessions, self.bot, self.zone = sessions, bot, zone
        self.interval, self.edit_every = interval, edit_every
        self._shown: dict[int, tuple[str, bool]] = {}  # broadcast -> (text, has stop button) last shown
        self._edited_at: dict[int, float] = {}
        self._final: set[int] = set()  # broadcasts whose progress message shows the end
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - a bad round must not end the loop
                log.exception("broadcast progress: round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> None:
        now = utcnow()
        async with self.sessions() as s:
            if not await bc.anything_to_follow(s, now):
                return  # the usual second: no broadcast due, running or just finished
        for r in await bc.start_due(self.sessions, now):
            log.info("broadcast %s released: %d messages queued", r.broadcast_id, r.queued)
        await self._follow(now)
        await self._finish(now)

    # ---- progress ----------------------------------------------------------------------------
    async def _follow(self, now) -> None:  # noqa: ANN001
        async with self.sessions() as s:
            followed = await bc.to_follow(s, now)
        for b in followed:
            running = b.status == bc.SENDING
            if b.id in self._final or (running and time.monotonic() - self._edited_at.get(b.id, 0) < self.edit_every):
                continue  # counting a 20,000-recipient broadcast every second would be waste
            async with self.sessions() as s:
                row = await s.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == progress_key(b.id)))
                if row is None and not running:
                    continue
                if row is not None and not (row.status == outbox.SENT and row.telegram_message_id):
                    continue  # queued, not delivered yet: nothing to edit
                tally = await bc.tally(s, b.id)
                # Everything has an outcome: nothing left to stop, even before the status says done
                # (an edit saying "selesai" must not keep the "Hentikan siaran" button).
                running = running and not tally.complete
                text = tb.progress(b.id, b.status, tally)
                if row is None:
                    await self._send_progress(s, b, text, running)
                    continue
            await self._edit(b.id, row.chat_id, row.telegram_message_id, text, running)

    async def _send_progress(self, s: AsyncSession, b: Broadcast, text: str, running: bool) -> None:
        await outbox.enqueue(s, chat_id=b.report_chat_id, text=text, dedupe_key=progress_key(b.id), urgent=True,
                             reply_markup=as_dict(stop_keyboard(b.id)) if running else None)
        try:
            await s.commit()
        except IntegrityError:  # another instance queued it at the same moment
            await s.rollback()
            return
        self._shown[b.id] = (text, running)
        self._edited_at[b.id] = time.monotonic()

    async def _edit(self, broadcast_id: int, chat_id: int, message_id: int, text: str, running: bool) -> None:
        shown = (text, running)
        if self._shown.get(broadcast_id) == shown:
            if not running:
                self._final.add(broadcast_id)
            return
        try:
            await self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id,
                                             reply_markup=stop_keyboard(broadcast_id) if running else None)
        except TelegramBadRequest as err:
            if "not modified" not in err.message:  # e.g. the staff member deleted it: stop trying
                log.info("broadcast %s: progress message not editable: %s", broadcast_id, err.message)
        except TelegramAPIError as err:  # 429, network: the next round tries again
            log.warning("broadcast %s: progress edit failed: %s", broadcast_id, err)
            return
        self._shown[broadcast_id] = shown
        self._edited_at[broadcast_id] = time.monotonic()
        if not running:
            self._final.add(broadcast_id)

    # ---- the end -----------------------------------------------------------------------------
    async def _finish(self, now) -> None:  # noqa: ANN001
        async with self.sessions() as s:
            finished = await bc.finish_due(s, now)
            for broadcast_id in finished:
                r = await bc.report(s, broadcast_id)
                if r.broadcast.report_chat_id is not None:
                    # Same transaction as the status change: the report is queued exactly once.
                    await outbox.enqueue(s, chat_id=r.broadcast.report_chat_id, text=tb.report(r, self.zone),
                                         reply_markup=as_dict(export_keyboard(broadcast_id)) if r.total.recipients
                                         else None, dedupe_key=report_key(broadcast_id), urgent=True)
                log.info("broadcast %s finished: %s", broadcast_id, r.total.as_json())
            if finished:
                await s.commit()


def attach_broadcast_progress(dp: Dispatcher, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Run the broadcast loop while the dispatcher polls (the bot, and the console chat)."""

    async def start(bot: Bot) -> None:
        loop = BroadcastProgress(sessions, bot, settings.zone)
        dp.workflow_data["broadcast_progress"] = loop
        dp.workflow_data["_broadcast_task"] = asyncio.create_task(loop.run(), name="broadcast-progress")

    async def stop() -> None:
        loop = dp.workflow_data.pop("broadcast_progress", None)
        task = dp.workflow_data.pop("_broadcast_task", None)
        if loop is not None:
            loop.stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)

    dp.startup.register(start)
    dp.shutdown.register(stop)
