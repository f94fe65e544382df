"""Webhook mode end to end: the fake Bot API POSTs updates to the real bot's aiohttp server
with the secret header, as Telegram does; health, readiness, metrics, logs and abuse limits are
checked over HTTP on the same server."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.local_api import LocalBotAPI
from bot.metrics import refresh_db_metrics
from bot.observability import REDACTED, make_handler
from handlers import texts
from services.db import make_engine
from services.importer import import_pegawai
from services.models import Broadcast, BroadcastRecipient, Employee, OutboxMessage, utcnow
from tests.conftest import SAMPLE_CSV
from tests.webhook_harness import (
    PUBLIC_URL,
    SECRET,
    SECRET_HEADER,
    WebhookBot,
    metric_value,
    start_webhook_bot,
    webhook_settings,
)

KGB_QUESTION = "apa syarat kenaikan gaji berkala?"


@pytest.fixture
async def hook_api() -> AsyncIterator[LocalBotAPI]:
    server = LocalBotAPI(deliver_webhooks=True)
    await server.start()
    yield server
    await server.stop()


async def _start(db_url: str, tmp_path: Path, api: LocalBotAPI, **overrides: Any) -> WebhookBot:
    settings = webhook_settings(db_url, tmp_path, outbox_worker=False, **overrides)
    wb = await start_webhook_bot(settings, api)
    report = await import_pegawai(wb.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    assert report.applied
    return wb


@pytest.fixture
async def hook(db_url: str, tmp_path: Path, hook_api: LocalBotAPI) -> AsyncIterator[WebhookBot]:
    wb = await _start(db_url, tmp_path, hook_api)
    yield wb
    await wb.stop()


def update_json(update_id: int, kind: str, user_id: int, **body: Any) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Uji"}
    chat = {"id": user_id, "type": "private", "first_name": "Uji"}
    if kind == "inline_query":
        payload = {"id": "77", "from": user, "query": "cuti", "offset": ""}
    elif kind == "channel_post":
        payload = {"message_id": 5, "chat": {"id": -1001, "type": "channel", "title": "Kanal"}, "date": 0,
                   "text": "halo"}
    else:
        payload = {"message_id": 5, "from": user, "chat": chat, "date": 0, "text": "halo", **body}
        if kind == "edited_message":
            payload["edit_date"] = 1
    return {"update_id": update_id, kind: payload}


async def post(url: str, payload: dict[str, Any], secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, json=payload, headers=headers) as r:
        await r.read()
        return r.status


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, await r.text()


async def quiet_for(api: LocalBotAPI, user_id: int, seconds: float) -> bool:
    """True if the bot sent nothing to ``user_id`` for ``seconds``."""
    before = len(api.calls)
    await asyncio.sleep(seconds)
    return not [p for _, p in api.calls[before:] if str(p.get("chat_id")) == str(user_id)]


# ---- the webhook path ------------------------------------------------------------------------
async def test_registers_webhook_with_secret_and_serves_updates(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    registered = hook_api.calls_of("setWebhook")[-1]
    assert registered["url"] == PUBLIC_URL and registered["secret_token"] == SECRET
    assert set(registered["allowed_updates"]) == {"message", "callback_query"}
    replies = await hook_api.user(6001).send("/start")
    assert "tautkan" in replies[-1].text.lower()
    assert hook_api.webhook_posts == 1 and hook_api.calls_of("getUpdates") == []


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_request_without_the_right_secret_is_refused(hook: WebhookBot, hook_api: LocalBotAPI,
                                                           secret: str | None) -> None:
    hook_api.open_chats([6002])
    status = await post(hook.url, update_json(900, "message", 6002, text="/start"), secret)
    assert status in (401, 403)
    assert await quiet_for(hook_api, 6002, 0.5), "a refused update was processed"
    # The same update with the right secret is taken.
    assert await post(hook.url, update_json(901, "message", 6002, text="/start"), SECRET) == 200
    await hook_api.user(6002).wait_for(lambda m: "tautkan" in m.text.lower())


async def test_answers_at_once_and_works_in_the_background(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    # Hold the bot's reply inside the fake API: the webhook must have answered long before.
    name, send_message = hook_api._methods["sendmessage"]
    release = asyncio.Event()

    async def held(params: dict[str, Any]) -> Any:
        await release.wait()
        return send_message(params)

    hook_api._methods["sendmessage"] = (name, held)
    hook_api.open_chats([6003])
    started = time.perf_counter()
    assert await post(hook.url, update_json(902, "message", 6003, text="/start"), SECRET) == 200
    answered_in = time.perf_counter() - started
    assert hook_api.user(6003).messages == []  # the handler has not finished
    release.set()
    await hook_api.user(6003).wait_for(lambda m: "tautkan" in m.text.lower())
    assert answered_in < 0.5


# ---- health and readiness --------------------------------------------------------------------
async def test_healthz_and_readyz(hook: WebhookBot, tmp_path: Path) -> None:
    base = hook.server.base_url
    assert (await get(base + "/healthz"))[0] == 200
    status, body = await get(base + "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"] == {"database": True, "migrations": True}

    # Database unreachable (nothing listens on port 1): not ready, while still alive.
    real = hook.app.engine
    hook.app.engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/asnbot")
    try:
        status, body = await get(base + "/readyz")
        assert status == 503 and json.loads(body)["checks"]["database"] is False
        assert (await get(base + "/healthz"))[0] == 200
        # Reachable but not migrated: not ready either.
        await hook.app.engine.dispose()
        hook.app.engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        status, body = await get(base + "/readyz")
        assert status == 503 and json.loads(body)["checks"] == {"database": True, "migrations": False}
    finally:
        await hook.app.engine.dispose()
        hook.app.engine = real
    assert (await get(base + "/readyz"))[0] == 200


async def test_a_burst_beyond_the_redis_pool_waits_instead_of_failing(db_url: str, tmp_path: Path,
                                                                      hook_api: LocalBotAPI, redis_prefix: str) -> None:
    from tests.conftest import REDIS_TEST_URL

    wb = await _start(db_url, tmp_path, hook_api, redis_url=REDIS_TEST_URL, redis_key_prefix=redis_prefix,
                      redis_max_connections=2)
    try:
        users = range(6100, 6116)
        replies = await asyncio.gather(*(hook_api.user(u).send("/start") for u in users))
        # Sixteen updates at once against two connections: each still gets its own answer.
        assert ["tautkan" in r[-1].text.lower() if r else None for r in replies] == [True] * len(users)
    finally:
        await wb.stop()


# ---- metrics ---------------------------------------------------------------------------------
async def test_metrics_move_with_updates(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    url = hook.server.base_url + "/metrics"
    status, before = await get(url)
    assert status == 200
    await hook_api.user(6004).send(KGB_QUESTION)
    _, after = await get(url)

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert grew("asnbot_updates_total", kind="message", outcome="handled") == 1
    assert grew("asnbot_update_seconds_count", kind="message") == 1
    assert grew("asnbot_kb_outcomes_total", outcome="answer") == 1
    assert grew("asnbot_bot_api_requests_total", method="sendMessage", result="ok") >= 1
    assert metric_value(after, "asnbot_metrics_db_up") == 1
    assert "asnbot_outbox_backlog" in after and "asnbot_telegram_429_total" in after


async def test_pooled_database_connections_are_reused(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    url = hook.server.base_url + "/metrics"
    user = hook_api.user(6006)
    await user.send("/start")  # the menu reads the person's link: a database connection
    _, first = await get(url)
    for _ in range(3):
        await user.send("/start")
    _, after = await get(url)
    assert metric_value(first, "asnbot_db_connections_opened_total") >= 1
    # One update at a time fits the pool: nothing is opened again.
    assert metric_value(after, "asnbot_db_connections_opened_total") == \
        metric_value(first, "asnbot_db_connections_opened_total")


async def test_429_is_counted(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    url = hook.server.base_url + "/metrics"
    _, before = await get(url)
    hook_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await hook_api.user(6005).send("/start")  # the first reply gets the 429 (and the error notice follows)
    _, after = await get(url)
    assert metric_value(after, "asnbot_telegram_429_total", method="sendMessage") - \
        metric_value(before, "asnbot_telegram_429_total", method="sendMessage") == 1


async def test_outbox_backlog_and_broadcast_progress_from_the_database(sessions) -> None:  # noqa: ANN001
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    async with sessions() as s:
        employees = list((await s.execute(select(Employee).order_by(Employee.id).limit(3))).scalars())
        b = Broadcast(created_by_label="cli:test", text="Edaran", status="sending")
        s.add(b)
        await s.flush()
        later = utcnow() + timedelta(hours=1)
        sent = OutboxMessage(dedupe_key="t:1", chat_id=1, payload={"text": "x"}, status="sent", broadcast_id=b.id)
        waiting = OutboxMessage(dedupe_key="t:2", chat_id=2, payload={"text": "x"}, urgent=False,
                                broadcast_id=b.id, not_before=later)
        overdue = OutboxMessage(dedupe_key="t:3", chat_id=3, payload={"text": "x"},
                                not_before=utcnow() - timedelta(minutes=5))
        s.add_all([sent, waiting, overdue])
        await s.flush()
        s.add_all([
            BroadcastRecipient(broadcast_id=b.id, employee_id=employees[0].id, outbox_id=sent.id),
            BroadcastRecipient(broadcast_id=b.id, employee_id=employees[1].id, outbox_id=waiting.id),
            BroadcastRecipient(broadcast_id=b.id, employee_id=employees[2].id),  # no Telegram account
        ])
        await s.commit()
        broadcast_id = b.id
    snap = await refresh_db_metrics(sessions)
    assert snap.ok
    assert snap.backlog == {False: 1, True: 1}
    assert 290 <= snap.oldest_due_seconds < 400
    assert snap.broadcasts == {broadcast_id: {"sent": 1, "pending": 1, "no_account": 1}}
    from prometheus_client import REGISTRY, generate_latest

    exposition = generate_latest(REGISTRY).decode()
    assert metric_value(exposition, "asnbot_broadcast_messages", broadcast_id=str(broadcast_id), status="pending") == 1
    assert metric_value(exposition, "asnbot_outbox_backlog", urgent="false") == 1


# ---- logs ------------------------------------------------------------------------------------
@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_json_log_line_has_request_id_and_no_personal_data(hook: WebhookBot, hook_api: LocalBotAPI,
                                                                 json_log: io.StringIO) -> None:
    phone, nik = "081234567890", "3275012345678901"
    await hook_api.user(6006).send(f"Nomor HP saya {phone} dan NIK {nik}, mohon dibantu cek data saya")
    await hook_api.user(6006).send("+62 812-3456-7890 tolong")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    updates = [r for r in lines if r.get("logger") == "asnbot.updates"]
    assert len(updates) == 2
    for record in updates:
        assert re.fullmatch(r"[0-9a-f]{32}", record["request_id"])
        assert record["update_kind"] == "message" and record["outcome"] == "handled"
        assert isinstance(record["latency_ms"], float) and record["level"] == "INFO"
        assert re.fullmatch(r"[0-9a-f]{12}", record["user"])  # a keyed hash, not the Telegram id
    assert updates[0]["request_id"] != updates[1]["request_id"]
    everything = json_log.getvalue()
    for secret in (phone, nik, "812-3456-7890", "mohon dibantu", "6006"):
        assert secret not in everything


def test_log_messages_are_scrubbed_of_long_numbers(json_log: io.StringIO) -> None:
    log = logging.getLogger("asnbot.test")
    log.warning("kontak %s, NIK %s, NIP %s", "0812-3456-7890", "3275012345678901", "199001092014121001")
    try:
        raise ValueError("nomor +6281234567890 tidak valid")
    except ValueError:
        log.exception("gagal untuk 081234567890")
    text = json_log.getvalue()
    assert "3456" not in text and "3275012345678901" not in text and "2014121001" not in text
    assert text.count(REDACTED) >= 5
    assert "request_id" in text  # present, null outside an update


# ---- abuse limits ----------------------------------------------------------------------------
async def test_rate_limit_gives_one_polite_reply_per_burst(db_url: str, tmp_path: Path,
                                                           hook_api: LocalBotAPI) -> None:
    wb = await _start(db_url, tmp_path, hook_api, rate_limit_per_minute=3)
    try:
        hook_api.webhook_idle = 0.6
        user = hook_api.user(6007)
        for _ in range(3):
            assert await user.send("/start")
        replies = await user.send("/start")
        assert [m.text for m in replies] == [texts.too_many_messages()]
        assert replies[0].text == "Terlalu banyak pesan; mohon tunggu sebentar."
        assert await user.send("/start") == []  # the rest of the burst: dropped silently
        assert await user.send(KGB_QUESTION) == []
        # Another user is not affected.
        assert "tautkan" in (await hook_api.user(6008).send("/start"))[-1].text.lower()
        _, exposition = await get(wb.server.base_url + "/metrics")
        assert metric_value(exposition, "asnbot_updates_total", outcome="rate_limited") >= 3
    finally:
        await wb.stop()


async def test_oversize_text_is_refused(hook: WebhookBot, hook_api: LocalBotAPI) -> None:
    replies = await hook_api.user(6009).send("cuti " * 801)  # 4005 characters
    assert len(replies) == 1 and "terlalu panjang" in replies[0].text and "4000" in replies[0].text
    # At the limit it is an ordinary question.
    replies = await hook_api.user(6009).send(("syarat kenaikan gaji berkala " * 200)[:4000])
    assert "terlalu panjang" not in replies[-1].text


async def test_oversize_file_is_refused_before_download(db_url: str, tmp_path: Path,
                                                        hook_api: LocalBotAPI) -> None:
    wb = await _start(db_url, tmp_path, hook_api, max_file_mb=0.01)  # about 10 KB
    try:
        replies = await hook_api.user(6010).send_document(b"%PDF-1.4\n" + b"0" * 20_000, "sk.pdf", "application/pdf")
        assert len(replies) == 1 and "terlalu besar" in replies[0].text and "10 KB" in replies[0].text
        assert hook_api.calls_of("getFile") == [] and hook_api.downloads == []
    finally:
        await wb.stop()


@pytest.mark.parametrize("kind", ["edited_message", "channel_post", "inline_query"])
async def test_unexpected_update_kinds_are_ignored(hook: WebhookBot, hook_api: LocalBotAPI, kind: str) -> None:
    hook_api.open_chats([6011])
    _, before = await get(hook.server.base_url + "/metrics")
    assert await post(hook.url, update_json(950, kind, 6011), SECRET) == 200
    assert await quiet_for(hook_api, 6011, 0.5)
    assert hook_api.calls_of("answerInlineQuery") == []
    _, after = await get(hook.server.base_url + "/metrics")
    assert metric_value(after, "asnbot_updates_total", kind=kind, outcome="ignored") - \
        metric_value(before, "asnbot_updates_total", kind=kind, outcome="ignored") == 1
    # The bot goes on as before.
    assert "tautkan" in (await hook_api.user(6011).send("/start"))[-1].text.lower()


# ---- long polling and the command ------------------------------------------------------------
async def test_polling_mode_can_serve_the_ops_endpoints(running) -> None:  # noqa: ANN001
    from bot.webhook import start_ops_server

    server = await start_ops_server(running.app, "127.0.0.1", 0)
    try:
        await running.api.user(6012).send("/start")
        assert (await get(server.base_url + "/healthz"))[0] == 200
        assert (await get(server.base_url + "/readyz"))[0] == 200
        status, exposition = await get(server.base_url + "/metrics")
        assert status == 200 and metric_value(exposition, "asnbot_updates_total", kind="message") >= 1
        assert (await get(server.base_url + "/telegram/webhook"))[0] == 404  # no webhook in polling mode
    finally:
        await server.stop()


def test_webhook_mode_needs_a_token_and_a_url(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "DATABASE_URL"}}
    env["DATA_DIR"] = str(tmp_path / "var")
    out = subprocess.run([sys.executable, "-m", "bot", "run", "--webhook"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "WEBHOOK_URL" in out.stderr
    assert not (tmp_path / "var" / "asnbot.db").exists()  # refused before touching the database
