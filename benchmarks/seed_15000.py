"""Seed 15,000 demo employees into a fresh temporary SQLite file and print the time taken.

    .venv/bin/python benchmarks/seed_15000.py [--employees N] [--url DATABASE_URL]

With --url the target must be an empty, migrated or migratable database (e.g. a scratch
PostgreSQL); by default a temp SQLite file is created and removed.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from services.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from services.models import Employee, Unit  # noqa: E402
from services.seed import generate_demo, seed_demo  # noqa: E402


async def run(employees: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url or f"sqlite+aiosqlite:///{tmp}/bench.db")
        try:
            await migrate(engine)
            sessions = make_sessionmaker(engine)
            t0 = time.perf_counter()
            generate_demo(employees, seed=1, verification_key=b"bench-key")
            compute = time.perf_counter() - t0
            report = await seed_demo(sessions, employees=employees, seed=1, verification_key=b"bench-key")
            async with sessions() as s:
                n_emp = (await s.execute(select(func.count()).select_from(Employee))).scalar_one()
                n_units = (await s.execute(select(func.count()).select_from(Unit))).scalar_one()
        finally:
            await engine.dispose()
    print(f"backend: {engine.dialect.name}")
    print(f"seconds: {report.seconds:.2f} (of which generating rows in memory: ~{compute:.2f})")
    print(f"rows: {n_emp} employees, {n_units} units; by status: {report.by_status}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--employees", type=int, default=15_000)
    ap.add_argument("--url", help="database URL instead of a temp SQLite file")
    args = ap.parse_args()
    asyncio.run(run(args.employees, args.url))


if __name__ == "__main__":
    main()
