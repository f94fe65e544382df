"""Conversation state in Redis with one round trip at each end of an update.

aiogram's RedisStorage and RedisEventIsolation make six round trips for a typical update: take
the per-chat lock, read the state, read the data, write the data, release the lock (plus the rate
limit). On a small VM each round trip costs about as much CPU as the knowledge-base search, so
here the lock is taken together with reading the state and the data (one Lua script), handlers
read and write that copy while the update holds the lock, and the changes are written together
with the release (one Lua script). Other processes wait for the lock, so they never see the copy
half-way; code that touches a key whose lock this process does not hold goes straight to Redis,
as with aiogram's storage. Keys and values are those of aiogram's RedisStorage, so a form
half-filled before an upgrade carries on after it.

What changes: a write made during an update reaches Redis when the update ends (with the lock's
release), not at once. A process killed in the middle of an update loses that update's state
changes, as it loses the update itself; what the update committed to the database stays.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.typing import ExpiryT

# KEYS: lock, state, data[, rate window]. ARGV: token, lock timeout (ms)[, limit, window (s)].
# {1, state, data, allowed} once the lock is ours, {0} while somebody else holds it. With a rate
# window, the update is counted in it (a moving window, as the `limits` library keeps one: the
# times of the last `limit` updates, newest first) unless the window is full (allowed = 0).
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0}
end
local allowed = 1
if KEYS[4] then
  local limit, window = tonumber(ARGV[3]), tonumber(ARGV[4])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local oldest = redis.call('LINDEX', KEYS[4], limit - 1)
  if oldest and tonumber(oldest) > now - window then
    allowed = 0
  else
    redis.call('LPUSH', KEYS[4], string.format('%.6f', now))
    redis.call('LTRIM', KEYS[4], 0, limit - 1)
    redis.call('EXPIRE', KEYS[4], window)
  end
end
return {1, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), allowed}
"""

# KEYS: lock, state, data. ARGV: token, then for the state and for the data: op ('' keep,
# 'set', 'del'), value, ttl in ms (0: none). The lock is deleted only if it is still ours.
_FINISH = """
local function put(key, op, value, ttl)
  if op == 'set' then
    if ttl ~= '0' then redis.call('SET', key, value, 'PX', ttl) else redis.call('SET', key, value) end
  elseif op == 'del' then
    redis.call('DEL', key)
  end
end
put(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
put(KEYS[3], ARGV[5], ARGV[6], ARGV[7])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _ms(ttl: ExpiryT | None) -> int:
    if ttl is None:
        return 0
    if isinstance(ttl, timedelta):
        return int(ttl.total_seconds() * 1000)
    return int(ttl) * 1000


def _text(value: Any) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


@dataclass
class _Held:
    """The state and data of a key whose lock this process holds (data as its JSON text, so every
    read returns fresh objects, as a read from Redis does)."""
    state: str | None
    data: str | None
    allowed: bool | None = None  # the rate limit's verdict, when it is counted here
    state_changed: bool = False
    data_changed: bool = False


class RedisFsmStorage(RedisStorage):
    """aiogram's RedisStorage, served from the lock holder's copy while an update holds the lock
    (see RedisFsmIsolation)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[StorageKey, _Held] = {}
        self.rate: tuple[int, int, str] | None = None  # per-user limit, window (s), key prefix
        self.acquire_script = self.redis.register_script(_ACQUIRE)
        self.finish_script = self.redis.register_script(_FINISH)

    def count_rate(self, limit: int, window_seconds: int, prefix: str) -> None:
        """Count each update in its user's moving window while taking the lock (bot/guard.py
        FusedRateLimit reads the verdict): the rate limit costs no round trip of its own."""
        self.rate = (limit, window_seconds, prefix)

    def verdict(self, key: StorageKey) -> bool | None:
        """The rate limit's verdict for the update holding `key`'s lock, if counted here."""
        held = self.held.get(key)
        return held.allowed if held is not None else None

    def create_isolation(self, **kwargs: Any) -> RedisFsmIsolation:
        lock = dict(kwargs.get("lock_kwargs") or {})
        return RedisFsmIsolation(self, timeout=float(lock.get("timeout", 60)), sleep=float(lock.get("sleep", 0.01)))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        held = self.held.get(key)
        if held is None:
            await super().set_state(key, state)
            return
        held.state = cast(str | None, state.state if isinstance(state, State) else state)
        held.state_changed = True

    async def get_state(self, key: StorageKey) -> str | None:
        held = self.held.get(key)
        if held is None:
            return await super().get_state(key)
        return held.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        held = self.held.get(key)
        if held is None:
            await super().set_data(key, data)
            return
        if not isinstance(data, dict):
            raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
        held.data = self.json_dumps(data) if data else None
        held.data_changed = True

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        held = self.held.get(key)
        if held is None:
            return await super().get_data(key)
        return cast(dict[str, Any], self.json_loads(held.data)) if held.data else {}

    def _keys(self, key: StorageKey) -> list[str]:
        build = self.key_builder.build
        return [build(key, "lock"), build(key, "state"), build(key, "data")]

    async def acquire(self, key: StorageKey, token: str, timeout: float, sleep: float) -> _Held:
        keys: list[str] = self._keys(key)
        args: list[Any] = [token, int(timeout * 1000)]
        if self.rate is not None and key.user_id is not None:
            limit, window, prefix = self.rate
            keys.append(f"{prefix}:{key.user_id}")
            args += [limit, window]
        while True:
            got = await self.acquire_script(keys=keys, args=args)
            if got[0]:
                held = _Held(state=_text(got[1]), data=_text(got[2]), allowed=bool(got[3]) if len(keys) > 3 else None)
                self.held[key] = held
                return held
            await asyncio.sleep(sleep)

    async def finish(self, key: StorageKey, token: str, held: _Held) -> None:
        if self.held.get(key) is held:
            del self.held[key]
        state_op = ("set" if held.state is not None else "del") if held.state_changed else ""
        data_op = ("set" if held.data is not None else "del") if held.data_changed else ""
        await self.finish_script(keys=self._keys(key), args=[
            token, state_op, held.state or "", _ms(self.state_ttl), data_op, held.data or "", _ms(self.data_ttl)])


class RedisFsmIsolation(BaseEventIsolation):
    """One update at a time per chat and user across every instance: a lock in Redis taken with
    the key's state and data and released with their changes (see the module docstring)."""

    def __init__(self, storage: RedisFsmStorage, *, timeout: float = 60.0, sleep: float = 0.01) -> None:
        self.storage = storage
        self.timeout = timeout  # a crashed holder's lock expires after this
        self.sleep = sleep

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        token = os.urandom(16).hex()
        held = await self.storage.acquire(key, token, self.timeout, self.sleep)
        try:
            yield None
        finally:
            await self.storage.finish(key, token, held)

    async def close(self) -> None:
        return None
