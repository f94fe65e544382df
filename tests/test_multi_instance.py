"""Two bot processes (``asnbot run --webhook``) behind one webhook URL: the fake Bot API, as a
load balancer would, sends the updates round robin to one and then the other, while a user
links their account (a multi-step form whose state lives in Redis). The result must be that of
one instance; the per-user rate limit holds across both."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.local_api import LocalBotAPI
from handlers import texts
from services.importer import import_pegawai
from tests.conftest import REDIS_TEST_URL, SAMPLE_CSV, TEST_KEY
from tests.webhook_harness import PUBLIC_URL, BotProcess, metric_value, process_env

REDIS_URL = REDIS_TEST_URL
FAUZI_PHONE = "+62 812-1000-0004"  # Ahmad Fauzi in the sample export
FAUZI_NIK6 = "900004"
ALICE, BOB = 5101, 5102
RATE_LIMIT = 10


@pytest.fixture
async def two_bots(db_url: str, sessions, tmp_path: Path, redis_prefix: str) -> AsyncIterator[tuple[LocalBotAPI, list[BotProcess]]]:  # noqa: ANN001
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=TEST_KEY)
    assert report.applied
    api = LocalBotAPI(deliver_webhooks=True)
    await api.start()
    bots = []
    for name in ("bot-a", "bot-b"):
        # Each has its own folder: they share nothing but the database, Redis and the Bot API.
        env = process_env(api, db_url, tmp_path / name / "var", REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=redis_prefix,
                          RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT))
        bots.append(BotProcess(env, tmp_path / name, name=name))
    try:
        for b in bots:
            b.start()
        for b in bots:
            await b.wait_ready()
        # Both registered the same URL and secret, as every instance does at start.
        assert [c["url"] for c in api.calls_of("setWebhook")] == [PUBLIC_URL, PUBLIC_URL]
        api.load_balance([b.base_url for b in bots])
        yield api, bots
    finally:
        codes = [b.stop() for b in bots]
        await api.stop()
    assert codes == [0, 0], "an instance did not shut down cleanly:\n" + "\n".join(b.output()[-2000:] for b in bots)


async def link(api: LocalBotAPI, user_id: int) -> list[str]:
    """The linking form: /start, share the contact, answer with NIK digits. Returns the replies."""
    user = api.user(user_id, first_name="Fauzi")
    replies = [m.text for m in await user.send("/start")]
    replies += [m.text for m in await user.press(texts.BTN_SHARE_PHONE, phone=FAUZI_PHONE)]
    replies += [m.text for m in await user.send(FAUZI_NIK6)]
    return replies


async def test_two_instances_behind_one_url_behave_as_one(two_bots: tuple[LocalBotAPI, list[BotProcess]]) -> None:
    api, bots = two_bots
    replies = await link(api, ALICE)
    assert "digit terakhir NIK" in replies[1]  # asked by one instance ...
    assert "berhasil ditautkan" in replies[2] and "Ahmad Fauzi" in replies[2]  # ... answered by the other
    assert api.webhook_posts == 3

    # The same form again, with every update to one instance: the very same conversation.
    user = api.user(ALICE)
    await user.send("/unlink")
    await user.press(texts.BTN_UNLINK_YES)
    api.load_balance([bots[0].base_url])
    assert await link(api, ALICE) == replies
    api.load_balance([b.base_url for b in bots])

    # Both instances took part: each counted updates of its own.
    for b in bots:
        status, exposition = await b.get("/metrics")
        assert status == 200
        assert metric_value(exposition, "asnbot_updates_total", kind="message", outcome="handled") >= 2, b.name

    # Structured logs: one line per update with a request id, and no phone number or NIK digits.
    for b in bots:
        log = b.output()
        assert '"logger": "asnbot.updates"' in log and '"request_id": "' in log
        for secret in ("6281210000004", "081210000004", "812-1000-0004", FAUZI_NIK6):
            assert secret not in log, f"{b.name} logged {secret}"


async def test_rate_limit_holds_across_instances(two_bots: tuple[LocalBotAPI, list[BotProcess]]) -> None:
    api, _ = two_bots
    api.webhook_idle = 1.0
    bob = api.user(BOB)
    # RATE_LIMIT messages spread over two instances: with a limit per process each would have
    # seen only half, and never refused one.
    for _ in range(RATE_LIMIT):
        assert await bob.send("/start")
    replies = await bob.send("/start")
    assert [m.text for m in replies] == [texts.too_many_messages()]
    assert await bob.send("/start") == []
