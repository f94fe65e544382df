"""The small intent lists: asking for a person, asking about one's own data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.handoff import wants_human
from knowledge.personal import personal_topic

EVAL = Path(__file__).resolve().parent / "kb_eval" / "questions.json"


@pytest.mark.parametrize(("text", "expected"), [
    ("saya mau bicara dengan petugas", True), ("minta cs dong", True), ("admin", True),
    ("tolong sambungkan ke operator", True), ("petugas bkpsdm jam kerja berapa", False),
    ("saya staf pelaksana mau cuti tahunan", False), ("syarat kgb apa min", False), ("", False),
])
def test_wants_human(text: str, expected: bool) -> None:
    assert wants_human(text) is expected


def test_no_service_question_of_the_eval_set_is_taken_for_a_request_for_a_person() -> None:
    questions = [q["question"] for q in json.loads(EVAL.read_text(encoding="utf-8"))]
    assert [q for q in questions if wants_human(q)] == []


@pytest.mark.parametrize(("text", "topic"), [
    ("kapan KGB saya?", "kgb"), ("kapan saya naik pangkat?", "kp"), ("sy pensiun thn berapa ya", "pensiun"),
    ("sisa cuti saya berapa?", "saldo-cuti"), ("syarat kgb apa", None), ("kapan periode kenaikan pangkat", None),
    ("berapa lama cuti melahirkan", None),
])
def test_personal_topic(text: str, topic: str | None) -> None:
    assert personal_topic(text) == topic
