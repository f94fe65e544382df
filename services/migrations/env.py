"""Alembic environment. Called from services.db.migrate() with a live connection, or by the
`alembic` CLI (alembic.ini at the repository root) with DATABASE_URL or the SQLite default."""
from __future__ import annotations

import asyncio
import os

from alembic import context

from services.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from services.db import make_engine

    url = os.environ.get("DATABASE_URL") or "sqlite+aiosqlite:///var/asnbot.db"

    async def _main() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_main())
