"""The delivery worker: sends what services wrote to the outbox (services/outbox.py) through the
Bot API, within Telegram's limits, and records the outcome of every message.

Limits (from settings, each scaled by SEND_RATE_MARGIN):
* overall: evenly spaced sends (aiolimiter's leaky bucket, two sends deep), and never more than
  the margined rate within any one second - which is how Telegram counts;
* per chat: one send per 1/SEND_RATE_PER_CHAT seconds, per group one per 60/SEND_RATE_PER_GROUP
  seconds, kept in memory and, across worker processes, in the database (the chat's next
  message is not due earlier; see outbox.mark_sent).

Outcomes: 429 -> nothing goes to that chat before retry_after (a send whose start marker was being
written when the 429 came back goes back to the queue), and unless this worker wrote to
that chat within its window (two seconds; a minute for a group), nothing goes anywhere:
Telegram does not say which limit was hit, and then the bot-wide one is the safe reading;
5xx and network errors -> retried with exponential backoff and jitter, failed after
``max_attempts``; 403 -> blocked, the account marked undeliverable; 400 -> failed, not retried.

One sender per bot: a worker sends only while it holds the ``outbox`` lease in the database
(services/outbox.py); the other instances' workers stand by and take over when it stops or dies.
A new sender first hands back what its predecessor leased but never started, settles messages
left in doubt, and starts no earlier than one second after the predecessor's last send (and after
any bot-wide pause Telegram asked for), so the one-second window Telegram counts is never
overrun across the handover. Every send commits a "started" marker first (outbox.mark_started).

Sends run concurrently across chats (bounded), so the overall rate is reachable with tens of
milliseconds of API latency. Stopping (or cancelling the task) lets sends already on the wire
finish and be recorded, and hands the other leased messages back at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiolimiter import AsyncLimiter
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, Message
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import record_outbox_send
from bot.settings import Settings
from services import outbox
from services.models import utcnow

log = logging.getLogger("asnbot.sender")

_METHODS = {"sendMessage": SendMessage, "sendDocument": SendDocument, "sendPhoto": SendPhoto}
_FILE_KIND = {"sendDocument": "document", "sendPhoto": "photo"}
# Telegram remembers what the bot was told to wait for somewhat beyond a chat's last send; a 429
# for a chat this worker wrote to within this time is taken as that chat's limit.
_CHAT_MEMORY = 60.0
TEXT_TIMEOUT = 30  # seconds for one send request
UPLOAD_TIMEOUT = 90


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as ``stopping`` is set."""
    if stopping.is_set() or seconds <= 0:
        return stopping.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), max(seconds, 0))
    return stopping.is_set()


