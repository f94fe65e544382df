"""The transactional outbox: messages are written in the transaction of the change that causes
them, and the delivery worker (bot/sender.py) sends them and records each outcome.

Writers (services) call :func:`enqueue` / :func:`enqueue_for_employee` with their own session
and commit as usual: the state change and its messages are committed together or not at all.
Nothing here talks to Telegram.

Workers call :func:`claim` to lease due messages, send them, then record the outcome with one
of the ``mark_*`` functions. A mark applies only while the row is still held by the same worker
(``locked_by``), so a worker whose lease ran out and was taken over cannot overwrite the outcome
recorded by the worker that took over.

Ordering and per-chat pacing are kept in the database, so they hold across several worker
processes: a message is claimable only when no earlier due message of the same chat and class
(urgent, or not) is waiting and no message of that chat is in flight, and recording a send
pushes the chat's next message to at least ``chat_next_at`` (the per-chat rate limit). Urgent
messages (a person's own application) go before reminders and broadcasts.

Exactly once, as seen by the user, and its one residual risk: Telegram's Bot API has no
idempotency key, so the worker cannot ask "did you already accept this?". So:
* one sender at a time (the ``outbox`` worker lease, :func:`acquire_lease`): Telegram's overall
  limit is per bot, and one sender keeps it exactly; other instances stand by and take over when
  it stops or its lease runs out;
* each message is leased to one worker (lease + ``SKIP LOCKED`` / conditional UPDATE), and just
  before its request goes out the worker commits ``send_started_at`` with a conditional UPDATE
  (:func:`mark_started`) that succeeds only while it still holds the row: a worker that lost its
  rows to a new sender cannot send them too;
* the outcome is committed in its own short transaction right after Telegram answers. A graceful
  stop lets in-flight sends finish and be recorded.
Only a hard death (SIGKILL, power loss) between ``send_started_at`` and the outcome leaves a
message *in doubt*: Telegram may have it. :func:`settle_in_doubt` decides once the row's lease
has run out: a broadcast or reminder becomes ``uncertain`` and is not sent again (a second copy
to thousands is worse than one row reported as uncertain); a person's own notice (urgent) is
sent again, because a rare duplicate is better than a lost decision. Messages not yet started
go out once. A request that times out is retried too (Telegram may have delivered it).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, event, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.models import OutboxMessage, TelegramAccount, WorkerLease, utcnow

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, BLOCKED = "pending", "sent", "failed", "blocked"
UNCERTAIN = "uncertain"  # the worker died while the request was on the wire (see above)
SENDER_LEASE = "outbox"
METHODS = ("sendMessage", "sendDocument", "sendPhoto")
_CAPTIONED = {"sendDocument": "document", "sendPhoto": "photo"}
MAX_ERROR = 1000  # characters of an error kept in last_error


# ---- writing --------------------------------------------------------------------------------
async def enqueue(
    session: AsyncSession,
    *,
    chat_id: int,
    text: str | None = None,
    dedupe_key: str,
    method: str = "sendMessage",
    payload: dict[str, Any] | None = None,
    reply_markup: dict[str, Any] | None = None,
    employee_id: int | None = None,
    urgent: bool = True,
    broadcast_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add one message to the caller's transaction (not committed here). Returns False, adding
    nothing, when a message with this ``dedupe_key`` exists already.

    ``text`` is HTML (the bot's parse mode; escape user data): the message text, or the caption
    of a document/photo. ``payload`` holds further Bot API parameters without chat_id; a file to
    upload is named by ``document_path`` / ``photo_path`` relative to DATA_DIR (``file_name``
    optional), or given as a Telegram file_id in ``document`` / ``photo``. ``urgent=False``
    (reminders, broadcasts) waits for the end of quiet hours.
    """
    row = _row(chat_id=chat_id, text=text, dedupe_key=dedupe_key, method=method, payload=payload,
               reply_markup=reply_markup, employee_id=employee_id, urgent=urgent, broadcast_id=broadcast_id,
               not_before=not_before)
    # Autoflush makes rows added earlier in this same session visible to this check.
    taken = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if taken is not None:
        return False
    session.add(OutboxMessage(**row))
    _wake_workers_after_commit(session)
    return True


