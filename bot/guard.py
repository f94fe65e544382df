"""Abuse limits, checked before an update costs a database session:

* unexpected update kinds (edited messages, channel posts, inline queries, ...) are dropped
  without an answer;
* a per-user rate limit on messages and button presses (RATE_LIMIT_PER_MINUTE, a moving window
  from the ``limits`` library, in Redis when REDIS_URL is set so it holds across instances, else
  in this process's memory); past it the user gets one polite reply per minute and the rest is
  dropped silently;
* oversized text (MAX_TEXT_CHARS) and files (MAX_FILE_MB, judged by the size Telegram
  announces, so nothing is downloaded) are refused with a short explanation.

Only private chats get a reply: in a group (the helpdesk) the bot never scolds anybody.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message, TelegramObject, Update
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from bot.fsm_redis import RedisFsmStorage
from bot.observability import mark_outcome
from handlers import texts

log = logging.getLogger("asnbot.guard")

# What the routers handle (build_dispatcher sets the real list from the routers); everything
# else Telegram might send is dropped unanswered.
HANDLED_KINDS = frozenset({"message", "callback_query"})


class RateLimit:
    """``per_minute`` updates per user in any 60 seconds, plus one warning per minute past it."""

    def __init__(self, per_minute: int, storage: Storage) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.warn_item = RateLimitItemPerMinute(1)
        self.limiter = MovingWindowRateLimiter(storage)
        self.storage = storage

    @classmethod
    def in_memory(cls, per_minute: int) -> RateLimit:
        return cls(per_minute, MemoryStorage())

    @classmethod
    def in_redis(cls, per_minute: int, redis_url: str, connection_pool: Any, prefix: str,
                 fsm: RedisFsmStorage | None = None) -> RateLimit:
        # Shares the FSM storage's connection pool: one set of connections per process.
        uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        storage = RedisStorage(uri, implementation="redispy", key_prefix=prefix, connection_pool=connection_pool)
        if fsm is not None:
            return FusedRateLimit(per_minute, storage, fsm, prefix=f"{prefix}:window")
        return cls(per_minute, storage)

    async def allow(self, user_id: int) -> bool:
        return await self.limiter.hit(self.item, "u", str(user_id))

    async def first_warning(self, user_id: int) -> bool:
        return await self.limiter.hit(self.warn_item, "w", str(user_id))

    async def allow_update(self, user_id: int, fsm_key: StorageKey | None) -> bool:
        return await self.allow(user_id)


class FusedRateLimit(RateLimit):
    """With Redis, each update is counted by the script that takes its lock (bot/fsm_redis.py),
    which saves a round trip per update; this reads that verdict. An update without a lock of its
    own (no user or chat) is counted by the `limits` library, as without Redis."""

    def __init__(self, per_minute: int, storage: Storage, fsm: RedisFsmStorage, prefix: str) -> None:
        super().__init__(per_minute, storage)
        self.fsm = fsm
        fsm.count_rate(per_minute, 60, prefix)

    async def allow_update(self, user_id: int, fsm_key: StorageKey | None) -> bool:
        if fsm_key is not None and fsm_key.user_id == user_id:
            verdict = self.fsm.verdict(fsm_key)
            if verdict is not None:
                return verdict
        return await self.allow(user_id)


class AbuseGuard(BaseMiddleware):
    def __init__(self, rate_limit: RateLimit | None, *, max_text_chars: int, max_file_bytes: int,
                 handled_kinds: frozenset[str] = HANDLED_KINDS) -> None:
        self.rate_limit = rate_limit
        self.handled_kinds = handled_kinds
        self.max_text_chars = max_text_chars
        self.max_file_bytes = max_file_bytes

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        if event.event_type not in self.handled_kinds:
            mark_outcome("ignored")
            return None
        user = data.get("event_from_user")
        chat = data.get("event_chat")
        private = chat is not None and chat.type == ChatType.PRIVATE
        if self.rate_limit is not None and user is not None and not await self._allowed(user.id, data):
            mark_outcome("rate_limited")
            await self._warn(event, user.id, private)
            return None
        message = event.message
        if message is not None and private:
            refusal = self._too_large(message)
            if refusal is not None:
                mark_outcome("too_large")
                await message.answer(refusal)
                return None
        return await handler(event, data)

    async def _allowed(self, user_id: int, data: dict[str, Any]) -> bool:
        state = data.get("state")  # the update's FSM context: its key names the lock it holds
        try:
            return await self.rate_limit.allow_update(user_id, getattr(state, "key", None))  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - Redis trouble must not stop the bot: fail open
            log.warning("rate limit store unavailable; update let through", exc_info=True)
            return True

    async def _warn(self, event: Update, user_id: int, private: bool) -> None:
        try:
            first = await self.rate_limit.first_warning(user_id)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            first = False
        if event.callback_query is not None:
            # Always answered, so the client stops its spinner; the text once per minute.
            await event.callback_query.answer(texts.too_many_messages() if first else None)
        elif first and private and event.message is not None:
            await event.message.answer(texts.too_many_messages())

    def _too_large(self, message: Message) -> str | None:
        text = message.text or message.caption or ""
        if len(text) > self.max_text_chars:
            return texts.message_too_long(self.max_text_chars)
        size = None
        if message.document is not None:
            size = message.document.file_size
        elif message.photo:
            size = message.photo[-1].file_size
        elif message.video is not None:
            size = message.video.file_size
        elif message.audio is not None:
            size = message.audio.file_size
        elif message.voice is not None:
            size = message.voice.file_size
        if size is not None and size > self.max_file_bytes:
            return texts.file_too_large(self.max_file_bytes, size)
        return None
