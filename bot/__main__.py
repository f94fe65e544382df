"""`python -m bot` does the same as `asnbot run`."""
from bot.cli import main

raise SystemExit(main(["run"]))