async def enqueue_many(session: AsyncSession, messages: Iterable[dict[str, Any]]) -> int:
    """:func:`enqueue` for many messages at once (a broadcast): each dict holds enqueue's keyword
    arguments. Messages whose dedupe_key exists already (or repeats in ``messages``) are
    skipped. Not committed here. Returns how many were added."""
    rows: dict[str, dict[str, Any]] = {}
    for message in messages:
        row = _row(**message)
        rows.setdefault(row["dedupe_key"], row)
    if not rows:
        return 0
    # The unique dedupe_key decides (also against a concurrent writer): existing ones are skipped.
    insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[session.get_bind().dialect.name]
    statement = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(statement.returning(OutboxMessage.id), list(rows.values()))
    added = len(result.all())
    if added:
        _wake_workers_after_commit(session)
    return added


def _row(
    *,
    chat_id: int,
    dedupe_key: str,
    text: str | None = None,
    method: str = "sendMessage",
    payload: dict[str, Any] | None = None,
    reply_markup: dict[str, Any] | None = None,
    employee_id: int | None = None,
    urgent: bool = True,
    broadcast_id: int | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unsupported outbox method {method!r}; use one of {METHODS}")
    if not dedupe_key or len(dedupe_key) > 160:
        raise ValueError("dedupe_key must be 1-160 characters")
    body = dict(payload or {})
    if text is not None:
        body["caption" if method in _CAPTIONED else "text"] = text
    if reply_markup is not None:
        body["reply_markup"] = reply_markup
    if method == "sendMessage" and not body.get("text"):
        raise ValueError("sendMessage needs a text")
    if method in _CAPTIONED:
        kind = _CAPTIONED[method]
        if not body.get(f"{kind}_path") and not body.get(kind):
            raise ValueError(f"{method} needs {kind}_path (relative to DATA_DIR) or a {kind} file_id")
    return {
        "dedupe_key": dedupe_key, "chat_id": chat_id, "employee_id": employee_id, "method": method,
        "payload": body, "urgent": urgent, "broadcast_id": broadcast_id, "status": PENDING,
        "not_before": not_before or utcnow(), "attempts": 0,
    }


async def enqueue_for_employee(session: AsyncSession, employee_id: int, **message: Any) -> bool:
    """:func:`enqueue` to the employee's linked Telegram chat. False (nothing added) when the
    employee has no linked account, or the dedupe_key was used already."""
    chat_id = await session.scalar(
        select(TelegramAccount.chat_id).where(TelegramAccount.employee_id == employee_id)
    )
    if chat_id is None:
        return False
    return await enqueue(session, chat_id=chat_id, employee_id=employee_id, **message)


async def clear_undeliverable(session: AsyncSession, telegram_user_id: int) -> bool:
    """The user wrote to the bot again: they can be reached. Not committed here. Reads first so
    that the common case (nothing to clear) writes nothing."""
    marked = await session.scalar(select(TelegramAccount.id).where(
        TelegramAccount.telegram_user_id == telegram_user_id, TelegramAccount.undeliverable_since.is_not(None)
    ))
    if marked is None:
        return False
    await session.execute(update(TelegramAccount).where(TelegramAccount.id == marked).values(undeliverable_since=None))
    return True


async def clear_undeliverable_many(session: AsyncSession, telegram_user_ids: Iterable[int]) -> int:
    """:func:`clear_undeliverable` for everyone who wrote in the last moment, in one conditional
    UPDATE per 500 ids (no row matches in the common case, so nothing is written or locked).
    Not committed here. Returns how many accounts were cleared."""
    ids = sorted(set(telegram_user_ids))
    cleared = 0
    for i in range(0, len(ids), 500):
        result = await session.execute(
            update(TelegramAccount)
            .where(TelegramAccount.telegram_user_id.in_(ids[i:i + 500]),
                   TelegramAccount.undeliverable_since.is_not(None))
            .values(undeliverable_since=None)
            .execution_options(synchronize_session=False))
        cleared += result.rowcount or 0
    return cleared


# ---- waking the worker after a commit ---------------------------------------------------------
_listeners: list[Callable[[], None]] = []


def subscribe(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (on the event loop's thread) after each commit that added outbox rows,
    so an idle worker in this process starts at once. Returns the unsubscribe function."""
    _listeners.append(callback)

    def unsubscribe() -> None:
        if callback in _listeners:
            _listeners.remove(callback)

    return unsubscribe


def _wake_workers_after_commit(session: AsyncSession) -> None:
    sync = session.sync_session
    sync.info["_outbox_added"] = True
    if not sync.info.get("_outbox_listening"):
        sync.info["_outbox_listening"] = True
        event.listen(sync, "after_commit", _after_commit)
        event.listen(sync, "after_rollback", lambda s: s.info.pop("_outbox_added", None))


def _after_commit(session: Any) -> None:
    if not session.info.pop("_outbox_added", False):
        return
    for callback in list(_listeners):
        try:
            callback()
        except Exception:  # noqa: BLE001 - a waker must never break the caller's commit
            log.exception("outbox wake-up callback failed")


# ---- quiet hours ------------------------------------------------------------------------------
def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """"21:00-06:00" -> (21:00, 06:00); empty -> None. The window may wrap past midnight."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        start_s, end_s = (p.strip() for p in value.split("-"))
        start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    except ValueError:
        raise ValueError(f"quiet hours must look like 21:00-06:00, got {value!r}") from None
    if start == end:
        raise ValueError("quiet hours start and end must differ")
    return start, end


def quiet_until(now: datetime, window: tuple[time, time] | None, zone: ZoneInfo) -> datetime | None:
    """If ``now`` is inside the quiet window (local time in ``zone``), when it ends (UTC);
    otherwise None."""
    if window is None:
        return None
    start, end = window
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(now.tzinfo)


async def defer_quiet(sessions: async_sessionmaker[AsyncSession], *, now: datetime, until: datetime) -> int:
    """Move non-urgent pending messages due before ``until`` (the end of quiet hours) to it.
    Returns how many were moved; reads first so that a quiet night writes nothing."""
    due = and_(
        OutboxMessage.status == PENDING,
        OutboxMessage.urgent.is_(False),
        OutboxMessage.not_before < until,
        _lease_free(now),
    )
    async with sessions() as session:
        if await session.scalar(select(OutboxMessage.id).where(due).limit(1)) is None:
            return 0
        await session.rollback()  # end the read before writing (SQLite upgrades badly)
        result = await session.execute(update(OutboxMessage).where(due).values(not_before=until))
        await session.commit()
        return result.rowcount or 0


# ---- the worker side --------------------------------------------------------------------------
async def next_due(sessions: async_sessionmaker[AsyncSession], *, urgent_only: bool = False) -> datetime | None:
    """When the earliest waiting message is due (None: nothing waits): one read along the
    (status, not_before) index, which an idle worker makes instead of the full claim query."""
    conditions = [OutboxMessage.status == PENDING, OutboxMessage.send_started_at.is_(None)]
    if urgent_only:
        conditions.append(OutboxMessage.urgent.is_(True))
    async with sessions() as session:
        return await session.scalar(
            select(OutboxMessage.not_before).where(*conditions).order_by(OutboxMessage.not_before).limit(1))


@dataclass(frozen=True)
class Claimed:
    """A message leased to a worker: everything needed to send it, detached from any session."""

    id: int
    chat_id: int
    method: str
    payload: dict[str, Any]
    urgent: bool
    attempts: int
    dedupe_key: str
    broadcast_id: int | None
    employee_id: int | None


_CLAIM_COLUMNS = (
    OutboxMessage.id, OutboxMessage.chat_id, OutboxMessage.method, OutboxMessage.payload, OutboxMessage.urgent,
    OutboxMessage.attempts, OutboxMessage.dedupe_key, OutboxMessage.broadcast_id, OutboxMessage.employee_id,
)


def _lease_free(now: datetime) -> Any:
    return or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now)


async def _pick(session: AsyncSession, now: datetime, limit: int, urgent_only: bool) -> list[int]:
    """Ids of the messages to take: due, lease free, the earliest one of its chat within its
    class (urgent ones may overtake a chat's reminders and broadcasts, never its other urgent
    ones), one per chat, of chats with nothing in flight (across workers); urgent first, then
    the longest due.

    Each class is read as a prefix of its due messages in (not_before, id) order, which is the
    index's order, so reading stops early; the only per-row probe (in flight?) runs on that
    prefix, by chat_id. A claim stays at tens of milliseconds with 20,000 due messages whatever
    the planner's statistics say (right after a broadcast they are stale, and a correlated query
    over every due message took minutes on PostgreSQL). A chat's messages keep their order,
    except that a message waiting for a retry does not hold back the ones after it.
    """
    ids: list[int] = []
    chats: set[int] = set()
    other = aliased(OutboxMessage)
    for urgent in (True,) if urgent_only else (True, False):
        if len(ids) >= limit:
            break
        prefix = (
            select(OutboxMessage.id, OutboxMessage.chat_id, OutboxMessage.not_before, OutboxMessage.locked_until)
            .where(OutboxMessage.status == PENDING, OutboxMessage.not_before <= now, OutboxMessage.urgent.is_(urgent),
                   OutboxMessage.send_started_at.is_(None))  # in doubt: settled first, never re-picked
            .order_by(OutboxMessage.not_before, OutboxMessage.id)  # the index's order: reading stops early
            .limit(4 * limit + 200)  # room for the messages in flight, which stay at the front
            .subquery()
        )
        ranked = select(
            prefix, func.row_number().over(partition_by=prefix.c.chat_id, order_by=prefix.c.id).label("place")
        ).subquery()
        # Marks clear locked_until, so a future lease means a send in flight.
        in_flight = exists().where(other.chat_id == ranked.c.chat_id, other.locked_until > now)
        pick = select(ranked.c.id, ranked.c.chat_id).where(
            ranked.c.place == 1, or_(ranked.c.locked_until.is_(None), ranked.c.locked_until <= now), ~in_flight,
        ).order_by(ranked.c.not_before, ranked.c.id)
        for message_id, chat_id in (await session.execute(pick)).all():
            if chat_id not in chats and len(ids) < limit:
                chats.add(chat_id)
                ids.append(message_id)
    return ids


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    worker_id: str,
    limit: int,
    now: datetime | None = None,
    lease_seconds: float = 60.0,
    urgent_only: bool = False,
) -> list[Claimed]:
    """Lease up to ``limit`` due messages to ``worker_id`` until ``now + lease_seconds``:
    urgent ones first, then oldest first, at most one per chat. ``urgent_only`` during quiet
    hours. Safe with several workers on one database: PostgreSQL takes the rows with
    ``FOR UPDATE SKIP LOCKED``; SQLite (one writer at a time) re-checks every condition in the
    UPDATE that takes them, so a row another worker took in between is simply not returned."""
    now = now or utcnow()
    claimed: list[Claimed] = []
    for _ in range(3):  # SQLite: rows another worker took between our read and our write
        taken, lost = await _claim_once(sessions, worker_id, limit - len(claimed), now, lease_seconds, urgent_only)
        claimed += taken
        if not lost or len(claimed) >= limit:
            break
    claimed.sort(key=lambda c: (not c.urgent, c.id))
    return claimed


async def _claim_once(
    sessions: async_sessionmaker[AsyncSession], worker_id: str, limit: int, now: datetime, lease_seconds: float,
    urgent_only: bool,
) -> tuple[list[Claimed], bool]:
    """(claimed messages, whether some picked rows were taken by another worker meanwhile)."""
    lease = {"locked_until": now + timedelta(seconds=lease_seconds), "locked_by": worker_id}
    still_free = (OutboxMessage.status == PENDING, _lease_free(now), OutboxMessage.send_started_at.is_(None))
    async with sessions() as session:
        ids = await _pick(session, now, limit, urgent_only)
        if not ids:
            await session.rollback()
            return [], False
        if session.get_bind().dialect.name == "postgresql":
            # Rows another worker is taking right now are skipped, not waited for.
            lock = select(OutboxMessage.id).where(OutboxMessage.id.in_(ids), *still_free)
            locked = list((await session.scalars(lock.with_for_update(skip_locked=True))).all())
            take = update(OutboxMessage).where(OutboxMessage.id.in_(locked))
        else:
            # SQLite: end the read first (a read transaction cannot become the writer if another
            # wrote meanwhile); the UPDATE re-checks that each row is still free.
            await session.rollback()
            take = update(OutboxMessage).where(OutboxMessage.id.in_(ids), *still_free)
        result = await session.execute(
            take.values(**lease).returning(*_CLAIM_COLUMNS).execution_options(synchronize_session=False)
        )
        claimed = [Claimed(**row._mapping) for row in result.all()]
        await session.commit()
    return claimed, len(claimed) < len(ids)


def _held(message_id: int, worker_id: str) -> Any:
    return and_(OutboxMessage.id == message_id, OutboxMessage.status == PENDING, OutboxMessage.locked_by == worker_id)


_RELEASE = {"locked_until": None, "locked_by": None}


async def mark_sent(
    sessions: async_sessionmaker[AsyncSession],
    message_id: int,
    *,
    worker_id: str,
    telegram_message_id: int | None,
    now: datetime | None = None,
    chat_id: int | None = None,
    chat_next_at: datetime | None = None,
) -> bool:
    """Record a send. With ``chat_id`` and ``chat_next_at``, the chat's other pending messages
    wait at least until then (per-chat rate limit, kept across workers). False if this worker
    no longer holds the row."""
    now = now or utcnow()
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(_held(message_id, worker_id)).values(
            status=SENT, sent_at=now, telegram_message_id=telegram_message_id, attempts=OutboxMessage.attempts + 1,
            last_error=None, **_RELEASE,
        ))
        if result.rowcount and chat_id is not None and chat_next_at is not None:
            await _push_chat(session, chat_id, chat_next_at)
        await session.commit()
        return bool(result.rowcount)


