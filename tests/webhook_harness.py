"""The real asnbot in webhook mode, fed by the local Bot API over HTTP: in this process
(``start_webhook_bot``) or as separate ``asnbot run --webhook`` processes (``BotProcess``), as
it runs in production behind a reverse proxy."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiogram import Bot

from bot.app import App, build_bot, create_app
from bot.local_api import LocalBotAPI
from bot.settings import Settings
from bot.webhook import Server, start_webhook
from tests.harness import make_settings, shared_knowledge

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://asnbot.test/telegram/webhook"  # what Telegram would be told; never resolved
SECRET = "test-webhook-secret_1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"webhook_url": PUBLIC_URL, "webhook_secret": SECRET}
    values.update(overrides)
    return make_settings(db_url, data_dir, **values)


@dataclass
class WebhookBot:
    app: App
    bot: Bot
    server: Server

    @property
    def url(self) -> str:
        """Where this instance takes updates (what the reverse proxy forwards to)."""
        return self.server.base_url + self.app.settings.webhook_route

    async def stop(self) -> None:
        await self.server.stop()  # drains updates in progress, closes the bot's session
        await self.app.close()


async def start_webhook_bot(settings: Settings, api: LocalBotAPI, *, route: bool = True) -> WebhookBot:
    """asnbot serving its webhook on a free local port and registered with the fake API, which
    (``route``) delivers every update to it."""
    knowledge = shared_knowledge() if settings.kb_dir is None else None
    app = await create_app(settings, knowledge=knowledge)
    bot = build_bot(api.token, api.base_url)
    server = await start_webhook(app, bot, host="127.0.0.1", port=0)
    if route:
        api.load_balance([server.base_url])
    return WebhookBot(app, bot, server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BotProcess:
    """``asnbot run --webhook`` in its own process (its own interpreter, memory and event loop:
    it shares nothing with the test but the database, Redis and the fake Bot API)."""

    env: dict[str, str]
    workdir: Path
    name: str = "bot"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        env = {**self.env, "WEBHOOK_HOST": "127.0.0.1", "WEBHOOK_PORT": str(self.port)}
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        # cwd: an empty folder, so no developer's .env is read.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--webhook"], cwd=self.workdir, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.base_url + "/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout}s:\n{self.output()[-3000:]}")

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.base_url + path) as r:
            return r.status, await r.text()

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)  # graceful: drain, shut down
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def process_env(api: LocalBotAPI, db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for ``asnbot run --webhook`` against the fake Bot API."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE": api.base_url,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(data_dir),
        "VERIFICATION_KEY": "test-verification-key",
        "WEBHOOK_URL": PUBLIC_URL,
        "WEBHOOK_SECRET": SECRET,
        "KB_WATCH_SECONDS": "0",
        "QUIET_HOURS": "",
        "LOG_FORMAT": "json",
    }
    env.update(extra)
    return env


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
