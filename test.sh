#!/usr/bin/env bash
# Runs the test suite (SQLite by default; TEST_DATABASE_URL=postgresql+asyncpg://... for PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
