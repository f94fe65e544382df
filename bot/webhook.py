"""Webhook mode, and the operations endpoints of both modes.

``asnbot run --webhook`` (or WEBHOOK_URL set) serves, on WEBHOOK_HOST:WEBHOOK_PORT:

* WEBHOOK_PATH - Telegram's updates, through aiogram's SimpleRequestHandler. A request without
  the right X-Telegram-Bot-Api-Secret-Token is refused (401). Updates are answered at once and
  processed in the background, so a slow step never makes Telegram resend.
* /healthz - the process is alive (no dependency checked: a restart would not fix one).
* /readyz - the database answers, Redis answers (when configured) and the schema is at the
  migrations' head; 503 otherwise, so a load balancer stops sending to this instance.
* /metrics - Prometheus (bot/metrics.py).

In polling mode METRICS_PORT serves the last three alone.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from bot.app import App
from bot.metrics import refresh_db_metrics
from services.db import migrations_current

log = logging.getLogger("asnbot.webhook")

CHECK_TIMEOUT = 3.0  # seconds for each readiness check
SCHEMA_CACHE_SECONDS = 30.0  # the schema changes only on deploys: check it at most this often
DRAIN_SECONDS = 20.0  # on shutdown, updates already accepted get this long to finish


# ---- operations endpoints ------------------------------------------------------------------
class Ops:
    def __init__(self, app: App) -> None:
        self.app = app
        self._schema_checked = 0.0
        self._schema_ok = False
        self._schema_engine: Any = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {"database": await self._check(self._database)}
        if checks["database"]:
            checks["migrations"] = await self._check(self._migrations)
        redis = getattr(self.app.storage, "redis", None)
        if redis is not None:
            checks["redis"] = await self._check(lambda: redis.ping())
        ready = all(checks.values())
        return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                                 status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        await refresh_db_metrics(self.app.sessions)
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    async def _check(probe: Any) -> bool:
        try:
            result = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness check failed", exc_info=True)
            return False
        return result is not False

    async def _database(self) -> bool:
        async with self.app.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def _migrations(self) -> bool:
        now, engine = time.monotonic(), self.app.engine
        stale = now - self._schema_checked > SCHEMA_CACHE_SECONDS or engine is not self._schema_engine
        if stale or not self._schema_ok:
            self._schema_ok = await migrations_current(engine)
            self._schema_checked, self._schema_engine = now, engine
        return self._schema_ok

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get("/healthz", self.healthz)
        web_app.router.add_get("/readyz", self.readyz)
        web_app.router.add_get("/metrics", self.metrics)


def ops_application(app: App) -> web.Application:
    web_app = web.Application()
    Ops(app).add_routes(web_app)
    return web_app


# ---- webhook -------------------------------------------------------------------------------
def webhook_application(app: App, bot: Bot) -> web.Application:
    settings = app.settings
    web_app = web.Application()
    handler = SimpleRequestHandler(
        app.dispatcher, bot, handle_in_background=True, secret_token=settings.webhook_secret_token)

    async def drain(_: web.Application) -> None:
        # Before the bot's session closes (registered first): let accepted updates finish.
        tasks = set(getattr(handler, "_background_feed_update_tasks", ()))
        if tasks:
            log.info("waiting for %d updates in progress", len(tasks))
            await asyncio.wait(tasks, timeout=DRAIN_SECONDS)

    web_app.on_shutdown.append(drain)
    handler.register(web_app, path=settings.webhook_route)
    Ops(app).add_routes(web_app)
    setup_application(web_app, app.dispatcher, bot=bot)
    return web_app


@dataclass
class Server:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(web_app: web.Application, host: str, port: int) -> Server:
    """Start serving ``web_app``; port 0 picks a free port (tests)."""
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=DRAIN_SECONDS)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        await runner.cleanup()
        raise
    await web.SockSite(runner, sock, backlog=1024).start()
    bound_host, bound_port = sock.getsockname()[:2]
    return Server(runner, bound_host, bound_port)


async def register_webhook(app: App, bot: Bot, url: str) -> None:
    """setWebhook with the secret; every instance may call it (the same values each time)."""
    await bot.set_webhook(
        url,
        secret_token=app.settings.webhook_secret_token,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
        max_connections=app.settings.webhook_max_connections,
        drop_pending_updates=False,
    )


async def start_webhook(app: App, bot: Bot, *, url: str | None = None, host: str | None = None,
                        port: int | None = None, register: bool = True) -> Server:
    """Serve the webhook (and /healthz, /readyz, /metrics), then register it with Telegram:
    only once this instance can take updates."""
    s = app.settings
    server = await serve(webhook_application(app, bot), host or s.webhook_host,
                         s.webhook_port if port is None else port)
    if register:
        try:
            await register_webhook(app, bot, url or s.webhook_url or "")
        except BaseException:
            await server.stop()
            raise
    return server


async def start_ops_server(app: App, host: str, port: int) -> Server:
    return await serve(ops_application(app), host, port)


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def run_webhook(app: App, bot: Bot) -> None:
    """Until SIGINT/SIGTERM: then stop taking requests, finish the accepted ones, shut down."""
    s = app.settings
    server = await start_webhook(app, bot)
    log.info("webhook served on %s:%d%s for %s", server.host, server.port, s.webhook_route, s.webhook_url)
    try:
        await wait_for_signal()
    finally:
        await server.stop()