async def _push_chat(session: AsyncSession, chat_id: int, until: datetime) -> None:
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.chat_id == chat_id, OutboxMessage.status == PENDING, OutboxMessage.not_before < until,
    ).values(not_before=until))


async def mark_retry(
    sessions: async_sessionmaker[AsyncSession],
    message_id: int,
    *,
    worker_id: str,
    not_before: datetime,
    error: str,
    count_attempt: bool = True,
    chat_id: int | None = None,
) -> bool:
    """Send again at ``not_before``. With ``chat_id`` (Telegram's 429 for that chat) no message
    of the chat goes out before then. ``count_attempt=False`` for waits that are not failures."""
    async with sessions() as session:
        # Telegram answered: the outcome is known, so the next attempt is not "in doubt".
        values: dict[str, Any] = {"not_before": not_before, "last_error": error[:MAX_ERROR], "send_started_at": None,
                                  **_RELEASE}
        if count_attempt:
            values["attempts"] = OutboxMessage.attempts + 1
        result = await session.execute(update(OutboxMessage).where(_held(message_id, worker_id)).values(**values))
        if result.rowcount and chat_id is not None:
            await _push_chat(session, chat_id, not_before)
        await session.commit()
        return bool(result.rowcount)


async def release(sessions: async_sessionmaker[AsyncSession], message_ids: list[int], *, worker_id: str) -> int:
    """Give back leased messages that were not sent (the worker is stopping)."""
    if not message_ids:
        return 0
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(message_ids), OutboxMessage.status == PENDING, OutboxMessage.locked_by == worker_id,
            OutboxMessage.send_started_at.is_(None),
        ).values(**_RELEASE))
        await session.commit()
        return result.rowcount or 0


