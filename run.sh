#!/usr/bin/env bash
# Runs the bot: sets up .venv on first use, migrates, loads demo data on an empty database.
# Without TELEGRAM_BOT_TOKEN it opens the local console chat.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/asnbot run "$@"
