"""Accuracy of the question-matching engine on the hand-written evaluation set
tests/kb_eval/questions.json (see its README for when an answer counts as correct).

The bar (knowledge/ENGINE.md): in-scope top-1 >= 92 % (a clarification counts when a correct
entry is offered), clarification on <= 15 % of in-scope questions, out-of-scope abstained
>= 90 %, small talk 100 %. benchmarks/kb_eval.py prints the full figures and the baseline.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from knowledge.engine import Engine, Result
from knowledge.model import Entry

ROOT = Path(__file__).resolve().parent.parent
EVAL_PATH = ROOT / "tests" / "kb_eval" / "questions.json"
ENTRIES_DIR = ROOT / "knowledge" / "entries"

MIN_TOP1 = 0.92
MAX_CLARIFY = 0.15
MIN_OOS_ABSTAIN = 0.90
MIN_SMALLTALK = 1.00


def load_entries() -> dict[str, Entry]:
    """The real KB through knowledge.kb.load_kb(); while the KB is still incomplete (load_kb
    refuses it), every entry file that parses on its own."""
    try:
        from knowledge.kb import load_kb

        return dict(load_kb().entries)
    except Exception:  # noqa: BLE001 - incomplete KB during writing: fall back to the files
        entries: dict[str, Entry] = {}
        for path in sorted(ENTRIES_DIR.glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                entry = Entry.model_validate(data)
            except Exception:  # noqa: BLE001, S112 - a file being written right now
                continue
            entries[entry.id] = entry
        return entries


def load_questions(path: Path = EVAL_PATH) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def is_correct(entry: Entry, expected: dict) -> bool:
    return (bool(set(entry.sop) & set(expected.get("sop") or []))
            or entry.service in set(expected.get("service") or [])
            or entry.id in set(expected.get("topic") or []))


@dataclass
class Report:
    n_in: int = 0
    top1: int = 0          # answered correctly, or a correct entry among the clarification
    answered_wrong: int = 0
    clarified: int = 0
    in_abstained: int = 0
    n_oos: int = 0
    oos_abstained: int = 0
    n_small: int = 0
    small_ok: int = 0
    misses: list[str] = field(default_factory=list)

    def rate(self, a: int, b: int) -> float:
        return a / b if b else 0.0

    @property
    def accuracy(self) -> float:
        return self.rate(self.top1, self.n_in)

    @property
    def clarify_rate(self) -> float:
        return self.rate(self.clarified, self.n_in)

    @property
    def oos_abstain(self) -> float:
        return self.rate(self.oos_abstained, self.n_oos)

    @property
    def smalltalk(self) -> float:
        return self.rate(self.small_ok, self.n_small)

    @property
    def abstain_precision(self) -> float:
        """Of all abstentions on in-scope + out-of-scope questions, the share that were OOS."""
        return self.rate(self.oos_abstained, self.oos_abstained + self.in_abstained)

    def summary(self) -> str:
        return (f"in-scope top-1 {self.accuracy:.1%} ({self.top1}/{self.n_in}), "
                f"clarify {self.clarify_rate:.1%}, wrong answers {self.answered_wrong}, "
                f"in-scope abstained {self.in_abstained}; out-of-scope abstained "
                f"{self.oos_abstain:.1%} ({self.oos_abstained}/{self.n_oos}); small talk "
                f"{self.smalltalk:.0%} ({self.small_ok}/{self.n_small})")


def evaluate(ask: Callable[[str], Result], entries: dict[str, Entry],
             questions: list[dict]) -> Report:
    rep = Report()
    for q in questions:
        res = ask(q["question"])
        kind, exp = q["type"], q.get("expected") or {}
        got = ", ".join(f"{c.entry_id}:{c.score:.2f}" for c in res.candidates[:4])
        line = f"[{kind}] {q['question']!r} -> {res.outcome} [{got}] | {res.normalized!r}"
        if kind == "in_scope":
            rep.n_in += 1
            want = f" | expected {exp}"
            if res.outcome == "answer":
                if is_correct(entries[res.candidates[0].entry_id], exp):
                    rep.top1 += 1
                else:
                    rep.answered_wrong += 1
                    rep.misses.append(line + want)
            elif res.outcome == "clarify":
                rep.clarified += 1
                if any(is_correct(entries[c.entry_id], exp) for c in res.candidates):
                    rep.top1 += 1
                else:
                    rep.misses.append(line + want)
            else:
                rep.in_abstained += res.outcome == "abstain"
                rep.misses.append(line + want)
        elif kind == "out_of_scope":
            rep.n_oos += 1
            if res.outcome == "abstain":
                rep.oos_abstained += 1
            else:
                rep.misses.append(line)
        else:
            rep.n_small += 1
            if res.outcome == "smalltalk":
                rep.small_ok += 1
            else:
                rep.misses.append(line)
    return rep


@lru_cache(maxsize=1)
def _engine_and_entries() -> tuple[Engine, dict[str, Entry]]:
    entries = load_entries()
    return Engine.build(entries.values()), entries


@pytest.mark.skipif(not EVAL_PATH.exists(), reason="tests/kb_eval/questions.json not written yet")
def test_engine_meets_the_accuracy_bar() -> None:
    engine, entries = _engine_and_entries()
    assert entries, "no knowledge-base entry could be loaded"
    rep = evaluate(engine.ask, entries, load_questions())
    print("\n" + rep.summary())
    ok = (rep.accuracy >= MIN_TOP1 and rep.clarify_rate <= MAX_CLARIFY
          and rep.oos_abstain >= MIN_OOS_ABSTAIN and rep.smalltalk >= MIN_SMALLTALK)
    if not ok:
        print(f"\n{len(rep.misses)} misses ({len(entries)} entries loaded):")
        print("\n".join(rep.misses))
    assert rep.accuracy >= MIN_TOP1, rep.summary()
    assert rep.clarify_rate <= MAX_CLARIFY, rep.summary()
    assert rep.oos_abstain >= MIN_OOS_ABSTAIN, rep.summary()
    assert rep.smalltalk >= MIN_SMALLTALK, rep.summary()


@pytest.mark.skipif(not EVAL_PATH.exists(), reason="tests/kb_eval/questions.json not written yet")
def test_near_equal_scores_are_ordered_by_how_close_the_question_is_to_the_title() -> None:
    """Engine.rank: candidates whose scores round to the same three decimals are ordered by
    token_set_ratio against their title (the tie-break), whatever their order in the index;
    the others strictly by score."""
    from rapidfuzz import fuzz

    engine, _ = _engine_and_entries()
    index = {entry_id: i for i, entry_id in enumerate(engine.ids)}
    ties = 0
    for q in load_questions():
        a = engine.analyze(q["question"])
        if not a.tokens:
            continue
        ranked, _, _ = engine.rank(a, k=8)
        score = engine.components(a)["score"]
        for x, y in zip(ranked, ranked[1:]):
            i, j = index[x.entry_id], index[y.entry_id]
            si, sj = round(float(score[i]), 3), round(float(score[j]), 3)
            assert si >= sj, (q["question"], x, y)
            if si == sj:
                ties += 1
                title_fit = [fuzz.token_set_ratio(a.text, engine.unit_texts[engine.title_unit[k]]) for k in (i, j)]
                assert title_fit[0] >= title_fit[1], (q["question"], x, y, title_fit)
    assert ties >= 10  # the set has such ties, so the order above was really tested
