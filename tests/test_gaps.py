"""Abstained questions counted for `asnbot kb gaps`: bot/app.py GapRecorder collects them and
services/helpdesk.py record_gaps writes a batch in one transaction."""
from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import GapRecorder
from services import helpdesk
from services.models import KnowledgeGap


async def counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as s:
        return dict((await s.execute(select(KnowledgeGap.text, KnowledgeGap.count))).all())


async def test_batches_add_up_with_numbers_masked(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        await helpdesk.record_gap(s, "bawa kucing ke kantor")
    async with sessions() as s:
        # "HP 0812..." and "hp 0898..." are the same question once numbers are masked
        await helpdesk.record_gaps(s, {"bawa kucing ke kantor": 2, "HP 081234567890": 1, "hp 089812345678": 3})
    assert await counts(sessions) == {"bawa kucing ke kantor": 3, "hp #": 4}


async def test_recorder_writes_the_first_at_once_then_per_interval_and_on_stop(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    gaps = GapRecorder(sessions, interval=60)
    await gaps.start()
    try:
        gaps.add("parkir motor di mana")
        deadline = time.monotonic() + 3
        while await counts(sessions) != {"parkir motor di mana": 1}:
            assert time.monotonic() < deadline, "the first question after a quiet spell was not recorded"
            await asyncio.sleep(0.02)
        for q in ("parkir motor di mana", "kantin buka jam berapa", "parkir motor di mana"):
            gaps.add(q)
        await asyncio.sleep(0.2)
        assert await counts(sessions) == {"parkir motor di mana": 1}  # waiting for the next batch
    finally:
        await gaps.stop()
    assert await counts(sessions) == {"parkir motor di mana": 3, "kantin buka jam berapa": 1}


async def test_two_writers_adding_the_same_new_question_at_once_both_count(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    # Two instances flushing the same new text together: the second must add to the first's row,
    # not fail on the unique text or lose its count.
    async def write(n: int) -> None:
        async with sessions() as s:
            await helpdesk.record_gaps(s, {"foto kopi di mana": n, f"pertanyaan lain {n}": 1})

    await asyncio.gather(write(1), write(2))
    assert (await counts(sessions))["foto kopi di mana"] == 3
