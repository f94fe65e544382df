"""The layering of docs/ARCHITECTURE.md, and the schema the migrations build, checked for real."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.db import make_engine
from services.models import Base

ROOT = Path(__file__).resolve().parent.parent
# layer -> top-level packages it must never import
FORBIDDEN = {
    "services": {"aiogram", "bot", "handlers", "knowledge"},
    "knowledge": {"aiogram", "bot", "handlers", "services"},
    "handlers": {"bot"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_flow_one_way(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = imported_roots(path) & FORBIDDEN[layer]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


async def test_migrations_build_exactly_the_models(db_url: str) -> None:
    engine = make_engine(db_url)

    def diff(conn):  # noqa: ANN001, ANN202
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    await engine.dispose()
    assert changes == []
