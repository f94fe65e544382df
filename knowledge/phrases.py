"""Word-list matching shared by the small intent files (handoff.yaml, personal.yaml)."""
from __future__ import annotations

import re
from collections.abc import Iterable

_WORDS = re.compile(r"[a-z0-9]+")


def padded_words(message: str) -> str:
    """' kapan kgb saya ': lower-case words joined by single spaces, padded for phrase tests."""
    return " " + " ".join(_WORDS.findall(message.lower())) + " "


def has_any(padded: str, phrases: Iterable[str]) -> bool:
    """True if any word or multi-word phrase occurs as whole words in `padded`."""
    return any(f" {p} " in padded for p in phrases)
