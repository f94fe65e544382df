"""A broadcast to 20,000 linked recipients, delivered by the outbox worker (bot/sender.py) through
the real aiogram Bot to the local fake Bot API, which enforces Telegram's limits: 429 with
retry_after past 30 messages per second overall or one per second per chat, 403 for the 1 % of
chats that blocked the bot, and a 502 for one send in 250. Prints what issue 6 asks for.

    .venv/bin/python benchmarks/broadcast_20000.py [--recipients N] [--rate 30] [--phases steady,kill,term]
                                                   [--latency 0.1] [--url DATABASE_URL]

The worker runs in a child process (Telegram is not in the bot's process in production either).
The fake answers each send ``--latency`` seconds after accepting it (Telegram is some tens of
milliseconds away), so a kill finds requests on the wire.

Phases:
  steady  one worker process from start to end;
  kill    the worker runs in a child process that is killed with SIGKILL (no chance to clean up)
          when 40 % are delivered, then a new child process finishes the job;
  term    the same with SIGTERM (a deploy): the worker finishes what is on the wire first.

Figures: wall time from the confirm to the last message recorded, messages per second against the
configured limit (SEND_RATE_GLOBAL, of which the worker uses SEND_RATE_MARGIN), 429s received,
sends that arrived before a retry_after had elapsed (must be 0), duplicates (a chat given the
message twice; must be 0) and lost (a reachable recipient never given it; must be 0). After a
SIGKILL, messages whose request was on the wire are "uncertain" (not sent again); the figure says
how many of them the API had in fact received.
With --url the database (e.g. a scratch PostgreSQL) is emptied and migrated for every phase.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from bot.app import build_bot  # noqa: E402
from bot.local_api import LocalBotAPI, TelegramLimits  # noqa: E402
from bot.sender import OutboxWorker  # noqa: E402
from services import broadcast as bc  # noqa: E402
from services.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from services.models import Employee, OutboxMessage, TelegramAccount, Unit, utcnow  # noqa: E402
from tests.harness import make_settings  # noqa: E402

CHAT_BASE = 1_000_000
TOKEN = "123456:BENCHMARK"
BLOCKED_SHARE = 0.01
FAULT_EVERY = 250  # one 502 answer per this many accepted sends ("occasional", with the traffic)
KILL_AT = 0.4  # share delivered when the worker is killed


# ---- the worker as a separate process (for the kill phases) ---------------------------------------
async def worker_process(db_url: str, api_base: str, data_dir: str, rate: float) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    bot = build_bot(TOKEN, api_base)
    worker = OutboxWorker(sessions, bot, make_settings(db_url, Path(data_dir), send_rate_global=rate))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(worker.stop()))
    print("worker ready", flush=True)
    try:
        await worker.run()
    finally:
        await bot.session.close()
        await engine.dispose()


def spawn_worker(db_url: str, api_base: str, data_dir: Path, rate: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--url", db_url, "--api", api_base, "--data-dir", str(data_dir),
         "--rate", str(rate)],
        stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    child.stdout.readline()  # "worker ready": imports done, about to claim
    return child


# ---- setup -------------------------------------------------------------------------------------------
async def fresh_database(url: str | None, folder: Path, phase: str) -> str:
    if url is None:
        db_url = f"sqlite+aiosqlite:///{folder}/{phase}.db"
        engine = make_engine(db_url)
    else:
        db_url = url
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate(engine)
    await engine.dispose()
    return db_url


async def add_people(sessions: async_sessionmaker[AsyncSession], n: int) -> list[int]:
    """n linked employees in 40 OPDs; returns their chat ids."""
    now = utcnow()
    async with sessions() as s:
        s.add_all([Unit(code=f"opd-{i}", name=f"OPD {i:02d}") for i in range(40)])
        await s.commit()
        units = list((await s.scalars(select(Unit.id))).all())
        await s.execute(Employee.__table__.insert(), [
            {"nip": f"19900101201{i:07d}", "status": "PNS", "name": f"Pegawai {i}", "sex": "L",
             "birth_date": date(1990, 1, 1), "unit_id": units[i % len(units)], "active": True,
             "created_at": now, "updated_at": now} for i in range(n)
        ])
        ids = list((await s.scalars(select(Employee.id).order_by(Employee.id))).all())
        await s.execute(TelegramAccount.__table__.insert(), [
            {"telegram_user_id": CHAT_BASE + e, "chat_id": CHAT_BASE + e, "employee_id": e, "linked_at": now,
             "created_at": now, "undeliverable_since": None} for e in ids
        ])
        await s.commit()
    return [CHAT_BASE + e for e in ids]


async def pending(sessions: async_sessionmaker[AsyncSession], broadcast_id: int) -> int:
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == bc.MSG_PENDING))


async def inject_faults(api: LocalBotAPI, limits: TelegramLimits, counter: list[int]) -> None:
    while True:
        await asyncio.sleep(0.1)
        if limits.stats.delivered >= (counter[0] + 1) * FAULT_EVERY:
            api.fail_next("sendMessage", 502, "Bad Gateway")
            counter[0] += 1


# ---- one phase ---------------------------------------------------------------------------------------
async def phase(name: str, *, n: int, rate: float, url: str | None, folder: Path, latency: float) -> None:
    db_url = await fresh_database(url, folder, name)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    limits = TelegramLimits(per_second=int(rate), per_chat=1, per_group=20)
    api = LocalBotAPI(token=TOKEN, enforce_limits=limits)
    api.answer_delay = latency
    await api.start()
    settings = make_settings(db_url, folder, send_rate_global=rate)
    message = f"Sosialisasi PP 94/2021 tentang Disiplin PNS ({name})"
    try:
        chat_ids = await add_people(sessions, n)
        chats = api.open_chats(chat_ids)
        blocked = set(chat_ids[:: int(1 / BLOCKED_SHARE)])
        for chat in chats:
            if chat.user_id in blocked:
                chat.block()

        # The worker runs in its own process, as in production where Telegram is not in the bot's
        # process; it is ready and idle before the broadcast is confirmed.
        child = spawn_worker(db_url, api.base_url, folder, rate)

        faults = [0]
        injector = asyncio.create_task(inject_faults(api, limits, faults))
        t0 = time.perf_counter()
        async with sessions() as s:
            b = await bc.create(s, text=message, audience=bc.Audience(), created_by_label="benchmark", ack=True)
            await bc.confirm(s, b.id, actor="benchmark")
            await s.commit()
        confirm_took = time.perf_counter() - t0

        killed_at = None
        if name in ("kill", "term"):
            while limits.stats.delivered < KILL_AT * n:
                await asyncio.sleep(0.05)
            child.send_signal(signal.SIGKILL if name == "kill" else signal.SIGTERM)
            # Not child.wait(): that would block this event loop, which is Telegram's (the fake), and
            # a worker finishing its sends after SIGTERM would wait for answers that cannot come.
            await asyncio.to_thread(child.wait)
            killed_at = limits.stats.delivered
            child = spawn_worker(db_url, api.base_url, folder, rate)
        while await pending(sessions, b.id):
            await asyncio.sleep(0.5)
        wall = time.perf_counter() - t0
        injector.cancel()

        child.send_signal(signal.SIGTERM)
        await asyncio.to_thread(child.wait, 60)

        async with sessions() as s:
            t = await bc.tally(s, b.id)
        async with sessions() as s:
            in_doubt = set((await s.scalars(select(OutboxMessage.chat_id).where(
                OutboxMessage.broadcast_id == b.id, OutboxMessage.status == bc.MSG_UNCERTAIN))).all())
        got = [sum(m.text == message for m in chat.messages) for chat in chats]
        doubt_reached = sum(g > 0 for chat, g in zip(chats, got) if chat.user_id in in_doubt)
        duplicates = sum(g > 1 for g in got)
        twice = [chat.user_id for chat, g in zip(chats, got) if g > 1]
        if twice:  # what the outbox recorded for them: the way to find why
            async with sessions() as s:
                for row in (await s.execute(select(
                        OutboxMessage.chat_id, OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error,
                        OutboxMessage.send_started_at, OutboxMessage.sent_at).where(
                        OutboxMessage.broadcast_id == b.id, OutboxMessage.chat_id.in_(twice[:10])))).all():
                    print("sent twice:", tuple(row))
        lost = sum(g == 0 for chat, g in zip(chats, got) if chat.user_id not in blocked)
        attempts = t.delivered + t.blocked  # sends Telegram accepted or refused with 403
        per_s = attempts / wall
        target = rate * settings.send_rate_margin
        print(f"\n== {name}: {n} linked recipients ({len(blocked)} blocked the bot), limit {rate:g}/s, "
              f"worker margin {settings.send_rate_margin:g}, API latency {latency * 1000:g} ms")
        if killed_at is not None:
            print(f"worker {'SIGKILL' if name == 'kill' else 'SIGTERM'} after {killed_at} deliveries, new process started")
        print(f"confirm (snapshot + outbox rows): {confirm_took:.2f} s")
        print(f"wall time: {wall:.1f} s")
        print(f"messages per second: {per_s:.2f} = {100 * per_s / rate:.1f} % of SEND_RATE_GLOBAL {rate:g} "
              f"({100 * per_s / target:.1f} % of the worker's target {target:g})")
        print(f"delivered {t.delivered}, blocked (403) {t.blocked}, failed {t.failed}, pending {t.pending}, "
              f"uncertain {t.uncertain} (on the wire at the kill; {doubt_reached} of them reached the API); "
              f"502 injected {faults[0]}")
        st = limits.stats
        print(f"429s received: {st.too_many_requests} (bot-wide window full {st.overall_refusals}, "
              f"a chat's window full {st.chat_refusals}, sent early {st.early_sends})")
        print(f"sends before retry_after elapsed: {st.early_sends} ({st.early_overall} during a bot-wide wait)")
        print(f"duplicates: {duplicates} (API saw {limits.stats.duplicates})")
        print(f"lost: {lost}")
    finally:
        await api.stop()
        await engine.dispose()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}"


async def run(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.phases.split(","):
            await phase(name.strip(), n=args.recipients, rate=args.rate, url=args.url, folder=Path(tmp),
                        latency=args.latency)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipients", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=30.0, help="Telegram's global limit (messages per second)")
    ap.add_argument("--phases", default="steady,kill,term", help="steady, kill, term (comma separated)")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds the fake takes to answer a send")
    ap.add_argument("--url", help="database URL (emptied!) instead of temporary SQLite files")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--api", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(worker_process(args.url, args.api, args.data_dir, args.rate))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
