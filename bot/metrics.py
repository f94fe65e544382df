"""Prometheus metrics of this process, served at /metrics (bot/webhook.py).

Counters and histograms are incremented where things happen; what lives in the database (outbox
backlog, broadcast progress) is read on scrape, so every instance reports the same shared figures
(take max() over instances, not sum()).

Who increments what:
* every update: kind, outcome and latency - the ObserveUpdates middleware below;
* every Bot API request: method and result, 429s included - ``CountApiCalls``, a request middleware
  on the Bot's session (build_bot), so handler replies and outbox sends are both counted;
* knowledge-base outcomes - handlers/tanya.py through the ``kb_outcome`` callable injected by the
  dispatcher (handlers may not import bot/);
* outbox deliveries - the outbox worker calls :func:`record_outbox_send`;
* database connections opened - a pool event registered by :func:`count_db_connections`.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.observability import current_trace, start_trace
from services.models import Broadcast, BroadcastRecipient, OutboxMessage, utcnow

log = logging.getLogger("asnbot.metrics")
update_log = logging.getLogger("asnbot.updates")  # the one line per update

# ---- updates -------------------------------------------------------------------------------
UPDATES = Counter(
    "asnbot_updates_total",
    "Updates received, by kind (message, callback_query, ...) and outcome "
    "(handled, unhandled, error, rate_limited, too_large, ignored).",
    ["kind", "outcome"],
)
UPDATE_SECONDS = Histogram(
    "asnbot_update_seconds",
    "Time from an update entering the dispatcher to its handler returning.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UPDATES_IN_FLIGHT = Gauge("asnbot_updates_in_flight", "Updates being processed right now.")

# ---- knowledge base ------------------------------------------------------------------------
KB_OUTCOMES = Counter(
    "asnbot_kb_outcomes_total",
    "Questions to the knowledge base by outcome (answer, clarify, abstain, smalltalk, unavailable).",
    ["outcome"],
)

# ---- Bot API and the outbox ----------------------------------------------------------------
API_REQUESTS = Counter(
    "asnbot_bot_api_requests_total",
    "Requests to the Telegram Bot API by method and result (ok, 429, 4xx/5xx code, network).",
    ["method", "result"],
)
RETRY_AFTER = Counter(
    "asnbot_telegram_429_total",
    "Bot API answers 429 Too Many Requests, by method.",
    ["method"],
)
OUTBOX_SENDS = Counter(
    "asnbot_outbox_sends_total",
    "Outbox messages handled by this process's delivery worker, by result "
    "(sent, retry, failed, blocked).",
    ["result"],
)

# ---- database ------------------------------------------------------------------------------
DB_CONNECTIONS_OPENED = Counter(
    "asnbot_db_connections_opened_total",
    "Database connections this process opened. Steady growth under load means DB_POOL_SIZE is too "
    "small: connections beyond the pool are closed when returned and opened again.",
)


def count_db_connections(engine: AsyncEngine) -> None:
    """Count every connection the engine's pool opens (see DB_CONNECTIONS_OPENED)."""
    event.listen(engine.sync_engine, "connect", lambda _conn, _record: DB_CONNECTIONS_OPENED.inc())


def record_kb_outcome(outcome: str) -> None:
    """Injected into handlers as ``kb_outcome`` (see build_dispatcher)."""
    KB_OUTCOMES.labels(outcome).inc()
    trace = current_trace()
    if trace is not None:
        trace.kb_outcome = outcome


def record_outbox_send(result: str) -> None:
    """For the outbox worker: one call per message attempt, result sent/retry/failed/blocked."""
    OUTBOX_SENDS.labels(result).inc()


