"""Parts of the running bot that CLI commands use too, kept free of aiogram: importing its
types costs seconds, and `asnbot kb check`, `asnbot ask` or `asnbot link-code` should start at once."""
from __future__ import annotations

import gc
import logging
from datetime import timedelta
from pathlib import Path

from bot.settings import Settings
from knowledge.engine import Engine
from knowledge.kb import ENTRIES_DIR, KBError, KnowledgeBase, KnowledgeStore, Problem
from services.linking import LinkPolicy

log = logging.getLogger("asnbot")
# bm25s sets its own logger to DEBUG on import and logs every index build: keep it quiet.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class Knowledge:
    """The live knowledge base and its search index, built and swapped together by the store:
    a broken edit leaves the previous pair serving. If even the first load fails, the bot still
    runs (linking, profile) and Tanya layanan says honestly that it is unavailable."""

    def __init__(self, entries_dir: Path | None = None) -> None:
        self.entries_dir = entries_dir or ENTRIES_DIR
        self.store: KnowledgeStore | None = None
        self.startup_problems: list[Problem] = []
        self.freeze_heap = False  # set by the bot process (see settle_heap), not by tests
        self._start()

    def _start(self) -> None:
        try:
            self.store = KnowledgeStore(self.entries_dir, on_load=lambda kb: Engine.build(kb.entries.values()))
        except KBError as e:
            self.startup_problems = e.problems
            log.error("knowledge base not loaded, Tanya layanan unavailable: %s", e)

    @property
    def available(self) -> bool:
        return self.store is not None

    def snapshot(self) -> tuple[KnowledgeBase, Engine]:
        """The KB and the engine of the same load (read once per question)."""
        assert self.store is not None, "check .available first"
        return self.store.snapshot()

    @property
    def kb(self) -> KnowledgeBase:
        return self.snapshot()[0]

    @property
    def engine(self) -> Engine:
        return self.snapshot()[1]

    def reload(self) -> list[Problem]:
        if self.store is None:
            self._start()
            problems = self.startup_problems if self.store is None else []
        else:
            problems = self.store.reload()
        if self.freeze_heap:
            settle_heap()
        return problems

    def signature(self) -> tuple:
        """Changes whenever a file of the entries folder (or the folder itself) changes."""
        d = self.entries_dir
        files = sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in d.iterdir() if f.is_file())
        return (d.stat().st_mtime_ns, tuple(files))


def settle_heap() -> None:
    """Take what is alive now (the knowledge index, aiogram's, pydantic's and SQLAlchemy's
    tables: about 300,000 objects) out of the garbage collector's full passes, which under load
    walked them every few seconds for about a quarter of a second each. Unfrozen first, so that a
    replaced knowledge index can still be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def link_policy(settings: Settings) -> LinkPolicy:
    return LinkPolicy(
        max_failures=settings.link_max_failures,
        failure_window=timedelta(minutes=settings.link_failure_window_minutes),
        code_ttl=timedelta(hours=settings.link_code_ttl_hours),
    )