class StaleFileId(Exception):
    """Telegram no longer knows the file_id of an earlier upload."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxWorker:
    """Delivers outbox messages until :meth:`stop`. Several may run on one database.

    ``lease_seconds``: how long a claimed message stays reserved to this worker; after a hard
    crash its unsent messages go out once this has passed. A request gets at most a quarter of
    it (half for an upload), so it always ends before another worker could take the message.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        settings: Settings,
        *,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        max_attempts: int = 8,
        retry_base: float = 2.0,
        retry_cap: float = 300.0,
        concurrency: int | None = None,
        sender_lease_seconds: float = 10.0,
        standby_interval: float = 2.0,
        settle_every: float = 15.0,
    ) -> None:
        self.sessions, self.bot, self.settings = sessions, bot, settings
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds, self.poll_interval = lease_seconds, poll_interval
        # A request must end well within its lease, or another worker could send it again.
        self.text_timeout = max(1, min(TEXT_TIMEOUT, math.floor(lease_seconds / 4)))
        self.upload_timeout = max(1, min(UPLOAD_TIMEOUT, math.floor(lease_seconds / 2)))
        self.max_attempts, self.retry_base, self.retry_cap = max_attempts, retry_base, retry_cap
        margin = settings.send_rate_margin
        global_rate = settings.send_rate_global * margin
        # A leaky bucket holding two sends: steady spacing (Telegram counts sends in any one-second
        # window, so bursts would overrun it), with room to catch up after a late wake-up.
        self.limiter = AsyncLimiter(2, 2 / global_rate)
        # And never more sends than the margined rate in any one second: the bucket alone lets one
        # more through after a late wake-up, which with the margin (0.93 of 30: 29 a second) leaves
        # Telegram's window a few milliseconds of network jitter; this leaves it one send's spacing.
        self.window_cap = max(1, math.ceil(global_rate))
        self._window: deque[float] = deque()  # monotonic times of the last window_cap sends
        self._paused_until = 0.0  # monotonic; Telegram asked the whole bot to wait
        self.chat_interval = 1 / (settings.send_rate_per_chat * margin)
        self.group_interval = 60 / (settings.send_rate_per_group * margin)
        # Enough requests in flight to keep the window full at ~1 s of API latency.
        self.concurrency = concurrency or max(4, min(200, math.ceil(2 * global_rate)))
        self._refill_at = max(1, self.concurrency // 2)
        self.stats: dict[str, int] = dict.fromkeys(
            ("claimed", "sent", "retried", "rate_limited", "failed", "blocked", "released"), 0
        )
        self._chat_next: dict[int, float] = {}  # chat -> monotonic time of its next allowed send
        self._chat_last: dict[int, float] = {}  # chat -> monotonic time of this worker's last send
        self._file_ids: dict[tuple[str, str, int, int], str] = {}  # uploaded file -> Telegram file_id
        self._upload_locks: dict[tuple[str, str, int, int], asyncio.Lock] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        # The sender lease: renewed every few seconds; without it this worker stands by.
        self.sender_lease_seconds, self.standby_interval = sender_lease_seconds, standby_interval
        self.settle_every = settle_every  # how often the sender looks for messages left in doubt
        self.renew_every = max(0.2, sender_lease_seconds / 5)
        self.is_sender = False
        self._renewed_at = 0.0  # monotonic
        self._settled_at = 0.0
        self._last_send_utc: datetime | None = None  # for the successor: our last send's wall-clock time
        self._idle = False  # the last claim found nothing: look cheaply before claiming again
        self._next_due: datetime | None = None  # when idle: the earliest waiting message
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False

    # ---- control -----------------------------------------------------------------------------
    def notify(self) -> None:
        """Something was committed to the outbox: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self, timeout: float = 35.0) -> None:
        """Stop claiming, give back what is not on the wire, wait for the rest to be recorded."""
        self._stopping.set()
        self._wake.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), timeout)

    async def run(self) -> None:
        self._running = True
        self._finished.clear()
        unsubscribe = outbox.subscribe(self.notify)
        log.info("outbox worker %s started", self.worker_id)
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # a notify during the cycle below makes the wait return at once
                try:
                    if not await self._hold_lease():
                        await _stopped_within(self._stopping, self.standby_interval)
                        continue
                    await self._cycle()
                except Exception:  # noqa: BLE001 - e.g. the database is unreachable: keep trying
                    log.exception("outbox worker: claiming failed, trying again shortly")
                    await _stopped_within(self._stopping, 2.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    # Idle: look less often. A commit in this process wakes the worker at once;
                    # one made by another instance waits at most a second.
                    await asyncio.wait_for(self._wake.wait(), self._idle_wait())
        finally:
            unsubscribe()
            self._stopping.set()
            # Shielded: a cancelled worker still lets sends on the wire be recorded.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._drain())
                await asyncio.shield(self._give_up_lease())
            self._running = False
            self._finished.set()
            log.info("outbox worker %s stopped: %s", self.worker_id, self.stats)

    async def _drain(self) -> None:
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.upload_timeout + 5)
            for task in pending:  # their leases expire and another worker sends them
                task.cancel()

    def _idle_wait(self) -> float:
        if not (self._idle and not self._inflight):
            return self.poll_interval
        # Idle: look again when the next message is due, at the latest after a second (a commit in
        # this process wakes the worker at once; one by another instance waits at most that).
        ceiling = max(self.poll_interval, 1.0)
        if self._next_due is None:
            return ceiling
        return min(ceiling, max(0.01, (self._next_due - utcnow()).total_seconds()))

    # ---- the sender lease ----------------------------------------------------------------------
    async def _hold_lease(self) -> bool:
        """Take, keep or lose the sender lease; True while this worker may send."""
        now_m = time.monotonic()
        if self.is_sender:
            if now_m - self._renewed_at < self.renew_every:
                return True
            if await self._record(outbox.renew_lease, holder=self.worker_id, ttl=self.sender_lease_seconds,
                                  last_send_at=self._last_send_utc):
                self._renewed_at = now_m
                if now_m - self._settled_at > self.settle_every:
                    self._settled_at = now_m
                    await outbox.settle_in_doubt(self.sessions)
                return True
            # Another instance took over (this one stalled past its lease): stop sending at once;
            # the new sender hands back our unstarted rows, and mark_started refuses them to us.
            log.warning("outbox worker %s lost the sender lease", self.worker_id)
            self.is_sender = False
            return False
        lease = await outbox.acquire_lease(self.sessions, holder=self.worker_id, ttl=self.sender_lease_seconds)
        if lease is None:
            return False
        self.is_sender, self._renewed_at, self._settled_at = True, now_m, now_m
        handed_back = await outbox.release_others(self.sessions, worker_id=self.worker_id)
        await outbox.settle_in_doubt(self.sessions)
        if lease.start_after is not None:
            # The predecessor's last second (or a bot-wide pause) is not over: wait it out.
            wait = (lease.start_after - utcnow()).total_seconds()
            self._paused_until = max(self._paused_until, time.monotonic() + wait)
        log.info("outbox worker %s is the sender (after %s; %d message(s) handed back)",
                 self.worker_id, lease.previous or "nobody", handed_back)
        return True

    async def _give_up_lease(self) -> None:
        if not self.is_sender:
            return
        self.is_sender = False
        try:
            await outbox.release_lease(self.sessions, holder=self.worker_id, last_send_at=self._last_send_utc)
        except Exception:  # noqa: BLE001 - stopping anyway: the lease then runs out by itself
            log.exception("outbox worker %s could not give the sender lease back", self.worker_id)

    # ---- one round: quiet hours, claim, start sends ------------------------------------------
    async def _cycle(self) -> None:
        now = utcnow()
        quiet_end = outbox.quiet_until(now, self.settings.quiet_window, self.settings.zone)
        if quiet_end is not None:
            await outbox.defer_quiet(self.sessions, now=now, until=quiet_end)
        free = self.concurrency - len(self._inflight)
        # Refill in batches: a claim reads the queue, so not for every freed slot.
        if free < self._refill_at and self._inflight:
            return
        if self._idle and not self._inflight:
            # The usual idle poll: one indexed read instead of the claim query.
            self._next_due = await outbox.next_due(self.sessions, urgent_only=quiet_end is not None)
            if self._next_due is None or self._next_due > now:
                return
        claiming = asyncio.ensure_future(outbox.claim(
            self.sessions, worker_id=self.worker_id, limit=free, now=now,
            lease_seconds=self.lease_seconds, urgent_only=quiet_end is not None,
        ))
        try:
            claimed = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Cancelled mid-claim: hand back whatever the claim took, not leave it leased.
            with contextlib.suppress(Exception):
                taken = await claiming
                await outbox.release(self.sessions, [m.id for m in taken], worker_id=self.worker_id)
            raise
        self.stats["claimed"] += len(claimed)
        self._idle = not claimed
        lease_end = time.monotonic() + self.lease_seconds
        for message in claimed:
            task = asyncio.create_task(self._deliver(message, lease_end))
            self._inflight.add(task)
            task.add_done_callback(self._sent_one)
        self._forget_old_chats()

    def _sent_one(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self.concurrency - len(self._inflight) >= self._refill_at:
            self._wake.set()  # room for a batch: claim now rather than at the next poll

    def _forget_old_chats(self) -> None:
        if len(self._chat_last) < 10_000:
            return
        cutoff = time.monotonic() - _CHAT_MEMORY
        for chat in [c for c, t in self._chat_last.items() if t < cutoff]:
            del self._chat_last[chat]
            self._chat_next.pop(chat, None)

    # ---- one message ---------------------------------------------------------------------------
    def _interval(self, chat_id: int) -> float:
        return self.group_interval if chat_id < 0 else self.chat_interval

    async def _deliver(self, message: outbox.Claimed, lease_end: float) -> None:
        # Start the send only while the lease leaves room for the whole request.
        timeout = self.upload_timeout if message.method in _FILE_KIND else self.text_timeout
        send_by = lease_end - timeout - min(10.0, self.lease_seconds / 10)
        try:
            async with self._upload_turn(message):
                wait = self._chat_next.get(message.chat_id, 0) - time.monotonic()
                ready = not await _stopped_within(self._stopping, wait)
                ready = ready and await self._global_slot()
                if not ready or not self.is_sender or time.monotonic() > send_by:
                    released = await self._record(outbox.release, [message.id], worker_id=self.worker_id)
                    self.stats["released"] += released
                    return
                if not await self._record(outbox.mark_started, message.id, worker_id=self.worker_id):
                    return  # no longer ours (a new sender took it): it must not go out from here
                if await self._held_back(message):
                    return
                await self._send_and_record(message)
        except Exception:  # noqa: BLE001 - one message must never stop the worker
            log.exception("outbox message %s: unexpected error", message.id)

    async def _held_back(self, message: outbox.Claimed) -> bool:
        """A 429 that came back while the start marker was being written (a commit can take tens
        of milliseconds on a busy machine) makes this send arrive inside Telegram's wait: it goes
        back to the queue, unstarted, due when the wait is over. True when held back."""
        wait = max(self._paused_until, self._chat_next.get(message.chat_id, 0.0)) - time.monotonic()
        if wait <= 0:
            return False
        await self._record(outbox.mark_retry, message.id, worker_id=self.worker_id,
                           not_before=utcnow() + timedelta(seconds=wait), count_attempt=False,
                           error="held back: Telegram asked the bot to wait")
        self.stats["released"] += 1
        return True

    async def _global_slot(self) -> bool:
        """Wait for the overall rate limit (and any bot-wide pause); False when stopping."""
        while not self._stopping.is_set():
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                await _stopped_within(self._stopping, pause)
                continue
            if not await self._acquire_unless_stopping():
                return False
            while len(self._window) >= self.window_cap and not self._stopping.is_set():
                full = self._window[0] + 1.0 - time.monotonic()
                if full <= 0:
                    self._window.popleft()
                else:
                    await _stopped_within(self._stopping, full)
            if self._paused_until <= time.monotonic() and not self._stopping.is_set():
                self._window.append(time.monotonic())
                return True
        return False

    async def _acquire_unless_stopping(self) -> bool:
        """A slot of the overall rate, or False as soon as the worker stops: a stop must not wait
        for every queued send to take its turn only to give the message back."""
        slot = asyncio.ensure_future(self.limiter.acquire())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({slot, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not slot.done():
                slot.cancel()
        return slot.done() and not slot.cancelled() and not self._stopping.is_set()

    async def _send_and_record(self, m: outbox.Claimed) -> None:
        wid = self.worker_id
        try:
            result = await self._send(m)
        except TelegramRetryAfter as e:
            self.stats["rate_limited"] += 1
            now = time.monotonic()
            last = self._chat_last.get(m.chat_id)
            self._chat_next[m.chat_id] = max(self._chat_next.get(m.chat_id, 0), now + e.retry_after)
            # Telegram does not say which limit was hit. Only a chat this worker wrote to within
            # its window (a couple of seconds; a minute for a group) can have a full window of its
            # own (e.g. the bot also answered the person directly); otherwise it is the bot-wide
            # limit, and every chat waits. Kept in the database too, so that a successor after a
            # restart waits for it as well.
            window = _CHAT_MEMORY if m.chat_id < 0 else max(2.0, 2 * self.chat_interval)
            if last is None or now - last > window:
                self._paused_until = max(self._paused_until, now + e.retry_after)
                await self._record(outbox.pause_bot, until=utcnow() + timedelta(seconds=e.retry_after))
            record_outbox_send("retry")  # the 429 itself is counted by CountApiCalls
            log.warning("outbox message %s: Telegram asks to wait %ss (chat %s)", m.id, e.retry_after, m.chat_id)
            await self._record(outbox.mark_retry, m.id, worker_id=wid, not_before=utcnow() + timedelta(seconds=e.retry_after),
                               error=_describe(e), count_attempt=False, chat_id=m.chat_id)
        except TelegramForbiddenError as e:
            self.stats["blocked"] += 1
            record_outbox_send("blocked")
            await self._record(outbox.mark_blocked, m.id, worker_id=wid, chat_id=m.chat_id, error=_describe(e))
        except StaleFileId as e:
            await self._retry(m, e)
        except TelegramMigrateToChat as e:
            self.stats["failed"] += 1
            record_outbox_send("failed")
            await self._record(outbox.mark_failed, m.id, worker_id=wid,
                               error=f"{_describe(e)} (group moved to chat {e.migrate_to_chat_id})")
        except (TelegramBadRequest, TelegramEntityTooLarge) as e:
            self.stats["failed"] += 1
            record_outbox_send("failed")
            log.warning("outbox message %s refused by Telegram: %s", m.id, e.message)
            await self._record(outbox.mark_failed, m.id, worker_id=wid, error=_describe(e))
        except (TelegramUnauthorizedError, TelegramNotFound, TelegramConflictError) as e:
            # The bot's configuration, not this message: keep it, try again later.
            log.error("outbox: Telegram refuses the bot itself (%s); messages kept", e.message)
            await self._retry(m, e, count_attempt=False)
        except TelegramAPIError as e:  # 5xx, network errors and timeouts, anything unforeseen
            await self._retry(m, e)
        except (OSError, ValueError) as e:  # the document is missing, the payload is invalid
            self.stats["failed"] += 1
            record_outbox_send("failed")
            log.error("outbox message %s cannot be sent: %s", m.id, e)
            await self._record(outbox.mark_failed, m.id, worker_id=wid, error=f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - e.g. an unreadable answer: try again later
            log.exception("outbox message %s: unexpected error", m.id)
            await self._retry(m, e)
        else:
            now = time.monotonic()
            interval = self._interval(m.chat_id)
            self._chat_last[m.chat_id] = now
            self._chat_next[m.chat_id] = now + interval
            self._last_send_utc = utcnow()
            self.stats["sent"] += 1
            record_outbox_send("sent")
            await self._record(outbox.mark_sent, m.id, worker_id=wid, telegram_message_id=result.message_id,
                               chat_id=m.chat_id, chat_next_at=utcnow() + timedelta(seconds=interval))

    async def _retry(self, m: outbox.Claimed, error: Exception, *, count_attempt: bool = True) -> None:
        attempt = m.attempts + 1
        if count_attempt and attempt >= self.max_attempts:
            self.stats["failed"] += 1
            record_outbox_send("failed")
            log.warning("outbox message %s failed after %d attempts: %s", m.id, attempt, error)
            await self._record(outbox.mark_failed, m.id, worker_id=self.worker_id,
                               error=f"gave up after {attempt} attempts: {_describe(error)}")
            return
        ceiling = min(self.retry_cap, self.retry_base * 2 ** (attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter: failed sends do not return together
        self.stats["retried"] += 1
        record_outbox_send("retry")
        await self._record(outbox.mark_retry, m.id, worker_id=self.worker_id,
                           not_before=utcnow() + timedelta(seconds=delay), error=_describe(error),
                           count_attempt=count_attempt)

    async def _record(self, mark: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Write an outcome, retrying a busy or briefly unreachable database: an outcome that is
        not written means the message goes out again once the lease expires."""
        for attempt in range(6):
            try:
                return await mark(self.sessions, *args, **kwargs)
            except (DBAPIError, OSError):
                if attempt == 5:
                    raise
                log.warning("outbox: recording an outcome failed, retrying", exc_info=True)
                await asyncio.sleep(0.2 * 2 ** attempt)
        return None

    # ---- the Bot API call ----------------------------------------------------------------------
    def _file_key(self, m: outbox.Claimed) -> tuple[str, str, int, int] | None:
        """Identifies the file a message uploads (None for text or a Telegram file_id)."""
        kind = _FILE_KIND.get(m.method)
        relative = m.payload.get(f"{kind}_path") if kind else None
        if not relative:
            return None
        path = self._data_file(relative)
        stat = path.stat()
        return kind, str(path), stat.st_mtime_ns, stat.st_size

    @contextlib.asynccontextmanager
    async def _upload_turn(self, m: outbox.Claimed) -> AsyncIterator[None]:
        """The first send of a file uploads it; sends of the same file wait for that upload (before
        taking a slot of the rate limit) and then reuse its file_id: a broadcast uploads a
        document once, not once per recipient."""
        try:
            key = self._file_key(m)
        except (OSError, ValueError):
            key = None  # the send fails with this error and records it
        if key is None or key in self._file_ids:
            yield
            return
        async with self._upload_locks.setdefault(key, asyncio.Lock()):
            yield

    async def _send(self, m: outbox.Claimed) -> Message:
        params = dict(m.payload)
        kind = _FILE_KIND.get(m.method)
        key = self._file_key(m)
        if kind is None or key is None:
            return await self.bot(_METHODS[m.method](chat_id=m.chat_id, **params), request_timeout=self.text_timeout)
        params.pop(f"{kind}_path")
        file_name = params.pop("file_name", None)
        file_id = self._file_ids.get(key)
        if file_id is not None:
            try:
                return await self.bot(_METHODS[m.method](chat_id=m.chat_id, **params, **{kind: file_id}),
                                      request_timeout=self.text_timeout)
            except TelegramBadRequest as e:
                if "file identifier" not in e.message and "file_id" not in e.message:
                    raise
                self._file_ids.pop(key, None)
                raise StaleFileId(e.message) from e  # retried soon, uploading the file again
        path = Path(key[1])
        upload = BufferedInputFile(await asyncio.to_thread(path.read_bytes), filename=file_name or path.name)
        result = await self.bot(_METHODS[m.method](chat_id=m.chat_id, **params, **{kind: upload}),
                                request_timeout=self.upload_timeout)
        uploaded = result.document if kind == "document" else (result.photo or [None])[-1]
        if uploaded is not None:
            self._file_ids[key] = uploaded.file_id
        return result

    def _data_file(self, relative: str) -> Path:
        root = self.settings.data_dir.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"document path {relative!r} is outside DATA_DIR")
        return path


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {getattr(error, 'message', None) or error}"


def attach_outbox_worker(dp: Dispatcher, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Run a delivery worker while the dispatcher polls (the bot, and the console chat)."""

    async def start(bot: Bot) -> None:
        worker = OutboxWorker(sessions, bot, settings)
        dp.workflow_data["outbox_worker"] = worker
        dp.workflow_data["_outbox_task"] = asyncio.create_task(worker.run(), name="outbox-worker")

    async def stop() -> None:
        worker = dp.workflow_data.pop("outbox_worker", None)
        task = dp.workflow_data.pop("_outbox_task", None)
        if worker is not None:
            await worker.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    dp.startup.register(start)
    dp.shutdown.register(stop)
