"""Question matching: informal chat question -> knowledge-base entry (see knowledge/ENGINE.md).

    engine = Engine.build(kb.entries.values())      # once per KB load / reload (~1 s)
    result = engine.ask("kgb sy kapan")              # pure, thread-safe, ~1 ms

Pipeline: small talk? -> strip a leading greeting / trailing thanks -> normalise
(knowledge/normalize.py: glossary, golongan forms, slang, typo repair, stemming) -> score every
entry -> decide. Scoring (reference note §3.3), per entry:
    score = W_CHAR     * char n-gram TF-IDF cosine, best of its title / keywords / example questions
          + W_BM25     * BM25 (bm25s, Lucene IDF) over title x2 + keywords + example questions,
                         divided by the best score each query term can reach (so in [0, 1]);
                         query words the KB does not know add to the divisor
          + W_SUMMARY  * the same over summary + eligibility (lower weight)
          + W_COVERAGE * IDF-weighted share of the question's words the entry contains
          +/- LEVEL_BONUS when the entry's golongan/eselon/tingkat range (from its title) contains
                         / excludes the one asked about
rapidfuzz token_set_ratio only breaks ties (never WRatio/partial ratios: they rate unrelated
text 60-100). The decision uses the calibrated THRESHOLDS and the top entry's coverage.
"""
from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bm25s
import numpy as np
import yaml
from rapidfuzz import fuzz

from knowledge.model import Entry
from knowledge.normalize import (
    GLOSSARY_PATH,
    LEXICON_PATH,
    Analysis,
    Normalizer,
    clean,
    squeeze_variants,
)

SMALLTALK_PATH = Path(__file__).resolve().parent / "smalltalk.yaml"
GREETING_KINDS = ("salam", "sapa", "terima_kasih", "pamit")  # stripped around a question

Outcome = Literal["answer", "clarify", "abstain", "smalltalk"]

# Weights of the fused score (calibrated on the eval set, see ENGINE.md): the char
# n-gram cosine is bounded and absorbs leftover typos/affixes; BM25 rewards rare, discriminative
# words; coverage is the share of the question (IDF-weighted) the entry explains.
W_CHAR = 0.4
W_BM25 = 0.2
W_SUMMARY = 0.1
W_COVERAGE = 0.1

# Decision thresholds on the fused score, calibrated on tests/kb_eval/questions.json (ENGINE.md):
THRESHOLDS: dict[str, float] = {
    "answer": 0.35,    # top score >= answer and a clear lead -> answer
    "abstain": 0.25,   # top score below -> abstain ("belum tahu", hand over)
    "coverage": 0.25,  # top entry explains less of the question than this -> abstain
    "margin": 0.03,    # entries within this of the top are "close": 2-4 close -> clarify
}
MAX_CLARIFY = 4
MAX_QUESTION_CHARS = 1000  # longer messages are cut: a question is rarely longer, and time is bounded
LEVEL_BONUS = 0.10  # golongan/eselon/tingkat fit, see Engine.level_fit
FOREIGN_WEIGHT = 2.0  # an out-of-scope term (glossary) weighs as 2 unknown rare words in coverage

BM25_K1 = 1.2
BM25_B = 0.75
TITLE_REPEAT = 2  # the title counts twice in the BM25 document


@dataclass(frozen=True)
class Scored:
    entry_id: str
    score: float


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    candidates: list[Scored]
    normalized: str
    smalltalk_reply: str | None = None
    intent: str | None = None


# ---------------------------------------------------------------------------------------------
# char n-gram TF-IDF (hand-written: ~30 lines of numpy; scikit-learn would add scipy + sklearn
# for one vectoriser). Same definition as TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5),
# sublinear_tf=True, smooth_idf=True, norm="l2").
# ---------------------------------------------------------------------------------------------
def char_ngrams(text: str, lo: int = 3, hi: int = 5) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in text.split():
        w = f" {word} "
        # Counter.update counts a list in C; same n-grams, in the same order, as a loop would.
        grams.update([w[i:i + n] for n in range(lo, min(hi, len(w)) + 1) for i in range(len(w) - n + 1)])
    return grams


