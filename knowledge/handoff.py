"""Recognises a request to talk to a person ("mau bicara dengan petugas"), from handoff.yaml."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

HANDOFF_PATH = Path(__file__).with_name("handoff.yaml")
_WORDS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=4)
def _lists(path: Path) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple(frozenset(str(w).lower() for w in data.get(k) or []) for k in ("person", "ask", "alone"))  # type: ignore[return-value]


def _has(text: str, words: frozenset[str]) -> bool:
    # Multi-word phrases match as substrings of the word sequence, single words as whole words.
    tokens = set(text.split())
    return any((w in tokens) if " " not in w else (f" {w} " in f" {text} ") for w in words)


def wants_human(message: str, path: Path = HANDOFF_PATH) -> bool:
    person, ask, alone = _lists(path)
    text = " ".join(_WORDS.findall(message.lower()))
    if not text or len(text) > 120:  # a long message is a question, even if it names staff
        return False
    return text in alone or (_has(text, person) and _has(text, ask))
