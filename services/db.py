"""Engine, sessions and migrations. The same code runs on SQLite (embedded) and PostgreSQL."""
from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    """``pool_size`` connections kept open and up to ``max_overflow`` more under load (default: as
    many again), for PostgreSQL and a SQLite file alike.

    An update holds its connection until its reply has gone to Telegram, so under load more are
    in use at once than the rate suggests. A connection beyond the pool is closed the moment it is
    returned, and opening one (a PostgreSQL backend, or an aiosqlite thread) costs more CPU than
    several updates: with 5 and 32 users sending back to back, one process opened about 200
    connections in a benchmark run and lost a quarter of its throughput; with 10 it opened 22."""
    u = make_url(url)
    overflow = pool_size if max_overflow is None else max_overflow
    if u.get_backend_name() == "sqlite":
        pool: dict[str, int] = {}
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": pool_size, "max_overflow": overflow}
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            # SQLite ignores foreign keys unless asked, and WAL lets readers run during writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=overflow)
    _ping_idle_connections(engine)
    return engine


# A pooled connection back from use less than this long ago is taken as alive (see below).
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """pool_pre_ping, but only for connections that sat idle in the pool.

    pool_pre_ping costs three round trips on asyncpg (BEGIN, an empty query, ROLLBACK) at every
    checkout, i.e. on every update that touches the database. The connections that die are the
    idle ones (a database restart, a firewall or pgbouncer dropping idle links); one returned a
    moment ago just worked. So: ping only after PING_AFTER_IDLE_SECONDS in the pool; a dead
    connection is replaced as pool_pre_ping would (DisconnectionError makes the pool reconnect)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["asnbot_idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy) -> None:  # noqa: ANN001
        idle_since = record.info.get("asnbot_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # a new connection, or one in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # noqa: BLE001 - any failure: reconnect
            raise exc.DisconnectionError() from e
        if alive is False:
            raise exc.DisconnectionError()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(conn: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _downgrade(conn: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, revision)


# Any constant: instances starting together queue on it instead of migrating at the same time.
_MIGRATION_LOCK = 0x61736E626F74  # "asnbot"


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held until this transaction (which holds the whole upgrade) ends; the next instance
            # then finds the schema at head and does nothing.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)


def _current_heads(conn: Connection) -> tuple[set[str], set[str]]:
    ctx = MigrationContext.configure(conn)
    script = ScriptDirectory.from_config(alembic_config())
    return set(ctx.get_current_heads()), set(script.get_heads())


async def migrations_current(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current, heads = await conn.run_sync(_current_heads)
    return current == heads
