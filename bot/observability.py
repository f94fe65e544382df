"""Logs and per-update tracing.

Every update gets a request id (opened by bot.metrics.ObserveUpdates; a contextvar, so every
log line written while it is handled carries it) and ends with one log line: update kind,
outcome, latency. What people wrote is never logged: no message text, no phone number, no NIK -
the per-update line has none of them, and as a second line of defence every message and
traceback is scrubbed of long digit runs (phone numbers, NIK, NIP) before it is written.
Telegram user ids are logged only as a keyed hash (``user``), enough to tell one abuser's
updates apart.

LOG_FORMAT=json writes one JSON object per line (python-json-logger), for a log shipper;
LOG_FORMAT=text is for people at a terminal.
"""
from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# No aiogram here: every CLI command sets up logging, and importing aiogram's types costs
# seconds. The middleware that opens a trace per update is bot.metrics.ObserveUpdates.


# ---- per-update trace ----------------------------------------------------------------------
@dataclass
class Trace:
    request_id: str
    kind: str
    outcome: str | None = None  # set by whoever decides it (the guard); else from the handler result
    kb_outcome: str | None = None


_TRACE: ContextVar[Trace | None] = ContextVar("asnbot_trace", default=None)


def current_trace() -> Trace | None:
    return _TRACE.get()


def current_request_id() -> str | None:
    trace = _TRACE.get()
    return trace.request_id if trace else None


def mark_outcome(outcome: str) -> None:
    trace = _TRACE.get()
    if trace is not None:
        trace.outcome = outcome


def new_request_id() -> str:
    return uuid.uuid4().hex


def start_trace(kind: str) -> Trace:
    """A new trace for the update being handled. Not reset afterwards on purpose: aiogram's
    error handler runs outside the middleware and its log line must carry the id too. Each update
    runs in its own task (webhook, polling with handle_as_tasks), so the value does not outlive it."""
    trace = Trace(new_request_id(), kind)
    _TRACE.set(trace)
    return trace


# ---- log formatting ------------------------------------------------------------------------
# Digits, then groups of three or more digits after single spaces, dots or hyphens, with an
# optional leading "+": phone numbers (0812-3456-7890, +62 812 3456 7890), NIK (16 digits),
# NIP (18). Dates and times (2026-01-31 08:00) have groups of two, so they stay. Not inside a
# word, so ids such as request ids are left alone.
_NUMBER = re.compile(r"(?<![\w+])\+?\d+(?:[ .-]\d{3,})*(?!\w)")
MIN_DIGITS = 10  # shorter numbers (counts, ids, years) are not personal
REDACTED = "[angka disembunyikan]"


def _redact(match: re.Match[str]) -> str:
    text = match.group(0)
    return REDACTED if sum(c.isdigit() for c in text) >= MIN_DIGITS else text


def scrub(text: str) -> str:
    return _NUMBER.sub(_redact, text)


class _ScrubMixin:
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return scrub(super().formatException(ei))  # type: ignore[misc]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return scrub(super().formatStack(stack_info))  # type: ignore[misc]


class TextFormatter(_ScrubMixin, logging.Formatter):
    pass


class JsonLogFormatter(_ScrubMixin, JsonFormatter):
    pass


class RequestContextFilter(logging.Filter):
    """Adds the update's request id to every record, and scrubs the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def make_handler(fmt: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonLogFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        ))
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    return handler


def configure_logging(level: str = "INFO", fmt: str = "text", *, console: bool = False, stream: Any = None) -> None:
    """Root logging for the process (``asnbot`` commands call it once)."""
    # In the console chat, log lines would interleave with the conversation: warnings only.
    if console and level.upper() in {"INFO", "WARNING"}:
        level = "WARNING"
    # Neither format shows the caller's file and line, thread or process: skip collecting them
    # for every record (the logging HOWTO's "Optimization" section). The per-update line is
    # written for every update, so this is CPU on the hot path.
    logging._srcfile = None  # type: ignore[attr-defined]  # noqa: SLF001 - the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level.upper())
    # aiogram logs each update at INFO (with chat ids); alembic its plugins. Our own per-update
    # line replaces the former.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