class CharTfidf:
    """Documents x n-grams as a column-compressed matrix in plain numpy arrays, so a query is
    a few vectorised gathers (no Python loop over its n-grams' postings)."""

    def __init__(self, docs: list[str]) -> None:
        counts = [char_ngrams(d) for d in docs]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        n = len(docs)
        self.n = n
        self.vocab = {g: i for i, g in enumerate(df)}
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in df])
        self.idf_unseen = math.log(1 + n) + 1.0  # an n-gram no document has (df = 0)
        cols: list[list[tuple[int, float]]] = [[] for _ in df]
        for d, c in enumerate(counts):
            ids = [self.vocab[g] for g in c]
            w = np.array([1.0 + math.log(tf) for tf in c.values()]) * self.idf[ids]
            w /= np.linalg.norm(w) or 1.0
            for i, v in zip(ids, w):
                cols[i].append((d, float(v)))
        self.indptr = np.zeros(len(cols) + 1, dtype=np.int64)
        self.indptr[1:] = np.cumsum([len(c) for c in cols])
        self.indices = np.array([d for c in cols for d, _ in c], dtype=np.int64)
        self.data = np.array([v for c in cols for _, v in c], dtype=np.float64)

    def cosine(self, text: str) -> np.ndarray:
        """Cosine of `text` with every document (unseen n-grams count in the query norm)."""
        c = char_ngrams(text)
        if not c:
            return np.zeros(self.n)
        vocab = self.vocab
        ids = np.array([vocab.get(g, -1) for g in c], dtype=np.int64)
        tf = np.fromiter(c.values(), dtype=np.float64, count=len(c))
        known = ids >= 0
        w = (1.0 + np.log(tf)) * np.where(known, self.idf[np.maximum(ids, 0)], self.idf_unseen)
        w /= np.linalg.norm(w)
        ids, w = ids[known], w[known]
        if not len(ids):
            return np.zeros(self.n)
        starts = self.indptr[ids]
        lens = self.indptr[ids + 1] - starts
        offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
        return np.bincount(self.indices[offsets], weights=self.data[offsets] * np.repeat(w, lens),
                           minlength=self.n)


class Bm25:
    """bm25s (lucene IDF, always positive) plus what's needed to bound its score to [0, 1]."""

    def __init__(self, docs: list[list[str]]) -> None:
        self.model = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
        self.n = len(docs)
        if docs:
            self.model.index([d or [""] for d in docs], show_progress=False)
        self.vocab = set(getattr(self.model, "vocab_dict", None) or ()) - {""}
        # best score each term reaches in any document: the per-term upper bound
        self.term_max = {t: float(self.model.get_scores([t]).max()) for t in self.vocab}
        self.unknown_weight = float(np.percentile(list(self.term_max.values()), 75)) if self.term_max else 1.0

    def scores(self, terms: Iterable[str]) -> np.ndarray:
        """Sum of term scores / sum of their best scores; unknown terms add to the denominator."""
        terms = list(dict.fromkeys(terms))
        known = [t for t in terms if t in self.vocab]
        denom = sum(self.term_max[t] for t in known) + self.unknown_weight * (len(terms) - len(known))
        if not known or denom <= 0:
            return np.zeros(self.n)
        return self.model.get_scores(known) / denom


