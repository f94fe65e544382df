"""Question matching on the evaluation set: the engine against a naive baseline.

    .venv/bin/python benchmarks/kb_eval.py [--misses] [--questions PATH]

Prints, for knowledge/engine.py and for the baseline (rapidfuzz WRatio with default_process
against the entry titles alone, always answering its top-1): in-scope top-1 accuracy (a
clarification counts when a correct entry is offered), clarify rate, abstain precision/recall
(abstaining = saying "out of scope"), small talk, and latency per question (p50/p99; the first
pass is cold: new words are stemmed once, then cached).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz, process, utils

from knowledge.engine import Engine, Result, Scored
from tests.test_kb_accuracy import EVAL_PATH, evaluate, load_entries, load_questions


class WRatioBaseline:
    """rapidfuzz WRatio over titles, top-1, no threshold: what a first attempt looks like."""

    def __init__(self, entries) -> None:
        self.ids = [e.id for e in entries]
        self.titles = [e.title for e in entries]

    def ask(self, question: str) -> Result:
        best = process.extractOne(question, self.titles, scorer=fuzz.WRatio,
                                  processor=utils.default_process)
        if best is None:
            return Result("abstain", [], question)
        _, score, i = best
        return Result("answer", [Scored(self.ids[i], score / 100)], question)


def latency(ask, questions: list[str]) -> tuple[float, float, float]:
    """(cold p99, warm p50, warm p99) in milliseconds."""
    def one_pass() -> list[float]:
        out = []
        for q in questions:
            t = time.perf_counter()
            ask(q)
            out.append((time.perf_counter() - t) * 1000)
        return out

    def p(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]

    cold = one_pass()
    warm = [x for _ in range(3) for x in one_pass()]
    return p(cold, 0.99), statistics.median(warm), p(warm, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=Path, default=EVAL_PATH)
    ap.add_argument("--misses", action="store_true", help="list the engine's misses")
    args = ap.parse_args()

    entries = load_entries()
    questions = load_questions(args.questions)
    t = time.perf_counter()
    engine = Engine.build(entries.values())
    build_ms = (time.perf_counter() - t) * 1000
    baseline = WRatioBaseline(entries.values())
    texts = [q["question"] for q in questions]
    print(f"{len(entries)} entries, {len(questions)} questions "
          f"({sum(q['type'] == 'in_scope' for q in questions)} in scope, "
          f"{sum(q['type'] == 'out_of_scope' for q in questions)} out of scope, "
          f"{sum(q['type'] == 'smalltalk' for q in questions)} small talk); "
          f"engine build {build_ms:.0f} ms")
    print(f"thresholds: {engine.thresholds}")
    header = (f"{'':22} {'top-1':>7} {'clarify':>8} {'wrong':>6} {'abst.P':>7} {'abst.R':>7} "
              f"{'smalltalk':>9} {'cold p99':>9} {'p50':>7} {'p99':>7}")
    print(header)
    reports = {}
    for name, ask in (("engine", engine.ask), ("baseline WRatio/title", baseline.ask)):
        rep = evaluate(ask, entries, questions)
        cold99, p50, p99 = latency(ask, texts)
        reports[name] = rep
        print(f"{name:22} {rep.accuracy:7.1%} {rep.clarify_rate:8.1%} {rep.answered_wrong:6d} "
              f"{rep.abstain_precision:7.1%} {rep.oos_abstain:7.1%} {rep.smalltalk:9.0%} "
              f"{cold99:7.2f}ms {p50:5.2f}ms {p99:5.2f}ms")
    print("engine:", reports["engine"].summary())
    if args.misses:
        print("\n".join(reports["engine"].misses))


if __name__ == "__main__":
    main()
