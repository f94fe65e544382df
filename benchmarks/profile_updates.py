"""Where asnbot's CPU per update goes (issue 7): one update at a time, in this process.

    .venv/bin/python benchmarks/profile_updates.py [--db sqlite|pg] [--n 3000] [--kinds kb,form,menu]
        [--echo] [--cprofile FILE] [--top 40]

The load benchmark (benchmarks/load_webhook.py) gives the rate, but its figures mix the bot with
the load generator and the fake Bot API on the same two cores. This script isolates the bot:
updates are fed to the real Dispatcher (``feed_raw_update``, as the webhook handler does after
reading the request) one after another, and the Bot's session serialises each request and parses
an answer like aiogram's aiohttp session does, without a network in between (the answer is what
Telegram would return: the sent message). Redis (conversation state, per-user lock, rate limit)
and the database are real, as are the middlewares, JSON logging and the handlers.

It prints the CPU time per update for each kind (the same mix and users as the load benchmark:
knowledge-base questions, cuti form steps, menu/status) and, with ``--echo``, the same for a bare
aiogram echo dispatcher, so the ratio can be read without the harness. ``--cprofile FILE`` writes
a cProfile of the mixed run and prints the top functions by own time and by cumulative time.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import load_webhook as lw  # noqa: E402

from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.client.default import DefaultBotProperties  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.enums import ParseMode  # noqa: E402
from aiogram.methods import TelegramMethod  # noqa: E402
from aiogram.types import Message  # noqa: E402

from bot.app import CountApiCalls, KeepResponseTypes, create_app  # noqa: E402
from bot.cli import run_async  # noqa: E402
from bot.live import settle_heap  # noqa: E402
from bot.observability import configure_logging  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers import texts  # noqa: E402
from handlers import texts_cuti as tc  # noqa: E402

RETURNS_MESSAGE = {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageReplyMarkup",
                   "editMessageCaption"}


class LoopbackSession(AiohttpSession):
    """Builds each request as the aiohttp session does and parses a canned Telegram answer."""

    def __init__(self) -> None:
        super().__init__()
        self.message_id = 1000
        self.markup: dict[int, list[list[dict[str, Any]]]] = {}  # chat -> last inline keyboard
        self.texts: dict[int, list[str]] = {}  # chat -> texts sent since the last update (see run)

    async def close(self) -> None:
        return None

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        form = self.build_form_data(bot=bot, method=method)
        fields = {}
        for part in form._fields:  # (options, headers, value)
            fields[part[0]["name"]] = part[2]
        name = method.__api_method__
        if name in RETURNS_MESSAGE:
            chat = int(fields.get("chat_id", 0))
            self.message_id += 1
            text = fields.get("text") or fields.get("caption") or ""
            if isinstance(text, str):
                self.texts.setdefault(chat, []).append(text)
            markup = fields.get("reply_markup")
            if isinstance(markup, str):
                keyboard = json.loads(markup).get("inline_keyboard")
                if keyboard:
                    self.markup[chat] = keyboard
            result: Any = {"message_id": int(fields.get("message_id") or self.message_id), "date": int(time.time()),
                           "chat": {"id": chat, "type": "private"}, "text": text if isinstance(text, str) else ""}
        elif name == "getMe":
            result = {"id": 123456, "is_bot": True, "first_name": "asnbot", "username": "asnbot_bench_bot"}
        else:
            result = True
        content = json.dumps({"ok": True, "result": result})
        return self.check_response(bot=bot, method=method, status_code=200, content=content).result


class Driver:
    """The users of the load benchmark, one update at a time."""

    def __init__(self, session: LoopbackSession, user_ids: list[int], kinds: list[str]) -> None:
        self.session = session
        self.update_id = 1
        self.kinds = kinds
        self.users = {"kb": user_ids[:280], "form": user_ids[280:360], "menu": user_ids[360:400]}
        self.form_step: dict[int, int] = {}
        self.form_steps = [
            ("send", texts.MENU_CUTI), ("press", tc.KIND_BUTTONS["tahunan"]), ("send", lw.cuti_dates(date.today())),
            ("press", tc.BTN_NEXT), ("press", tc.BTN_NO), ("send", "Keperluan keluarga"), ("send", "/batal"),
        ]
        self.i = 0

    def _message(self, uid: int, text: str) -> dict[str, Any]:
        self.session.message_id += 1
        return {"message_id": self.session.message_id, "date": int(time.time()), "text": text,
                "chat": {"id": uid, "type": "private", "first_name": "Uji"},
                "from": {"id": uid, "is_bot": False, "first_name": "Uji"}}

    def _press(self, uid: int, label: str) -> dict[str, Any] | None:
        for row in self.session.markup.get(uid, []):
            for button in row:
                if button.get("text") == label and "callback_data" in button:
                    return {"id": str(self.update_id), "chat_instance": "1", "data": button["callback_data"],
                            "from": {"id": uid, "is_bot": False, "first_name": "Uji"},
                            "message": {"message_id": self.session.message_id, "date": int(time.time()),
                                        "chat": {"id": uid, "type": "private"}, "text": "x"}}
        return None

    def next(self) -> tuple[str, dict[str, Any]]:
        kind = self.kinds[self.i % len(self.kinds)]
        pool = self.users[kind]
        uid = pool[(self.i // len(self.kinds)) % len(pool)]
        self.i += 1
        self.update_id += 1
        if kind == "kb":
            return kind, {"update_id": self.update_id, "message": self._message(uid, lw.QUESTIONS[self.i % len(lw.QUESTIONS)])}
        if kind == "menu":
            choice = [texts.MENU_STATUS, texts.MENU_PROFIL, "/start"][self.i % 3]
            return kind, {"update_id": self.update_id, "message": self._message(uid, choice)}
        step = self.form_step.get(uid, 0)
        self.form_step[uid] = (step + 1) % len(self.form_steps)
        action, arg = self.form_steps[step]
        if action == "press":
            query = self._press(uid, arg)
            if query is None:  # out of step: start over
                self.form_step[uid] = 0
                return kind, {"update_id": self.update_id, "message": self._message(uid, "/batal")}
            return kind, {"update_id": self.update_id, "callback_query": query}
        return kind, {"update_id": self.update_id, "message": self._message(uid, arg)}


def mix(spec: str) -> list[str]:
    """'kb,form,menu' with weights 7:2:1 for the default mix; a single kind repeats it."""
    names = spec.split(",")
    if names == ["kb", "form", "menu"]:
        return ["kb"] * 7 + ["form"] * 2 + ["menu"]
    return names


async def run(dp: Dispatcher, bot: Bot, driver: Driver, n: int, warmup: int) -> dict[str, float]:
    per_kind: dict[str, list[float]] = {}
    for i in range(warmup + n):
        kind, update = driver.next()
        t0 = time.process_time()
        await dp.feed_raw_update(bot, update)
        driver.session.texts.clear()
        if i >= warmup:
            per_kind.setdefault(kind, []).append(time.process_time() - t0)
    return {k: 1000 * sum(v) / len(v) for k, v in per_kind.items()}


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "ok")

    return dp


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="asnbot-prof-"))
    if args.db == "pg":
        db_url = await lw.fresh_postgres(args.pg_admin_url, "asnbot_prof")
    else:
        db_url = f"sqlite+aiosqlite:///{work / 'bot.db'}"
    await lw.clear_redis()
    print(f"seeding {lw.EMPLOYEES} employees ({args.db}) ...", flush=True)
    user_ids = await lw.prepare_database(db_url)
    os.environ.update({"DATABASE_URL": db_url, "VERIFICATION_KEY": lw.KEY, "REDIS_URL": lw.REDIS_URL,
                       "REDIS_KEY_PREFIX": lw.REDIS_PREFIX, "RATE_LIMIT_PER_MINUTE": "1000000",
                       "QUIET_HOURS": "", "REMINDER_TIME": "", "OUTBOX_WORKER": "false",
                       "DATA_DIR": str(work / "var"), "KB_WATCH_SECONDS": "0"})
    settings = load_settings()
    log_file = open(work / "bot.log", "w")  # noqa: SIM115 - JSON logs at INFO, as in production
    configure_logging("INFO", "json", stream=log_file)
    app = await create_app(settings)
    app.knowledge.freeze_heap = True
    settle_heap()  # as `asnbot run` does: the start-up heap out of the collector's full passes
    session = LoopbackSession()
    session.middleware(KeepResponseTypes())
    session.middleware(CountApiCalls())
    bot = Bot(lw.TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    await app.dispatcher.emit_startup(bot=bot, dispatcher=app.dispatcher, **app.dispatcher.workflow_data)
    kinds = mix(args.kinds)
    print(f"CPU ms per update, {args.n} updates after {args.warmup} warm-up ({args.db}):")
    for kind in [] if args.skip_alone else sorted(set(kinds)):
        figures = await run(app.dispatcher, bot, Driver(session, user_ids, [kind]), args.n // 2, args.warmup)
        print(f"  {kind:5s} alone: {figures[kind]:6.2f}")
    driver = Driver(session, user_ids, kinds)
    profiler = cProfile.Profile() if args.cprofile else None
    spy = None
    if args.py_spy:  # sampling profile of the mixed run only (collapsed stacks, as py-spy's "raw")
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(os.getpid()),
                                "-r", "250", "-f", "raw", "-o", args.py_spy, "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(2)
    t0 = time.process_time()
    if profiler:
        profiler.enable()
    figures = await run(app.dispatcher, bot, driver, args.n, args.warmup)
    if profiler:
        profiler.disable()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    total = 1000 * (time.process_time() - t0) / (args.n + args.warmup)
    print(f"  mix {args.kinds}: {total:6.2f} ({', '.join(f'{k} {v:.2f}' for k, v in sorted(figures.items()))})"
          + ("  [under cProfile]" if profiler else ""))
    if args.echo:
        edp, ebot_session = echo_dispatcher(), LoopbackSession()
        ebot = Bot(lw.TOKEN, session=ebot_session)
        efig = await run(edp, ebot, Driver(ebot_session, user_ids, ["kb"]), args.n, args.warmup)
        print(f"  echo dispatcher: {efig['kb']:6.2f}")
    await app.dispatcher.emit_shutdown(bot=bot, dispatcher=app.dispatcher, **app.dispatcher.workflow_data)
    await app.close()
    if profiler:
        profiler.dump_stats(args.cprofile)
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "pg"], default="pg")
    p.add_argument("--pg-admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--kinds", default="kb,form,menu")
    p.add_argument("--echo", action="store_true")
    p.add_argument("--cprofile")
    p.add_argument("--py-spy", metavar="FILE", help="py-spy record the mixed run (raw collapsed stacks)")
    p.add_argument("--skip-alone", action="store_true", help="only the mixed run")
    p.add_argument("--top", type=int, default=40)
    run_async(main(p.parse_args()), os.environ.get("EVENT_LOOP", "uvloop"))  # as `asnbot run` does
