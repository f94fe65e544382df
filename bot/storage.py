"""Conversation state in the database, for deployments without Redis: a half-filled form
survives a restart. With REDIS_URL set, aiogram's RedisStorage is used instead."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.models import ConversationState


class SqlStorage(BaseStorage):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None) -> None:
        self._sessions = session_factory
        self._keys = key_builder or DefaultKeyBuilder(prefix="fsm")

    async def _write(self, key: StorageKey, **values: Any) -> None:
        k = self._keys.build(key)
        async with self._sessions() as s:
            row = await s.get(ConversationState, k)
            state = values.get("state", row.state if row else None)
            data = values.get("data", row.data if row else {})
            if state is None and not data:
                # Nothing left to remember: keep the table small.
                if row is not None:
                    await s.delete(row)
            elif row is None:
                s.add(ConversationState(key=k, state=state, data=data))
            else:
                row.state, row.data = state, data
            await s.commit()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._sessions() as s:
            row = await s.get(ConversationState, self._keys.build(key))
            return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._sessions() as s:
            row = await s.get(ConversationState, self._keys.build(key))
            return dict(row.data) if row and row.data else {}

    async def close(self) -> None:
        return None
