"""bot/fsm_redis.py against a real Redis: the lock holder's copy of state and data, written back
with the lock's release, in aiogram's own keys and format."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from bot.fsm_redis import RedisFsmStorage
from tests.conftest import REDIS_TEST_URL

REDIS_URL = REDIS_TEST_URL
KEY = StorageKey(bot_id=1, chat_id=42, user_id=42)
OTHER = StorageKey(bot_id=1, chat_id=43, user_id=43)


def storage(prefix: str, cls: type[RedisStorage] = RedisFsmStorage, **kwargs) -> RedisStorage:  # noqa: ANN003
    return cls.from_url(REDIS_URL, key_builder=DefaultKeyBuilder(prefix=prefix), **kwargs)


async def test_changes_reach_redis_with_the_release_in_aiograms_format(redis_prefix: str) -> None:
    ours, plain = storage(redis_prefix), storage(redis_prefix, RedisStorage)  # plain: aiogram's own, a reader elsewhere
    iso = ours.create_isolation()
    try:
        await plain.set_state(KEY, "Form:dates")
        await plain.set_data(KEY, {"kind": "tahunan"})
        async with iso.lock(KEY):
            assert await ours.get_state(KEY) == "Form:dates"
            assert await ours.get_data(KEY) == {"kind": "tahunan"}
            await ours.set_state(KEY, "Form:reason")
            await ours.update_data(KEY, {"days": 3})
            assert await ours.get_data(KEY) == {"kind": "tahunan", "days": 3}
            # not written yet: another process waits for the lock before it reads
            assert await plain.get_state(KEY) == "Form:dates"
        assert await plain.get_state(KEY) == "Form:reason"
        assert await plain.get_data(KEY) == {"kind": "tahunan", "days": 3}
        assert await ours.get_state(KEY) == "Form:reason"  # outside a lock: straight from Redis
        raw = Redis.from_url(REDIS_URL)
        assert await raw.exists(DefaultKeyBuilder(prefix=redis_prefix).build(KEY, "lock")) == 0  # released
        await raw.aclose()
    finally:
        await ours.close()
        await plain.close()


async def test_clearing_deletes_the_keys_and_untouched_keys_are_not_rewritten(redis_prefix: str) -> None:
    ours, plain = storage(redis_prefix), storage(redis_prefix, RedisStorage)
    iso = ours.create_isolation()
    try:
        await plain.set_state(KEY, "Form:reason")
        await plain.set_data(KEY, {"draft": 1})
        async with iso.lock(KEY):
            await ours.set_state(KEY, None)
            await ours.set_data(KEY, {})
        builder = DefaultKeyBuilder(prefix=redis_prefix)
        raw = Redis.from_url(REDIS_URL)
        assert await raw.exists(builder.build(KEY, "state"), builder.build(KEY, "data")) == 0
        # a read-only update leaves the keys alone: a value written meanwhile without the lock stays
        await plain.set_data(KEY, {"x": 1})
        async with iso.lock(KEY):
            assert await ours.get_data(KEY) == {"x": 1}
            await plain.set_data(KEY, {"x": 2})
        assert await plain.get_data(KEY) == {"x": 2}
        await raw.aclose()
    finally:
        await ours.close()
        await plain.close()


async def test_reads_are_fresh_objects(redis_prefix: str) -> None:
    ours = storage(redis_prefix)
    try:
        async with ours.create_isolation().lock(KEY):
            await ours.set_data(KEY, {"days": [1, 2]})
            got = await ours.get_data(KEY)
            got["days"].append(3)  # changed without set_data: not stored, as with a read from Redis
            assert await ours.get_data(KEY) == {"days": [1, 2]}
        assert await ours.get_data(KEY) == {"days": [1, 2]}
    finally:
        await ours.close()


async def test_a_failing_handler_still_writes_and_releases(redis_prefix: str) -> None:
    ours = storage(redis_prefix)
    iso = ours.create_isolation()
    try:
        with pytest.raises(RuntimeError):
            async with iso.lock(KEY):
                await ours.set_state(KEY, "Form:reason")
                raise RuntimeError("handler failed")
        assert await ours.get_state(KEY) == "Form:reason"
        async with asyncio.timeout(2):  # not left locked
            async with iso.lock(KEY):
                pass
    finally:
        await ours.close()


async def test_one_holder_at_a_time_across_instances_no_lost_update(redis_prefix: str) -> None:
    # Two instances (two storages) increment a counter in the same user's data 40 times each,
    # interleaved. With the lock and the copy written back on release no increment is lost.
    a, b = storage(redis_prefix), storage(redis_prefix)
    ia, ib = a.create_isolation(lock_kwargs={"sleep": 0.001}), b.create_isolation(lock_kwargs={"sleep": 0.001})

    async def bump(s: RedisFsmStorage, iso) -> None:  # noqa: ANN001
        for _ in range(40):
            async with iso.lock(KEY):
                n = (await s.get_data(KEY)).get("n", 0)
                await asyncio.sleep(0)  # let the other instance try meanwhile
                await s.set_data(KEY, {"n": n + 1})

    try:
        await asyncio.gather(bump(a, ia), bump(b, ib), bump(a, ia))
        assert await a.get_data(KEY) == {"n": 120}
        # other keys are independent: no waiting on KEY's lock
        async with ia.lock(KEY):
            async with asyncio.timeout(2):
                async with ib.lock(OTHER):
                    await b.set_state(OTHER, "X:y")
        assert await a.get_state(OTHER) == "X:y"
    finally:
        await a.close()
        await b.close()


async def test_an_expired_lock_taken_by_another_is_not_released_by_the_first(redis_prefix: str) -> None:
    a, b = storage(redis_prefix), storage(redis_prefix)
    ia = a.create_isolation(lock_kwargs={"timeout": 0.2})
    ib = b.create_isolation(lock_kwargs={"timeout": 5})
    lock_key = DefaultKeyBuilder(prefix=redis_prefix).build(KEY, "lock")
    raw = Redis.from_url(REDIS_URL)
    try:
        b_entered, b_release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with ib.lock(KEY):
                b_entered.set()
                await b_release.wait()

        async with ia.lock(KEY):
            await asyncio.sleep(0.35)  # a's lock expires; b takes it
            task = asyncio.create_task(hold())
            async with asyncio.timeout(2):
                await b_entered.wait()
        # a's release ran while b holds the lock: b's lock must still be there
        assert await raw.exists(lock_key) == 1
        b_release.set()
        await task
        assert await raw.exists(lock_key) == 0
    finally:
        await raw.aclose()
        await a.close()
        await b.close()


async def test_ttls_are_applied(redis_prefix: str) -> None:
    ours = storage(redis_prefix, state_ttl=timedelta(seconds=30), data_ttl=20)
    raw = Redis.from_url(REDIS_URL)
    builder = DefaultKeyBuilder(prefix=redis_prefix)
    try:
        async with ours.create_isolation().lock(KEY):
            await ours.set_state(KEY, "Form:reason")
            await ours.set_data(KEY, {"a": 1})
        assert 25_000 < await raw.pttl(builder.build(KEY, "state")) <= 30_000
        assert 15_000 < await raw.pttl(builder.build(KEY, "data")) <= 20_000
    finally:
        await raw.aclose()
        await ours.close()


async def test_rate_limit_counted_with_the_lock(redis_prefix: str) -> None:
    from limits.aio.storage import RedisStorage as LimitsRedis

    from bot.guard import FusedRateLimit

    a, b = storage(redis_prefix), storage(redis_prefix)  # two instances share the window
    limits_store = LimitsRedis(f"async+{REDIS_URL}", implementation="redispy", key_prefix=f"{redis_prefix}:rl")
    rl_a = FusedRateLimit(3, limits_store, a, prefix=f"{redis_prefix}:rl:window")
    FusedRateLimit(3, limits_store, b, prefix=f"{redis_prefix}:rl:window")
    ia, ib = a.create_isolation(), b.create_isolation()
    verdicts = []
    try:
        for iso, s in [(ia, a), (ib, b), (ia, a), (ib, b), (ia, a)]:
            async with iso.lock(KEY):
                verdicts.append(s.verdict(KEY))
        assert verdicts == [True, True, True, False, False]
        async with ia.lock(OTHER):  # another user has a window of their own
            assert await rl_a.allow_update(OTHER.user_id, OTHER) is True
            assert await rl_a.allow_update(KEY.user_id, OTHER) is True  # not KEY's lock: counted apart
        assert a.verdict(KEY) is None  # no lock held: nothing to read
    finally:
        await a.close()
        await b.close()
