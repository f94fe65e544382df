"""Normalisation of informal Indonesian chat text for question matching (see knowledge/ENGINE.md).

Pipeline: clean-up -> domain glossary (protected terms) -> golongan/eselon levels -> slang
(glossary `slang`, then IndoCollex) -> typo repair against the KB vocabulary -> Sastrawi stem.
Pure and thread-safe once built; the only mutable state is the LRU cache of the stemmer.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

HERE = Path(__file__).resolve().parent
GLOSSARY_PATH = HERE / "glossary.yaml"
LEXICON_PATH = HERE / "lexicon" / "indocollex" / "inforformal-formal-Indonesian-dictionary.tsv"

# Typo-repair cut-offs (fuzz.ratio, 0-100), from the reference note §2: 75 repairs
# pangakt/kenaikn/pensium/taspem/ijasah; 80 for 5-letter tokens ("rina" -> "ringan" style guesses).
TYPO_CUTOFF = 75.0
TYPO_CUTOFF_SHORT = 80.0
TYPO_MIN_LEN = 5  # shorter tokens are abbreviations or names more often than typos

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:/[a-z0-9]+)*")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+")
_REPEAT3_RE = re.compile(r"([a-z])\1{2,}")
_REDUP_RE = re.compile(r"^([a-z]{3,})2$")  # "kata2" -> "kata kata"

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_LEVEL_RE = re.compile(r"^(iv|iii|ii|i|[1-4])/?([a-e])?$")
# words that give a following number its meaning; value = token prefix
_LEVEL_CONTEXT = {
    "gol": "gol", "golongan": "gol", "ruang": "gol",
    "eselon": "eselon", "es": "eselon",
    "tk": "tk", "tingkat": "tk", "diklatpim": "tk",
}
_LEVEL_KEEP = {"golongan": "golongan", "gol": "golongan", "eselon": "eselon", "es": "eselon",
               "diklatpim": "diklatpim"}  # context words kept as tokens themselves
_LEVEL_JOIN = {"dan", "atau", "ke", "dari", "sampai", "hingga", "sd", "s/d", "s", "d", "menjadi",
               "jadi", "keatas", "kebawah"}
_RANGE_WORDS = {"sampai", "hingga", "sd", "s/d"}
LEVEL_TOKEN_RE = re.compile(r"^(gol|eselon|tk)([1-4])([a-e])?$")
RUANG = {1: "abcd", 2: "abcd", 3: "abcd", 4: "abcde"}  # ruang of each golongan


@dataclass(frozen=True)
class Analysis:
    """One normalised text. `tokens`: matching tokens (surface form); `terms`: tokens plus
    their stems, for BM25; `intent`: section asked for, if a question word said so."""

    tokens: tuple[str, ...]
    terms: tuple[str, ...]
    intent: str | None
    unknown: tuple[str, ...]  # matching tokens found neither in the KB nor in a dictionary
    levels: tuple[str, ...] = ()  # golongan/eselon/tingkat tokens (gol3c, eselon4, tk2)
    foreign: int = 0  # glossary `out_of_scope` terms found (other agencies' services, chat)

    def level_sets(self) -> dict[str, frozenset[str]]:
        """{"gol": {"3a", ...}, "eselon": {"4"}, "tk": {"2"}}: "gol3" stands for 3a-3d."""
        out: dict[str, set[str]] = {}
        for tok in self.levels:
            m = LEVEL_TOKEN_RE.match(tok)
            if not m:
                continue
            fam, n, r = m.groups()
            vals = out.setdefault(fam, set())
            if fam == "gol":
                vals.update([f"{n}{r}"] if r else [f"{n}{c}" for c in RUANG[int(n)]])
            else:
                vals.add(n)
        return {k: frozenset(v) for k, v in out.items()}

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def clean(text: str) -> list[str]:
    """Lower-case, drop URLs/emoji/punctuation, squeeze letter runs; keep "iv/a" and "s/d"."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL_RE.sub(" ", text)
    text = text.replace("’", "'").replace("'", "")  # wa'alaikum -> waalaikum
    text = re.sub(r"(?<=[a-z0-9])\s*/\s*(?=[a-z0-9])", "/", text)  # "IV / a" -> "iv/a"
    text = re.sub(r"\b(s)\.\s*(d)\b\.?", r"\1/\2", text)  # "s.d." -> "s/d"
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # "e-kinerja" -> "e kinerja"
    out: list[str] = []
    for tok in _TOKEN_RE.findall(text):
        if "/" in tok and tok != "s/d" and not _LEVEL_RE.match(tok):
            parts = tok.split("/")  # "bapak/ibu", "tugas/mutasi": two words
        else:
            parts = [tok]
        for part in parts:
            m = _REDUP_RE.match(part)
            out += [m.group(1), m.group(1)] if m else [part]
    return out


