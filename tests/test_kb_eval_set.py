"""Checks the hand-written question-answering evaluation set tests/kb_eval/questions.json.

The set is data for measuring the knowledge-base matcher; this test only guards its shape:
valid ids (catalogue SOP numbers and services, the fixed topic ids), the per-type minimum
counts, coverage of every SOP, service and topic, and no duplicate questions.
"""
from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "kb_eval" / "questions.json"
CATALOG = ROOT / "knowledge" / "catalog.yaml"

TYPES = {"in_scope", "out_of_scope", "smalltalk"}
TOPICS = {
    "cuti-besar", "cuti-sakit", "cuti-melahirkan", "cuti-alasan-penting", "cuti-bersama",
    "disiplin-kewajiban", "disiplin-larangan", "disiplin-ketidakhadiran", "disiplin-hukuman",
    "disiplin-upaya-administratif", "disiplin-jam-kerja",
}
MIN_COUNTS = {"in_scope": 320, "out_of_scope": 60, "smalltalk": 30}
MIN_SOP_COVERAGE = 3        # questions per SOP number ...
SPECIFIC_MAX_SOPS = 3       # ... counting only questions that list at most this many SOPs
MIN_SERVICE_COVERAGE = 2
MIN_TOPIC_COVERAGE = 2
NEAR_DUPLICATE_RATIO = 0.93


def _load() -> list[dict]:
    with QUESTIONS.open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _load()


@pytest.fixture(scope="module")
def catalog() -> dict:
    return yaml.safe_load(CATALOG.read_text(encoding="utf-8"))


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w/]+", " ", text.lower()).split())


def test_shape(rows: list[dict]) -> None:
    assert isinstance(rows, list) and rows
    for i, row in enumerate(rows):
        where = f"row {i}: {row!r}"
        assert isinstance(row, dict), where
        assert set(row) <= {"question", "type", "expected", "note"}, where
        assert {"question", "type", "expected"} <= set(row), where
        assert isinstance(row["question"], str) and row["question"].strip(), where
        assert row["type"] in TYPES, where
        if "note" in row:
            assert isinstance(row["note"], str) and row["note"].strip(), where
        exp = row["expected"]
        assert isinstance(exp, dict) and set(exp) == {"sop", "service", "topic"}, where
        for key in ("sop", "service", "topic"):
            assert isinstance(exp[key], list), where
            assert len(exp[key]) == len(set(exp[key])), f"duplicate id in {key}: {where}"


def test_ids_exist(rows: list[dict], catalog: dict) -> None:
    sops = {int(n) for n in catalog["sop"]}
    assert sops == set(range(1, 63))
    services = set(catalog["services"])
    for i, row in enumerate(rows):
        exp = row["expected"]
        where = f"row {i}: {row['question']!r}"
        for n in exp["sop"]:
            assert isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 62, where
        for s in exp["service"]:
            assert s in services, f"unknown service {s!r} in {where}"
        for t in exp["topic"]:
            assert t in TOPICS, f"unknown topic {t!r} in {where}"


def test_expected_matches_type(rows: list[dict]) -> None:
    for i, row in enumerate(rows):
        exp = row["expected"]
        total = len(exp["sop"]) + len(exp["service"]) + len(exp["topic"])
        where = f"row {i}: {row['question']!r}"
        if row["type"] == "in_scope":
            assert total > 0, f"in_scope without an expected answer: {where}"
        else:
            assert total == 0, f"{row['type']} must have empty expected: {where}"


def test_counts_per_type(rows: list[dict]) -> None:
    counts = Counter(row["type"] for row in rows)
    for kind, minimum in MIN_COUNTS.items():
        assert counts[kind] >= minimum, f"{kind}: {counts[kind]} < {minimum}"


def test_every_sop_covered(rows: list[dict]) -> None:
    cover: Counter[int] = Counter()
    for row in rows:
        sops = row["expected"]["sop"]
        if len(sops) <= SPECIFIC_MAX_SOPS:
            cover.update(sops)
    missing = {n: cover[n] for n in range(1, 63) if cover[n] < MIN_SOP_COVERAGE}
    assert not missing, f"SOPs covered fewer than {MIN_SOP_COVERAGE} times: {missing}"


def test_every_service_and_topic_covered(rows: list[dict], catalog: dict) -> None:
    services: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for row in rows:
        services.update(row["expected"]["service"])
        topics.update(row["expected"]["topic"])
    low_s = {s: services[s] for s in catalog["services"] if services[s] < MIN_SERVICE_COVERAGE}
    low_t = {t: topics[t] for t in sorted(TOPICS) if topics[t] < MIN_TOPIC_COVERAGE}
    assert not low_s, f"services covered fewer than {MIN_SERVICE_COVERAGE} times: {low_s}"
    assert not low_t, f"topics covered fewer than {MIN_TOPIC_COVERAGE} times: {low_t}"


def test_no_duplicate_questions(rows: list[dict]) -> None:
    normed = [_norm(row["question"]) or row["question"].strip() for row in rows]
    dups = [q for q, c in Counter(normed).items() if c > 1]
    assert not dups, f"duplicate questions: {dups}"
    near = []
    for i in range(len(normed)):
        for j in range(i + 1, len(normed)):
            a, b = normed[i], normed[j]
            if min(len(a), len(b)) < 12:
                continue
            sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
            if sm.real_quick_ratio() < NEAR_DUPLICATE_RATIO or sm.quick_ratio() < NEAR_DUPLICATE_RATIO:
                continue
            if sm.ratio() >= NEAR_DUPLICATE_RATIO:
                near.append((a, b))
    assert not near, f"near-identical questions: {near}"
