"""Import a synthetic 15,000-row SIAP export into a fresh database, twice, and print the times.

    .venv/bin/python benchmarks/import_15000.py [--rows N] [--url DATABASE_URL]

The second run must change nothing (idempotent re-import); its time is what a nightly sync costs.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from services.importer import import_pegawai  # noqa: E402
from tests.factories import synthetic_export  # noqa: E402


async def run(rows: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_export(Path(tmp) / "export.csv", rows)
        engine = make_engine(url or f"sqlite+aiosqlite:///{tmp}/bench.db")
        try:
            await migrate(engine)
            sessions = make_sessionmaker(engine)
            for label in ("first import", "re-import"):
                t0 = time.perf_counter()
                report = await import_pegawai(sessions, path, verification_key=b"bench-key")
                took = time.perf_counter() - t0
                print(f"{label}: {took:.2f} s  (added {report.added}, updated {report.updated}, "
                      f"unchanged {report.unchanged}, errors {len(report.errors)})")
        finally:
            await engine.dispose()
    print(f"backend: {engine.dialect.name}, rows: {rows}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=15_000)
    ap.add_argument("--url", help="database URL instead of a temp SQLite file (must be empty)")
    args = ap.parse_args()
    asyncio.run(run(args.rows, args.url))


if __name__ == "__main__":
    main()
