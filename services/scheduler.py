"""In-process daily jobs (the reminders), run once per day across every instance of the bot.

APScheduler's AsyncIOScheduler fires each job at a local time of day (a cron trigger in the
configured time zone, so no separate cron is needed). Which instance actually runs a day's job
is decided in the database: the first to insert the JobRun row (job, period) wins, the unique key
makes the others skip. On start, a job whose time has already passed today and that has not run
is caught up at once (the bot was down at that hour, or started later).

A run that fails gives its claim back and is retried later the same day; a run whose instance
died mid-way (no finish recorded) is taken over once `stale_after` has passed. The jobs
themselves must therefore be safe to run again (the reminders are: once per event).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import JobRun, utcnow

log = logging.getLogger(__name__)

DailyFn = Callable[[date], Awaitable[dict[str, Any]]]


def parse_time_of_day(value: str) -> time | None:
    """"07:00" (or "07:00:30") -> time; empty -> None (the scheduler is off)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"time of day must look like 07:00, got {value!r}") from None


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- once per period, across instances ------------------------------------------------------
async def claim(sessions: async_sessionmaker[AsyncSession], job: str, period: str, *, instance: str,
                now: datetime | None = None, stale_after: timedelta = timedelta(minutes=30)) -> int | None:
    """Take the run of `job` for `period`: the JobRun id, or None when another instance has
    it (running, or done). An unfinished run older than `stale_after` is taken over."""
    now = now or utcnow()
    async with sessions() as s:
        try:
            async with s.begin_nested():
                row = JobRun(job=job, period=period, started_at=now, instance=instance, result={})
                s.add(row)
            await s.commit()
            return row.id
        except IntegrityError:
            await s.rollback()
        existing = await s.scalar(select(JobRun).where(JobRun.job == job, JobRun.period == period))
        if existing is None or existing.finished_at is not None or existing.started_at > now - stale_after:
            return None
        # Compare-and-set on started_at: of several instances taking over, one wins.
        taken = await s.execute(update(JobRun).where(
            JobRun.id == existing.id, JobRun.finished_at.is_(None), JobRun.started_at == existing.started_at,
        ).values(started_at=now, instance=instance))
        await s.commit()
        if taken.rowcount != 1:
            return None
        log.warning("job %s %s: taking over the unfinished run of %s", job, period, existing.instance)
        return existing.id


async def finish(sessions: async_sessionmaker[AsyncSession], run_id: int, result: dict[str, Any]) -> None:
    async with sessions() as s:
        await s.execute(update(JobRun).where(JobRun.id == run_id).values(finished_at=utcnow(), result=result))
        await s.commit()


async def release(sessions: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """Give an unfinished claim back (the run failed) so the job can run again today."""
    async with sessions() as s:
        await s.execute(delete(JobRun).where(JobRun.id == run_id, JobRun.finished_at.is_(None)))
        await s.commit()


async def run_once(sessions: async_sessionmaker[AsyncSession], job: str, period: str,
                   fn: Callable[[], Awaitable[dict[str, Any]]], *, instance: str | None = None,
                   stale_after: timedelta = timedelta(minutes=30)) -> dict[str, Any] | None:
    """Run `fn` for this period unless some instance has (or is running it). Returns its
    result, or None when skipped. If `fn` raises, the claim is given back and the error raised."""
    run_id = await claim(sessions, job, period, instance=instance or instance_name(), stale_after=stale_after)
    if run_id is None:
        return None
    try:
        result = await fn()
    except BaseException:
        await asyncio.shield(release(sessions, run_id))
        raise
    await finish(sessions, run_id, result)
    return result


async def last_runs(sessions: async_sessionmaker[AsyncSession], job: str, limit: int = 7) -> list[JobRun]:
    async with sessions() as s:
        return list((await s.scalars(select(JobRun).where(JobRun.job == job)
                                     .order_by(JobRun.period.desc()).limit(limit))).all())


# ---- the daily scheduler ------------------------------------------------------------------------
@dataclass
class _Job:
    name: str
    fn: DailyFn


class DailyScheduler:
    """Runs each added job once a day at `at` (local time in `zone`), on one instance only."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, zone: ZoneInfo, at: time,
                 instance: str | None = None, retry_after: timedelta = timedelta(minutes=15),
                 stale_after: timedelta = timedelta(minutes=30)) -> None:
        self.sessions, self.zone, self.at = sessions, zone, at
        self.instance = instance or instance_name()
        self.retry_after, self.stale_after = retry_after, stale_after
        self.jobs: list[_Job] = []
        self.results: dict[str, dict[str, Any] | None] = {}  # last outcome per job (None: skipped)
        self._scheduler = AsyncIOScheduler(timezone=zone)
        self._running: set[asyncio.Task[Any]] = set()

    def add_daily(self, name: str, fn: DailyFn) -> None:
        self.jobs.append(_Job(name, fn))

    def start(self, *, catch_up: bool = True) -> None:
        """Start firing (needs a running event loop). With `catch_up`, a job whose time has
        passed today runs now unless some instance ran it already."""
        trigger = CronTrigger(hour=self.at.hour, minute=self.at.minute, second=self.at.second, timezone=self.zone)
        for job in self.jobs:
            # A late tick (busy loop, suspended machine) still runs within the hour, only once.
            self._scheduler.add_job(self._attempt, trigger, args=[job], id=f"daily:{job.name}",
                                    misfire_grace_time=3600, coalesce=True, max_instances=1)
        self._scheduler.start()
        if catch_up and datetime.now(self.zone).time() >= self.at:
            for job in self.jobs:
                self._scheduler.add_job(self._attempt, DateTrigger(datetime.now(self.zone), timezone=self.zone),
                                        args=[job], misfire_grace_time=3600)

    async def shutdown(self) -> None:
        """Stop firing; a run in progress is cancelled (its claim is given back, so another
        instance or the next start runs it again) and awaited."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = [t for t in self._running if not t.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _attempt(self, job: _Job) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        today = datetime.now(self.zone).date()
        try:
            result = await run_once(self.sessions, job.name, today.isoformat(), lambda: job.fn(today),
                                    instance=self.instance, stale_after=self.stale_after)
        except Exception:  # noqa: BLE001 - logged; retried later today
            log.exception("daily job %s failed; retrying in %s", job.name, self.retry_after)
            self._retry(job, today)
            return
        self.results[job.name] = result
        if result is None:
            log.info("daily job %s for %s: already done or running elsewhere", job.name, today)
            # If the other instance dies mid-run, its claim goes stale: look again later today.
            self._retry(job, today, only_if_unfinished=True)
        else:
            log.info("daily job %s for %s: %s", job.name, today, result)

    def _retry(self, job: _Job, today: date, *, only_if_unfinished: bool = False) -> None:
        when = datetime.now(self.zone) + (self.stale_after if only_if_unfinished else self.retry_after)
        if when.date() != today:
            return
        fn = self._recheck if only_if_unfinished else self._attempt
        self._scheduler.add_job(fn, DateTrigger(when, timezone=self.zone), args=[job], misfire_grace_time=3600)

    async def _recheck(self, job: _Job) -> None:
        async with self.sessions() as s:
            run = await s.scalar(select(JobRun).where(
                JobRun.job == job.name, JobRun.period == datetime.now(self.zone).date().isoformat()))
        if run is None or run.finished_at is None:
            await self._attempt(job)
