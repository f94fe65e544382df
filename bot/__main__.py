"""`python -m bot` is the `asnbot` command (`python -m bot run --webhook`, `python -m bot db upgrade`);
without arguments it runs the bot, as `asnbot run` does."""
from bot.cli import main

raise SystemExit(main())