async def mark_failed(
    sessions: async_sessionmaker[AsyncSession], message_id: int, *, worker_id: str, error: str
) -> bool:
    """Telegram refused the message itself (400) or retries are exhausted: not sent again."""
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(_held(message_id, worker_id)).values(
            status=FAILED, last_error=error[:MAX_ERROR], attempts=OutboxMessage.attempts + 1, **_RELEASE,
        ))
        await session.commit()
        return bool(result.rowcount)


async def mark_blocked(
    sessions: async_sessionmaker[AsyncSession],
    message_id: int,
    *,
    worker_id: str,
    chat_id: int,
    error: str = "",
    now: datetime | None = None,
) -> bool:
    """Telegram answered 403 (blocked by the user, account deleted): record it on the message
    and mark the chat's account undeliverable until the user writes again."""
    now = now or utcnow()
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(_held(message_id, worker_id)).values(
            status=BLOCKED, last_error=error[:MAX_ERROR], attempts=OutboxMessage.attempts + 1, **_RELEASE,
        ))
        if result.rowcount:
            await session.execute(update(TelegramAccount).where(
                TelegramAccount.chat_id == chat_id, TelegramAccount.undeliverable_since.is_(None)
            ).values(undeliverable_since=now))
        await session.commit()
        return bool(result.rowcount)