# ---------------------------------------------------------------------------------------------
# small talk
# ---------------------------------------------------------------------------------------------
@dataclass
class Smalltalk:
    kinds: list[tuple[str, set[tuple[str, ...]], list[str]]] = field(default_factory=list)
    filler: frozenset[str] = frozenset()
    max_len: int = 1
    # Lookups derived from `kinds`, built once: each message is checked against them.
    kind_of: dict[tuple[str, ...], str] = field(init=False, repr=False)
    _patterns: dict[tuple[str, ...], frozenset[tuple[str, ...]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind_of = {}
        for name, pats, _ in self.kinds:  # a pattern of two kinds belongs to the first listed
            for p in pats:
                self.kind_of.setdefault(p, name)
        self._patterns = {}

    def patterns(self, kinds: Iterable[str]) -> frozenset[tuple[str, ...]]:
        key = tuple(kinds)
        found = self._patterns.get(key)
        if found is None:
            found = self._patterns[key] = frozenset(p for name, ps, _ in self.kinds if name in key for p in ps)
        return found

    @classmethod
    def load(cls, path: Path) -> Smalltalk:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        kinds = []
        for name, spec in (data.get("kinds") or {}).items():
            pats = {tuple(_squeeze_all(clean(str(p)))) for p in spec.get("patterns") or []}
            kinds.append((str(name), {p for p in pats if p}, [str(r) for r in spec.get("replies") or []]))
        filler = frozenset(t for w in data.get("filler") or [] for t in clean(str(w)))
        max_len = max((len(p) for _, pats, _ in kinds for p in pats), default=1)
        return cls(kinds, filler, max_len)

    def words(self, kinds: Iterable[str]) -> set[str]:
        return {t for name, pats, _ in self.kinds if name in kinds for p in pats for t in p}

    def strip(self, text: str, kinds: Iterable[str]) -> str:
        """The message without a leading greeting and a trailing thanks ("pagi pak, ... ,
        makasih ya"), so that the question's own words decide. Only runs made of patterns of
        `kinds` and filler words, with at least one pattern, are removed."""
        raw = clean(text)
        toks = _squeeze_all(raw)
        pats = self.patterns(kinds)

        def parse(seq: list[str]) -> tuple[int, int]:
            """(tokens consumed from the start by patterns/filler, end of the last pattern)."""
            i, end = 0, 0
            while i < len(seq):
                n = next((n for n in range(min(self.max_len, len(seq) - i), 0, -1)
                          if tuple(seq[i:i + n]) in pats), 0)
                if n:
                    i += n
                    end = i
                elif seq[i] in self.filler:
                    i += 1
                else:
                    break
            return i, end

        start = parse(toks)[1]
        stop = len(toks)
        for j in range(max(start + 1, len(toks) - 12), len(toks)):  # a closing is short
            used, end = parse(toks[j:])
            if used == len(toks) - j and end:
                stop = j
                break
        return " ".join(raw[start:stop])

    def match(self, text: str) -> str | None:
        """The reply if the message is purely small talk, else None."""
        toks = _squeeze_all(clean(text))
        if not toks:
            return None
        found: list[str] = []
        i = 0
        while i < len(toks):
            for n in range(min(self.max_len, len(toks) - i), 0, -1):
                key = tuple(toks[i:i + n])
                kind = self.kind_of.get(key)
                if kind:
                    found.append(kind)
                    i += n
                    break
            else:
                if toks[i] not in self.filler:
                    return None
                i += 1
        if not found:
            return None
        order = [name for name, _, _ in self.kinds]
        kind = min(found, key=order.index)
        replies = next(r for name, _, r in self.kinds if name == kind)
        if not replies:
            return None
        return replies[zlib.crc32(" ".join(toks).encode()) % len(replies)]  # stable choice


def _squeeze_all(toks: list[str]) -> list[str]:
    return [squeeze_variants(t)[-1] if len(squeeze_variants(t)) > 1 else t for t in toks]


# ---------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------
class Engine:
    thresholds: dict[str, float] = THRESHOLDS

    def __init__(self) -> None:  # use Engine.build
        self.thresholds = dict(THRESHOLDS)
        self.ids: list[str] = []
        self.entries: dict[str, Entry] = {}

    @classmethod
    def build(cls, entries: Iterable[Entry], *, glossary_path: Path = GLOSSARY_PATH,
              lexicon_path: Path = LEXICON_PATH, smalltalk_path: Path = SMALLTALK_PATH,
              thresholds: dict[str, float] | None = None) -> Engine:
        self = cls()
        if thresholds:  # for experiments and tests; production uses the calibrated values
            self.thresholds.update(thresholds)
        entries = sorted(entries, key=lambda e: e.id)
        self.ids = [e.id for e in entries]
        self.entries = {e.id: e for e in entries}
        self.smalltalk = Smalltalk.load(smalltalk_path)
        norm = Normalizer(glossary_path=glossary_path, lexicon_path=lexicon_path)
        self.norm = norm

        # pass 1: the formal vocabulary (typo-repair targets), without repair
        formal: set[str] = set()
        for e in entries:
            texts = [e.title, e.summary, e.eligibility, *e.keywords,
                     *(r.item for r in e.requirements), *e.steps]
            for t in texts:
                formal.update(norm.analyze(t, repair=False).tokens)
        norm.set_vocabulary(formal)

        # pass 2: index texts with repair (example questions carry typos on purpose)
        units: list[str] = []     # char n-gram units: title, each keyword, each question
        unit_entry: list[int] = []
        docs: list[list[str]] = []
        sums: list[list[str]] = []
        indexed: set[str] = set()
        for k, e in enumerate(entries):
            title = norm.analyze(e.title)
            rest = [norm.analyze(t) for t in (*e.keywords, *e.questions)]
            doc = [t for a in [title] * TITLE_REPEAT + rest for t in a.terms]
            units.append(title.text or e.id)  # every entry has a unit: its title comes first
            unit_entry.append(k)
            for a in rest:
                if a.tokens:
                    units.append(a.text)
                    unit_entry.append(k)
            for a in (title, *rest):
                indexed.update(a.tokens)
            s = norm.analyze(f"{e.summary} {e.eligibility}")
            indexed.update(s.tokens)
            docs.append(doc)
            sums.append(list(s.terms))
        norm.set_vocabulary(formal, indexed)
        # greetings inside a question ("halo min, ...") are not content words
        self.greeting_words = frozenset(
            self.smalltalk.words(GREETING_KINDS) - indexed)

        # coverage: which entries contain each term (title, keywords, questions, summary)
        df: Counter[str] = Counter()
        self.entry_terms = [frozenset(d) | frozenset(sm) for d, sm in zip(docs, sums)]
        for ts in self.entry_terms:
            df.update(ts)
        n = len(entries)
        self.idf_max = math.log(1 + (n + 0.5) / 0.5)
        self.idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
        self.term_entries = {t: np.zeros(n, dtype=bool) for t in df}
        for k, ts in enumerate(self.entry_terms):
            for t in ts:
                self.term_entries[t][k] = True
        # golongan/eselon/tingkat an entry is for, from its title ("... III/d ke Bawah")
        self.entry_levels = [norm.analyze(e.title).level_sets() for e in entries]
        self.bm25 = Bm25(docs)
        self.bm25_summary = Bm25(sums)
        self.char = CharTfidf(units)
        self.unit_entry = np.asarray(unit_entry, dtype=np.int64)
        self.unit_texts = units
        # units are appended entry by entry and every entry has its title: contiguous runs
        self.unit_start = np.searchsorted(self.unit_entry, np.arange(len(entries)))
        self.title_unit = {k: int(i) for k, i in enumerate(self.unit_start)}
        self.n = len(entries)
        return self

    # -- scoring -------------------------------------------------------------------------------
    def analyze(self, question: str) -> Analysis:
        a = self.norm.analyze(self.smalltalk.strip(question, GREETING_KINDS))
        if any(t in self.greeting_words for t in a.tokens):
            toks = tuple(t for t in a.tokens if t not in self.greeting_words)
            terms = tuple(t for t in a.terms if t not in self.greeting_words)
            unknown = tuple(t for t in a.unknown if t not in self.greeting_words)
            a = Analysis(toks, terms, a.intent, unknown, a.levels, a.foreign)
        return a

    def coverage(self, a: Analysis) -> np.ndarray:
        """Per entry: the IDF-weighted share of the question's words the entry contains (a word
        counts when its surface form or its stem is there); unknown words weigh the most."""
        if not a.tokens:
            return np.zeros(self.n)
        got = np.zeros(self.n)
        total = 0.0
        for tok in dict.fromkeys(a.tokens):
            st = self.norm.stem(tok)
            has = self.term_entries.get(tok)
            if st != tok and st in self.term_entries:
                has = self.term_entries[st] if has is None else (has | self.term_entries[st])
            w = max(self.idf.get(tok, 0.0), self.idf.get(st, 0.0)) if has is not None else self.idf_max
            total += w
            if has is not None:
                got += w * has
        total += FOREIGN_WEIGHT * self.idf_max * a.foreign
        return got / total if total else got

    def components(self, a: Analysis) -> dict[str, np.ndarray]:
        """The per-entry features (order of self.ids) and their fused `score`."""
        z = np.zeros(self.n)
        if not a.tokens or self.n == 0:
            return {"score": z, "char": z, "bm25": z, "summary": z, "coverage": z, "level": z}
        char = np.maximum.reduceat(self.char.cosine(a.text), self.unit_start)  # best unit
        f = {"char": char, "bm25": self.bm25.scores(a.terms),
             "summary": self.bm25_summary.scores(a.terms), "coverage": self.coverage(a),
             "level": self.level_fit(a)}
        f["score"] = (W_CHAR * f["char"] + W_BM25 * f["bm25"] + W_SUMMARY * f["summary"]
                      + W_COVERAGE * f["coverage"] + f["level"])
        return f

    def level_fit(self, a: Analysis) -> np.ndarray:
        """+LEVEL_BONUS for an entry whose title's golongan/eselon/tingkat range contains the
        one asked about, -LEVEL_BONUS when it excludes it; 0 when either side names none."""
        fit = np.zeros(self.n)
        q = a.level_sets()
        if not q:
            return fit
        for k, lv in enumerate(self.entry_levels):
            for fam, vals in q.items():
                if fam in lv:
                    fit[k] += LEVEL_BONUS if vals & lv[fam] else -LEVEL_BONUS
        return fit

    def rank(self, a: Analysis, k: int = 5) -> tuple[list[Scored], float, set[str]]:
        """Top-k entries, best first; the coverage of the best one; the ids among them whose
        golongan/eselon/tingkat fits the one asked about."""
        f = self.components(a)
        s = f["score"]
        if not self.n:
            return [], 0.0, set()
        top = np.argsort(-s, kind="stable")[: max(k, MAX_CLARIFY + 1)]
        # near-equal scores: token_set_ratio against the title breaks the tie. Worked out only
        # for scores that do tie: elsewhere it cannot change the order, and it was a tenth of
        # the search's CPU.
        rounded = {i: round(float(s[i]), 3) for i in top}
        ties = Counter(rounded.values())
        top = sorted(top, key=lambda i: (
            -rounded[i],
            -fuzz.token_set_ratio(a.text, self.unit_texts[self.title_unit[i]]) if ties[rounded[i]] > 1 else 0))
        ranked = [Scored(self.ids[i], round(float(s[i]), 4)) for i in top[:k]]
        fits = {self.ids[i] for i in top[:k] if f["level"][i] > 0}
        return ranked, float(f["coverage"][top[0]]), fits

    # -- decision ------------------------------------------------------------------------------
    def ask(self, question: str) -> Result:
        question = question[:MAX_QUESTION_CHARS]
        reply = self.smalltalk.match(question)
        if reply is not None:
            return Result("smalltalk", [], " ".join(clean(question)), reply, None)
        a = self.analyze(question)
        ranked, coverage, fits = self.rank(a, k=MAX_CLARIFY + 1)
        return self.decide(a, ranked, coverage, fits)

    def decide(self, a: Analysis, ranked: list[Scored], coverage: float,
               fits: set[str] = frozenset()) -> Result:
        """answer / clarify / abstain from the ranked entries (see THRESHOLDS). `fits`: entries
        whose golongan/eselon/tingkat matches the question: they beat a close overview."""
        th = self.thresholds
        text = a.text
        if not ranked or not a.tokens:
            return Result("abstain", ranked[:3], text, None, a.intent)
        s1 = ranked[0].score
        if s1 < th["abstain"] or coverage < th["coverage"]:
            return Result("abstain", ranked[:3], text, None, a.intent)
        close = [c for c in ranked[:MAX_CLARIFY] if c.score >= s1 - th["margin"]]
        if len(close) > 1 and any(c.entry_id in fits for c in close):
            # "kp 3c ke 3d": the question names a golongan, so the specific SOP beats the overview
            close = [c for c in close if c.entry_id in fits or not c.entry_id.startswith("layanan-")]
            if len(close) == 1 and s1 >= th["answer"]:
                rest = [c for c in ranked if c.entry_id != close[0].entry_id]
                return Result("answer", [close[0], *rest], text, None, a.intent)
        if len(close) > 1:
            overview = self._overview_of(close)
            if overview is not None and s1 >= th["answer"]:
                rest = [c for c in ranked if c.entry_id != overview.entry_id]
                return Result("answer", [overview, *rest], text, None, a.intent)
            return Result("clarify", close, text, None, a.intent)
        if s1 >= th["answer"]:
            return Result("answer", ranked, text, None, a.intent)
        return Result("clarify", ranked[:3], text, None, a.intent)

    def _overview_of(self, close: list[Scored]) -> Scored | None:
        """The service overview (`layanan-<service>`) among close candidates that all belong to
        that one service: it answers a generic question about the service."""
        services = {self.entries[c.entry_id].service for c in close}
        if len(services) != 1 or None in services:
            return None
        (service,) = services
        return next((c for c in close if c.entry_id == f"layanan-{service}"), None)