def squeeze_variants(tok: str) -> list[str]:
    """Candidates for a token with a letter run of 3+: to two letters first (maaaf -> maaf),
    then to one (cutiii -> cuti). Roman numerals (iii) are left alone."""
    if tok in _ROMAN or not _REPEAT3_RE.search(tok):
        return [tok]
    two = _REPEAT3_RE.sub(r"\1\1", tok)
    one = _REPEAT3_RE.sub(r"\1", tok)
    return [two, one]


def _key_variants(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A glossary key written "... tingkat i" also matches "tk i", "tk 1" and "tingkat 1"."""
    out = [key]
    for i, tok in enumerate(key[:-1]):
        if tok == "tingkat" and key[i + 1] in _ROMAN:
            num = str(_ROMAN[key[i + 1]])
            for a in ("tingkat", "tk"):
                for b in (key[i + 1], num):
                    out.append(key[:i] + (a, b) + key[i + 2:])
    return list(dict.fromkeys(out))


def _lengths_by_first(keys: Iterable[tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
    """first word -> lengths of the phrases starting with it, longest first (longest match)."""
    out: dict[str, set[int]] = {}
    for k in keys:
        if k:
            out.setdefault(k[0], set()).add(len(k))
    return {w: tuple(sorted(ns, reverse=True)) for w, ns in out.items()}


def _load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_lexicon(path: Path = LEXICON_PATH) -> dict[str, tuple[str, ...]]:
    """IndoCollex informal -> formal (csv reader: one value is quoted)."""
    out: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            key, val = (row.get("informal") or "").strip().lower(), (row.get("formal") or "").strip().lower()
            if key and val and key != val:
                out[key] = tuple(clean(val))
    return out


@lru_cache(maxsize=1)
def _sastrawi():
    """The plain Sastrawi stemmer (no unbounded ArrayCache) and its root-word set.
    PySastrawi code is MIT; its root-word list (kata-dasar.txt, Kateglo) is CC BY-NC-SA 3.0."""
    from Sastrawi.Dictionary.ArrayDictionary import ArrayDictionary
    from Sastrawi.Stemmer.Stemmer import Stemmer
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    words = [w.strip() for w in StemmerFactory().get_words() if w.strip()]
    return Stemmer(ArrayDictionary(words)), frozenset(words)


@lru_cache(maxsize=100_000)
def sastrawi_stem(word: str) -> str:
    """Sastrawi's stem of one word, cached for the process (~1 ms per new word uncached), so a
    KB reload does not stem its vocabulary again. Bounded, unlike Sastrawi's own ArrayCache."""
    return _sastrawi()[0].stem(word) or word


class Normalizer:
    """Built once per KB (index) version; `analyze` is pure and thread-safe."""

    def __init__(self, *, glossary_path: Path = GLOSSARY_PATH, lexicon_path: Path = LEXICON_PATH,
                 vocabulary: Iterable[str] = ()) -> None:
        g = _load_yaml(glossary_path)
        self.terms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for key, val in (g.get("terms") or {}).items():
            for k in _key_variants(tuple(clean(str(key)))):
                self.terms.setdefault(k, tuple(clean(str(val))))
        self.term_lens = _lengths_by_first(self.terms)
        self.slang: dict[str, tuple[str, ...]] = {
            str(k).lower(): tuple(clean(str(v))) for k, v in (g.get("slang") or {}).items()}
        self.nostem = frozenset(str(w).lower() for w in g.get("nostem") or [])
        stop_phrases = [tuple(clean(str(w))) for w in g.get("stop") or []]
        self.stop = frozenset(p[0] for p in stop_phrases if len(p) == 1)
        self.stop_phrases = frozenset(p for p in stop_phrases if len(p) > 1)
        self.intents: dict[tuple[str, ...], str] = {}
        for intent, words in (g.get("intents") or {}).items():
            for w in words:
                self.intents[tuple(clean(str(w)))] = str(intent)
        self.intent_lens = _lengths_by_first(self.intents)
        self.oos_terms = frozenset(tuple(clean(str(w))) for w in g.get("out_of_scope") or [])
        self.oos_lens = _lengths_by_first(self.oos_terms)
        self.lexicon = load_lexicon(lexicon_path)
        self.roots = _sastrawi()[1]
        # words the glossary produces or protects: never slang-mapped or typo-repaired
        self.protected = frozenset(t for k, v in self.terms.items() for t in (*k, *v)) | self.nostem
        self.set_vocabulary(vocabulary)

    # -- vocabulary (from the KB) -------------------------------------------------------------
    def set_vocabulary(self, vocabulary: Iterable[str], indexed: Iterable[str] = ()) -> None:
        """`vocabulary`: words of the KB's formal text (titles, keywords, summaries): typo repair
        targets them and the slang lexicon never rewrites them. `indexed`: every token the index
        holds (example questions included): such tokens are known, never repaired."""
        vocab = {w for w in vocabulary if w and not w.isdigit()}
        self.vocab = frozenset(vocab)
        self.indexed = frozenset(indexed) or self.vocab
        self.vocab_stems = frozenset(self.stem(w) for w in self.indexed | self.vocab)
        self.indexed_stems = frozenset(self.stem(w) for w in self.indexed)
        single_keys = {k[0] for k in self.terms if len(k) == 1}
        # repair candidates: KB words and single-word glossary keys of 4+ letters ("cutti" -> "cuti")
        self.repair_targets = sorted(w for w in vocab | single_keys
                                     if len(w) >= TYPO_MIN_LEN - 1 and w.isalpha())
        self.known = (self.indexed | self.vocab | self.protected | set(self.lexicon) | set(self.slang)
                      | self.stop | {t for k in self.intents for t in k})

    # -- stemming -----------------------------------------------------------------------------
    def stem(self, tok: str) -> str:
        if tok in self.nostem or not tok.isalpha() or len(tok) <= 3:
            return tok
        return sastrawi_stem(tok)

    # -- the pipeline -------------------------------------------------------------------------
    def _glossary(self, toks: list[str], prot: list[bool]) -> tuple[list[str], list[bool]]:
        """Longest-match replacement of glossary keys; outputs are marked protected."""
        out: list[str] = []
        out_prot: list[bool] = []
        i = 0
        while i < len(toks):
            for n in (n for n in self.term_lens.get(toks[i], ()) if i + n <= len(toks)):
                key = tuple(toks[i:i + n])
                if not any(prot[i:i + n]) and key in self.terms:
                    rep = self.terms[key]
                    out += rep
                    out_prot += [True] * len(rep)
                    i += n
                    break
            else:
                out.append(toks[i])
                out_prot.append(prot[i])
                i += 1
        return out, out_prot

    def _levels(self, toks: list[str], prot: list[bool]) -> tuple[list[str], list[bool]]:
        """golongan/eselon/tingkat numbers -> one form: gol3 + gol3c, eselon4, tk2.
        "III/d ke bawah", "IV/c ke atas", "I/a sampai III/d" expand to the levels covered."""
        out: list[str] = []
        out_prot: list[bool] = []
        ctx: str | None = None
        last: tuple[int, str | None] | None = None  # last golongan level seen (for ranges)
        pending_range = False
        i = 0
        while i < len(toks):
            tok = toks[i]
            if tok in _LEVEL_CONTEXT:
                ctx = _LEVEL_CONTEXT[tok]
                nxt = toks[i + 1] if i + 1 < len(toks) else ""
                if tok in _LEVEL_KEEP:
                    out.append(_LEVEL_KEEP[tok])
                    out_prot.append(True)
                elif not _LEVEL_RE.match(nxt):  # "tingkat hukuman": an ordinary word here
                    out.append(tok)
                    out_prot.append(prot[i])
                i += 1
                continue
            m = _LEVEL_RE.match(tok)
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if m and not m.group(2) and len(nxt) == 1 and nxt in "abcde" and (
                    ctx == "gol" or tok in _ROMAN):
                m = _LEVEL_RE.match(tok + nxt)  # "iii c", "gol 3 c"
                i += 1
            if m and not ctx and not m.group(2) and tok in _ROMAN:
                out.append(tok)  # bare "iv": keep (the slang dictionary maps "iii" to "ih")
                out_prot.append(True)
                i += 1
                continue
            if m and (ctx or m.group(2)):
                n = _ROMAN.get(m.group(1)) or int(m.group(1))
                r = m.group(2)
                kind = ctx or "gol"
                if kind == "gol":
                    new = [f"gol{n}{r}"] if r else [f"gol{n}"]
                    if pending_range and last:
                        new = [f"gol{k}" for k in range(last[0] + 1, n)] + new
                    last = (n, r)
                elif kind == "eselon":
                    new = [f"eselon{n}"]
                else:
                    new = [f"tk{n}"]
                pending_range = False
                out += new
                out_prot += [True] * len(new)
                ctx = kind
                i += 1
                continue
            if ctx == "gol" and last and tok == "ke" and nxt in ("atas", "bawah"):
                n, r = last
                if nxt == "atas":
                    new = [f"gol{n}{c}" for c in RUANG[n] if r and c > r]
                    new += [f"gol{k}" for k in range(n + 1, 5)]
                else:
                    new = [f"gol{n}{c}" for c in RUANG[n] if r and c < r]
                    new += [f"gol{k}" for k in range(1, n)]
                out += new
                out_prot += [True] * len(new)
                i += 2
                continue
            if tok in _RANGE_WORDS and last:
                pending_range = True
            if tok not in _LEVEL_JOIN:
                ctx, last, pending_range = None, None, False
            out.append(tok)
            out_prot.append(prot[i])
            i += 1
        return out, out_prot

    def _word(self, tok: str) -> tuple[str, ...]:
        """Slang, lexicon and typo repair for one unprotected token."""
        for cand in squeeze_variants(tok):
            if cand in self.slang:
                return self.slang[cand]
            if cand in self.known or cand in self.roots:
                if cand in self.lexicon and cand not in self.vocab:
                    return self.lexicon[cand]
                return (cand,)
        tok = squeeze_variants(tok)[-1]
        if self.stem(tok) in self.vocab_stems:
            return (tok,)
        if tok.endswith("nya") and len(tok) > 6:  # "bikinnya" -> "bikin" -> "membuat"
            return self._word(tok[:-3])
        colloquial = self.colloquial(tok)
        if colloquial:
            return (colloquial,)
        if tok in self.roots or self.stem(tok) in self.roots:
            return (tok,)  # a real word the KB lacks ("perumahan"): a signal, not a typo
        fixed = self.repair(tok)
        if fixed != tok:
            return (fixed,)
        return (self.colloquial(tok, by_stem=True) or tok,)

    def colloquial(self, tok: str, *, by_stem: bool = False) -> str | None:
        """Jakarta-style affixes the dictionaries miss: "dicantumin" -> "dicantumkan",
        "ngecek" -> "cek", "nyiapin" -> "siapkan"; only when the result is a KB word or root."""
        cands: list[str] = []
        bases = [tok]
        for pre, rep in (("nge", ""), ("ng", ""), ("ny", "s"), ("m", "p")):
            if tok.startswith(pre) and len(tok) - len(pre) >= 3:
                bases.append(rep + tok[len(pre):])
        for b in bases:
            if b.endswith("in") and len(b) > 4:
                cands += [b[:-2] + "kan", b[:-2] + "i"]
            if b is not tok:
                cands.append(b)
        for c in cands:
            if c in self.indexed or c in self.roots:
                return c
            if by_stem and self.stem(c) != c and self.stem(c) in self.vocab_stems:
                return c  # "nyiapin" -> "siapkan" (stem "siap")
        return None

    def repair(self, tok: str) -> str:
        """Closest KB word by fuzz.ratio above the cut-off, else the token unchanged.
        The candidate must start with the same letter and be at most 1 letter shorter or 2
        longer (people drop letters more than they add them): typing errors rarely break these,
        unrelated words ("cikarang" -> "dilarang", "pemberitahuan" -> "pemberitaan") often do."""
        if len(tok) < TYPO_MIN_LEN or not tok.isalpha() or not self.repair_targets:
            return tok
        cutoff = TYPO_CUTOFF_SHORT if len(tok) <= 5 else TYPO_CUTOFF
        for cand, _score, _ in process.extract(tok, self.repair_targets, scorer=fuzz.ratio,
                                               score_cutoff=cutoff, limit=5):
            if cand[0] == tok[0] and -1 <= len(cand) - len(tok) <= 2:
                return cand
        return tok

    def _intents(self, toks: list[str], prot: list[bool]
                 ) -> tuple[list[str], list[bool], str | None]:
        """Remove question words (longest match, unprotected only); report the first intent."""
        out: list[str] = []
        out_prot: list[bool] = []
        intent: str | None = None
        i = 0
        while i < len(toks):
            for n in (n for n in self.intent_lens.get(toks[i], ()) if i + n <= len(toks)):
                key = tuple(toks[i:i + n])
                if key in self.intents and not any(prot[i:i + n]):
                    intent = intent or self.intents[key]
                    i += n
                    break
            else:
                out.append(toks[i])
                out_prot.append(prot[i])
                i += 1
        return out, out_prot, intent

    def count_foreign(self, toks: list[str]) -> int:
        """How many glossary `out_of_scope` terms (longest match) the cleaned tokens hold."""
        found, i = 0, 0
        while i < len(toks):
            n = next((n for n in self.oos_lens.get(toks[i], ())
                      if i + n <= len(toks) and tuple(toks[i:i + n]) in self.oos_terms), 0)
            found += bool(n)
            i += n or 1
        return found

    def analyze(self, text: str, *, repair: bool = True) -> Analysis:
        toks = clean(text)
        foreign = self.count_foreign(toks) if self.oos_terms else 0
        prot = [False] * len(toks)
        toks, prot = self._glossary(toks, prot)
        toks, prot = self._levels(toks, prot)
        # question words before the stop list takes "berapa" out of "berapa hari"; again after
        # the slang step ("gmn" -> "bagaimana")
        toks, prot, first_intent = self._intents(toks, prot)
        words: list[str] = []
        wprot: list[bool] = []
        for tok, p in zip(toks, prot):
            if not p and tok in self.stop:
                continue  # before the slang dictionary: it maps "katanya" to "dengar"
            if p:
                words.append(tok)
                wprot.append(True)
                continue
            rep = self._word(tok) if repair else (squeeze_variants(tok)[-1],)
            words += rep
            wprot += [False] * len(rep)
        # repaired/slang words may now form glossary keys ("kartu pegawe" -> "kartu pegawai")
        words, wprot = self._glossary(words, wprot)
        words, wprot, intent = self._intents(words, wprot)
        intent = first_intent or intent
        levels = tuple(w for w in words if LEVEL_TOKEN_RE.match(w))
        words = [w for w in words if not LEVEL_TOKEN_RE.match(w)]
        tokens: list[str] = []
        i = 0
        while i < len(words):
            if tuple(words[i:i + 2]) in self.stop_phrases:
                i += 2
                continue
            if words[i] not in self.stop:
                tokens.append(words[i])
            i += 1
        terms: list[str] = []
        unknown: list[str] = []
        for tok in tokens:
            st = self.stem(tok)
            terms.append(tok)
            if st != tok:
                terms.append(st)
            if tok not in self.indexed and st not in self.indexed_stems:
                unknown.append(tok)
        return Analysis(tuple(tokens), tuple(terms), intent, tuple(unknown), levels, foreign)