# ---- the send marker and messages in doubt ------------------------------------------------------
async def mark_started(
    sessions: async_sessionmaker[AsyncSession], message_id: int, *, worker_id: str, now: datetime | None = None
) -> bool:
    """Commit that the request for this message is about to go out. False - do not send - when
    this worker no longer holds the row (its lease ran out, or a new sender took its rows)."""
    now = now or utcnow()
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(
            _held(message_id, worker_id), OutboxMessage.locked_until > now, OutboxMessage.send_started_at.is_(None),
        ).values(send_started_at=now))
        await session.commit()
        return bool(result.rowcount)


@dataclass(frozen=True)
class Settled:
    uncertain: int  # non-urgent, not sent again
    resent: int  # urgent, queued again


async def settle_in_doubt(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> Settled:
    """Messages whose request started but whose worker died before recording the outcome (its
    lease has run out): broadcasts and reminders become ``uncertain``, a person's own notices are
    queued again (see the module docstring). Reads first, so that the usual case writes nothing."""
    now = now or utcnow()
    doubt = and_(OutboxMessage.status == PENDING, OutboxMessage.send_started_at.is_not(None),
                 OutboxMessage.locked_until <= now)
    async with sessions() as session:
        if await session.scalar(select(OutboxMessage.id).where(doubt).limit(1)) is None:
            return Settled(0, 0)
        await session.rollback()  # end the read before writing (SQLite)
        note = "in doubt: the sender stopped while the request was on the wire; Telegram may have it"
        uncertain = await session.execute(update(OutboxMessage).where(doubt, OutboxMessage.urgent.is_(False)).values(
            status=UNCERTAIN, last_error=note, attempts=OutboxMessage.attempts + 1, **_RELEASE))
        resent = await session.execute(update(OutboxMessage).where(doubt, OutboxMessage.urgent.is_(True)).values(
            send_started_at=None, last_error=note + " (sent again)", attempts=OutboxMessage.attempts + 1, **_RELEASE))
        await session.commit()
    settled = Settled(uncertain.rowcount or 0, resent.rowcount or 0)
    if settled.uncertain or settled.resent:
        log.warning("outbox: %d message(s) in doubt marked uncertain, %d urgent one(s) queued again",
                    settled.uncertain, settled.resent)
    return settled


async def release_others(sessions: async_sessionmaker[AsyncSession], *, worker_id: str) -> int:
    """The new sender hands back rows other workers leased but never started (they stopped
    sending when they lost the sender lease, or died): they go out at once, not after their
    leases. Rows already started stay leased until settled. Returns how many."""
    async with sessions() as session:
        result = await session.execute(update(OutboxMessage).where(
            OutboxMessage.status == PENDING, OutboxMessage.locked_by.is_not(None),
            OutboxMessage.locked_by != worker_id, OutboxMessage.send_started_at.is_(None),
        ).values(**_RELEASE))
        await session.commit()
        return result.rowcount or 0


# ---- the sender lease ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lease:
    """The sender lease as taken: ``start_after`` is when the first send may go (the previous
    sender's last send plus Telegram's one-second window, or a bot-wide pause it was told)."""

    holder: str
    expires_at: datetime
    previous: str | None
    start_after: datetime | None


async def acquire_lease(
    sessions: async_sessionmaker[AsyncSession], *, holder: str, ttl: float, name: str = SENDER_LEASE,
    now: datetime | None = None, window: float = 1.0,
) -> Lease | None:
    """Take (or keep) the lease ``name`` for ``ttl`` seconds: free, expired or already ours.
    None while another holder's lease runs. Safe against instances racing for it: the UPDATE
    re-checks the condition, one wins."""
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    free = or_(WorkerLease.holder.is_(None), WorkerLease.holder == holder, WorkerLease.expires_at <= now)
    for _ in range(2):
        async with sessions() as session:
            row = (await session.execute(select(
                WorkerLease.holder, WorkerLease.last_send_at, WorkerLease.paused_until,
            ).where(WorkerLease.name == name))).first()
            if row is None:
                insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[session.get_bind().dialect.name]
                await session.execute(insert(WorkerLease).values(name=name, updated_at=now)
                                      .on_conflict_do_nothing(index_elements=["name"]))
                await session.commit()
                continue
            await session.rollback()  # end the read before writing (SQLite)
            result = await session.execute(update(WorkerLease).where(WorkerLease.name == name, free)
                                           .values(holder=holder, expires_at=expires, updated_at=now))
            await session.commit()
            if not result.rowcount:
                return None
            previous, last_send, paused = row
            starts = [t for t in (last_send and last_send + timedelta(seconds=window), paused) if t is not None]
            return Lease(holder, expires, previous if previous != holder else None, max(starts) if starts else None)
    return None


async def renew_lease(
    sessions: async_sessionmaker[AsyncSession], *, holder: str, ttl: float, name: str = SENDER_LEASE,
    last_send_at: datetime | None = None, now: datetime | None = None,
) -> bool:
    """Extend our lease (and note our last send for a successor). False when it is not ours
    any more: stop sending."""
    now = now or utcnow()
    return await _update_own_lease(sessions, name, holder, last_send_at, expires_at=now + timedelta(seconds=ttl),
                                   updated_at=now)


async def _update_own_lease(sessions: async_sessionmaker[AsyncSession], lease: str, owner: str,
                            last_send_at: datetime | None, **values: Any) -> bool:
    if last_send_at is not None:
        values["last_send_at"] = last_send_at
    async with sessions() as session:
        result = await session.execute(update(WorkerLease).where(
            WorkerLease.name == lease, WorkerLease.holder == owner).values(**values))
        await session.commit()
        return bool(result.rowcount)


async def pause_bot(
    sessions: async_sessionmaker[AsyncSession], *, until: datetime, name: str = SENDER_LEASE
) -> None:
    """Telegram told the bot as a whole to wait: kept for whichever instance sends next."""
    async with sessions() as session:
        await session.execute(update(WorkerLease).where(
            WorkerLease.name == name, or_(WorkerLease.paused_until.is_(None), WorkerLease.paused_until < until),
        ).values(paused_until=until))
        await session.commit()


async def release_lease(
    sessions: async_sessionmaker[AsyncSession], *, holder: str, name: str = SENDER_LEASE,
    last_send_at: datetime | None = None, now: datetime | None = None,
) -> bool:
    """Give the lease up at once (a graceful stop), noting our last send for the successor."""
    now = now or utcnow()
    return await _update_own_lease(sessions, name, holder, last_send_at, holder=None, expires_at=now, updated_at=now)