class CountApiCalls(BaseRequestMiddleware):
    """Counts every Bot API request by method and result; 429s separately."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Any,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter:
            API_REQUESTS.labels(name, "429").inc()
            RETRY_AFTER.labels(name).inc()
            raise
        except TelegramNetworkError:
            API_REQUESTS.labels(name, "network").inc()
            raise
        except TelegramAPIError as e:
            API_REQUESTS.labels(name, _error_class(e)).inc()
            raise
        API_REQUESTS.labels(name, "ok").inc()
        return response


def _error_class(error: TelegramAPIError) -> str:
    # aiogram's exception classes map one to one to Telegram's error codes.
    names = {
        "TelegramBadRequest": "400", "TelegramUnauthorizedError": "401", "TelegramForbiddenError": "403",
        "TelegramNotFound": "404", "TelegramConflictError": "409", "TelegramEntityTooLarge": "413",
        "TelegramServerError": "5xx", "RestartingTelegram": "5xx", "TelegramMigrateToChat": "400",
    }
    return names.get(type(error).__name__, "error")


# ---- figures read from the database on scrape ----------------------------------------------
@dataclass
class DbSnapshot:
    taken: float = 0.0
    ok: bool = False
    backlog: dict[bool, int] = field(default_factory=dict)  # urgent -> pending messages
    oldest_due_seconds: float = 0.0
    broadcasts: dict[int, dict[str, int]] = field(default_factory=dict)  # id -> status -> count


class DatabaseCollector(Collector):
    """Yields the last snapshot; :func:`refresh_db_metrics` fills it before each scrape
    (prometheus_client collectors are synchronous, the database is not)."""

    def __init__(self) -> None:
        self.snapshot = DbSnapshot()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        s = self.snapshot
        up = GaugeMetricFamily("asnbot_metrics_db_up", "1 if the last scrape could read the database.")
        up.add_metric([], 1.0 if s.ok else 0.0)
        yield up
        if not s.ok:
            return
        backlog = GaugeMetricFamily(
            "asnbot_outbox_backlog", "Outbox messages waiting to be sent (pending), by urgency.", labels=["urgent"])
        for urgent in (True, False):
            backlog.add_metric([str(urgent).lower()], s.backlog.get(urgent, 0))
        yield backlog
        oldest = GaugeMetricFamily(
            "asnbot_outbox_oldest_due_seconds", "Age of the oldest pending message that is due now (0 if none).")
        oldest.add_metric([], s.oldest_due_seconds)
        yield oldest
        progress = GaugeMetricFamily(
            "asnbot_broadcast_messages",
            "Recipients of broadcasts being sent, by delivery status "
            "(pending, sent, failed, blocked; no_account = not linked to Telegram).",
            labels=["broadcast_id", "status"],
        )
        active = GaugeMetricFamily("asnbot_broadcasts_sending", "Broadcasts being sent now.")
        active.add_metric([], len(s.broadcasts))
        for broadcast_id, counts in sorted(s.broadcasts.items()):
            for status, n in sorted(counts.items()):
                progress.add_metric([str(broadcast_id), status], n)
        yield active
        yield progress


DB_COLLECTOR = DatabaseCollector()
REGISTRY.register(DB_COLLECTOR)


async def refresh_db_metrics(sessions: async_sessionmaker[AsyncSession]) -> DbSnapshot:
    """Read the outbox backlog and the progress of broadcasts being sent (cheap: both queries
    use the (status, not_before) index or touch only the active broadcasts)."""
    snap = DbSnapshot(taken=time.monotonic())
    now = utcnow()
    try:
        async with sessions() as s:
            rows = await s.execute(
                select(OutboxMessage.urgent, func.count())
                .where(OutboxMessage.status == "pending")
                .group_by(OutboxMessage.urgent)
            )
            for urgent, n in rows.all():
                snap.backlog[bool(urgent)] = n
            oldest = (await s.execute(
                select(func.min(OutboxMessage.not_before))
                .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
            )).scalar_one_or_none()
            if oldest is not None:
                snap.oldest_due_seconds = max((now - oldest).total_seconds(), 0.0)
            progress = await s.execute(
                select(BroadcastRecipient.broadcast_id, OutboxMessage.status, func.count())
                .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
                .outerjoin(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
                .where(Broadcast.status == "sending")
                .group_by(BroadcastRecipient.broadcast_id, OutboxMessage.status)
            )
            for broadcast_id, status, n in progress.all():
                snap.broadcasts.setdefault(broadcast_id, {})[status or "no_account"] = n
        snap.ok = True
    except Exception:  # noqa: BLE001 - a scrape must answer even when the database does not
        log.warning("metrics: database not readable", exc_info=True)
    DB_COLLECTOR.snapshot = snap
    return snap


class ObserveUpdates(BaseMiddleware):
    """Outer middleware on every update: request id, metrics, and the one log line."""

    def __init__(self, user_key: bytes) -> None:
        self.user_key = user_key

    def user_ref(self, user_id: int) -> str:
        return hmac.new(self.user_key, str(user_id).encode(), hashlib.sha256).hexdigest()[:12]

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        trace = start_trace(kind)
        started = time.perf_counter()
        UPDATES_IN_FLIGHT.inc()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = trace.outcome or ("unhandled" if result is UNHANDLED else "handled")
            return result
        finally:
            elapsed = time.perf_counter() - started
            UPDATES_IN_FLIGHT.dec()
            UPDATES.labels(kind, outcome).inc()
            UPDATE_SECONDS.labels(kind).observe(elapsed)
            user = data.get("event_from_user")
            extra: dict[str, Any] = {
                "update_id": getattr(event, "update_id", None),
                "update_kind": kind,
                "outcome": outcome,
                "latency_ms": round(elapsed * 1000, 1),
            }
            if trace.kb_outcome:
                extra["kb_outcome"] = trace.kb_outcome
            if user is not None:
                extra["user"] = self.user_ref(user.id)
            update_log.info("update %s %s %.1f ms", kind, outcome, elapsed * 1000, extra=extra)
