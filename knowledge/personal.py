"""Recognises questions about the asker's own data ("kapan KGB saya?", "sisa cuti saya"), from
personal.yaml."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.phrases import has_any, padded_words

PERSONAL_PATH = Path(__file__).with_name("personal.yaml")


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[dict[str, tuple[bool, tuple[str, ...]]], tuple[str, ...], tuple[str, ...]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    topics = {
        k: (bool(v.get("needs_when", True)), tuple(str(w).lower() for w in v.get("words") or []))
        for k, v in (data.get("topics") or {}).items()
    }
    return topics, tuple(str(w).lower() for w in data.get("self") or []), tuple(str(w).lower() for w in data.get("when") or [])


def personal_topic(message: str, path: Path = PERSONAL_PATH) -> str | None:
    """The topic ("kgb", "kp", "pensiun", "saldo-cuti") when the message asks for the asker's own
    data, else None."""
    topics, self_words, when_words = _load(path)
    padded = padded_words(message)
    if len(padded) > 150 or not has_any(padded, self_words):
        return None
    has_when = has_any(padded, when_words)
    for topic, (needs_when, words) in topics.items():
        if has_any(padded, words) and (has_when or not needs_when):
            return topic
    return None
