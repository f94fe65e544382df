"""Recognises a request to talk to a person ("mau bicara dengan petugas"), from handoff.yaml."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.phrases import has_any, padded_words

HANDOFF_PATH = Path(__file__).with_name("handoff.yaml")


@lru_cache(maxsize=4)
def _lists(path: Path) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    person, ask, alone = (tuple(str(w).lower() for w in data.get(k) or []) for k in ("person", "ask", "alone"))
    return person, ask, frozenset(alone)


def wants_human(message: str, path: Path = HANDOFF_PATH) -> bool:
    person, ask, alone = _lists(path)
    padded = padded_words(message)
    if padded.strip() == "" or len(padded) > 120:  # a long message is a question, even if it names staff
        return False
    return padded.strip() in alone or (has_any(padded, person) and has_any(padded, ask))
