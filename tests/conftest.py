"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set),
the real app and dispatcher, and the local Bot API server the bot talks to over HTTP."""
from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.local_api import LocalBotAPI
from services.db import make_engine, make_sessionmaker, migrate
from services.importer import import_pegawai
from tests.harness import Running, make_settings, start_bot
from services.models import Base

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_KEY = b"test-verification-key"
SAMPLE_CSV = Path(__file__).resolve().parent.parent / "services" / "data" / "demo" / "pegawai.csv"


def _is_pg() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per test session: a template SQLite file, or the PostgreSQL schema."""
    if _is_pg():
        async def reset_pg() -> None:
            engine = make_engine(TEST_DATABASE_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await migrate(engine)
            await engine.dispose()

        asyncio.run(reset_pg())
        return TEST_DATABASE_URL
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def make_template() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(make_template())
    return str(path)


@pytest.fixture
async def db_url(_migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database for this test."""
    if _is_pg():
        engine = make_engine(TEST_DATABASE_URL)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()
        yield TEST_DATABASE_URL
        return
    dest = tmp_path / "asnbot.db"
    shutil.copyfile(_migrated_template, dest)
    yield f"sqlite+aiosqlite:///{dest}"


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    """The local Bot API server the bot under test talks to over HTTP."""
    server = LocalBotAPI()
    await server.start()
    yield server
    await server.stop()


REDIS_TEST_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own in the test Redis, its keys deleted afterwards; the test is
    skipped when no Redis answers."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_TEST_URL)
    try:
        await client.ping()
    except OSError as e:  # redis-py's ConnectionError is an OSError
        await client.aclose()
        pytest.skip(f"this test needs Redis; none at {REDIS_TEST_URL}: {e}")
    prefix = f"asnbot-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def running(db_url: str, tmp_path: Path, api: LocalBotAPI) -> AsyncIterator[Running]:
    """The real bot, polling the local Bot API, with the sample personnel export loaded."""
    settings = make_settings(db_url, tmp_path)
    r = await start_bot(settings, api)
    report = await import_pegawai(r.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    assert report.applied and report.added == 12
    yield r
    await r.stop()
