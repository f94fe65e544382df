"""Dates typed in everyday Indonesian: "12/1", "12 Januari", "tgl 12 jan 27", "besok", "senin depan",
"3 hari lagi", and ranges such as "12-14 Januari" or "12 jan s.d. 16 jan"; plus Indonesian formatting.

Day-first always. A date typed without a year is its next occurrence on or after `today`, so "12/1"
typed in December is next January. Hand-written rather than dateparser: that library misses most
of the relative forms people use here ("lusa", "senin depan", "3 hari lagi") and gives no say over
year rollover, so the grammar would be ours anyway. Month-name typos are repaired with rapidfuzz.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from rapidfuzz import fuzz, process

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
MONTHS_SHORT = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
WEEKDAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")

_ENGLISH_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                   "october", "november", "december")
# Full names (Indonesian, English) are matched by prefix and by fuzzy typo repair; these are exact only.
_MONTH_EXTRA = {"peb": 2, "pebruari": 2, "mei": 5, "agt": 8, "ags": 8, "sept": 9, "okt": 10, "oct": 10,
                "nop": 11, "nopember": 11, "des": 12, "dec": 12}
_MONTH_FULL = {name.lower(): i + 1 for i, name in enumerate(MONTHS)} | {
    name: i + 1 for i, name in enumerate(_ENGLISH_MONTHS)}
_WEEKDAY_WORDS = {name.lower(): i for i, name in enumerate(WEEKDAYS)} | {
    "senen": 0, "jumaat": 4, "jumuah": 4, "saptu": 5, "ahad": 6}

_MAX_YEARS_AHEAD = 8  # "29/2" waits up to 4 years for a leap year (8 across 2100)
_FUZZY_CUTOFF = 80  # "agustos", "febuari", "januri" pass; "senin" vs "juni" (67) does not


def _month(word: str) -> int | None:
    word = word.strip(".")
    if word in _MONTH_FULL or word in _MONTH_EXTRA:
        return _MONTH_FULL.get(word) or _MONTH_EXTRA[word]
    if len(word) >= 3:
        by_prefix = {m for name, m in _MONTH_FULL.items() if name.startswith(word)}
        if len(by_prefix) == 1:
            return by_prefix.pop()
    if len(word) >= 4:
        hit = process.extractOne(word, list(_MONTH_FULL), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if hit:
            return _MONTH_FULL[hit[0]]
    return None


def _weekday(word: str) -> int | None:
    if word in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[word]
    if len(word) >= 4:
        hit = process.extractOne(word, list(_WEEKDAY_WORDS), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if hit:
            return _WEEKDAY_WORDS[hit[0]]
    return None


def _clean(text: str) -> str:
    s = re.sub(r"['’`]", "", text.lower())  # jum'at -> jumat
    s = re.sub(r"\s+", " ", s).strip(" ,.!?")
    # fillers people put in front: "tgl 12 jan", "hari senin", "mulai besok" (but keep "hari ini")
    return re.sub(r"^(?:(?:tgl|tanggal|tangal|dari|mulai|pada|hari(?! ini))(?![a-z])\.? ?)+", "", s)


# ---- relative forms ------------------------------------------------------------------------------
_FIXED = {"hari ini": 0, "sekarang": 0, "besok": 1, "besuk": 1, "bsk": 1, "esok": 1, "lusa": 2}
_IN_N = re.compile(r"(\d{1,3}|se) ?(hari|minggu|pekan) (?:lagi|ke ?depan|mendatang)")
_NEXT = r"(?:depan|berikut(?:nya)?|mendatang)"


def _monday_next_week(today: date) -> date:
    return today - timedelta(days=today.weekday()) + timedelta(weeks=1)


def _relative(s: str, today: date) -> date | None:
    if s in _FIXED:
        return today + timedelta(days=_FIXED[s])
    if m := _IN_N.fullmatch(s):
        n = 1 if m[1] == "se" else int(m[1])
        return today + timedelta(days=n if m[2] == "hari" else 7 * n)
    if re.fullmatch(rf"(?:minggu|pekan) {_NEXT}", s):
        return _monday_next_week(today)
    if (m := re.fullmatch(rf"([a-z]+) {_NEXT}", s)) and (wd := _weekday(m[1])) is not None:
        return _monday_next_week(today) + timedelta(days=wd)  # "jumat depan" = Friday of next week
    if re.fullmatch(r"[a-z]+", s) and (wd := _weekday(s)) is not None:
        return today + timedelta(days=(wd - today.weekday() - 1) % 7 + 1)  # next one after today
    return None


# ---- explicit forms ------------------------------------------------------------------------------
_YEAR = r"(\d{4}|\d{2})"
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC = re.compile(rf"(\d{{1,2}}) ?[-/.] ?(\d{{1,2}})(?: ?[-/.] ?{_YEAR})?")
_DAY_MONTH = re.compile(rf"(\d{{1,2}}) ?[-/.]? ?([a-z]+)\.?(?: ?[-/.,]? ?{_YEAR})?")
_MONTH_DAY = re.compile(r"([a-z]+)\.? ?(\d{1,2})(?:,? ?(\d{4}))?")
_BARE_DAY = re.compile(r"\d{1,2}")

Parts = tuple[int, int | None, int | None]  # day, month (None: bare day), year (None: not typed)


def _year(y: str | None) -> int | None:
    return None if y is None else int(y) + (2000 if len(y) == 2 else 0)


def _explicit(s: str) -> Parts | None:
    # a leading weekday is dropped, so our own "Senin, 12 Januari 2027" parses back
    if (m := re.match(r"([a-z]+),? (?=\d)", s)) and _weekday(m[1]) is not None:
        s = s[m.end():]
    if m := _ISO.fullmatch(s):
        return int(m[3]), int(m[2]), int(m[1])
    if m := _NUMERIC.fullmatch(s):
        return int(m[1]), int(m[2]), _year(m[3])
    if (m := _DAY_MONTH.fullmatch(s)) and (month := _month(m[2])):
        return int(m[1]), month, _year(m[3])
    if (m := _MONTH_DAY.fullmatch(s)) and (month := _month(m[1])):
        return int(m[2]), month, _year(m[3])
    if _BARE_DAY.fullmatch(s):
        return int(s), None, None
    return None


def _on_or_after(day: int, month: int | None, earliest: date) -> date | None:
    """Next valid day/month (any month when None) on or after `earliest`."""
    months = [(earliest.year + (earliest.month - 1 + k) // 12, (earliest.month - 1 + k) % 12 + 1)
              for k in range(12 * _MAX_YEARS_AHEAD + 1)]
    for y, m in months:
        if month in (None, m):
            try:
                d = date(y, m, day)
            except ValueError:
                continue
            if d >= earliest:
                return d
    return None


def _resolve(parts: Parts, earliest: date) -> date | None:
    day, month, year = parts
    if year is None:
        return _on_or_after(day, month, earliest)
    try:
        return date(year, month or 0, day)
    except ValueError:
        return None


def parse_date(text: str, today: date) -> date | None:
    """The date meant by `text`, or None when it is not a date (or an impossible one, like 31/2)."""
    s = _clean(text)
    if not s:
        return None
    if (d := _relative(s, today)) is not None:
        return d
    parts = _explicit(s)
    return _resolve(parts, today) if parts else None


# ---- ranges --------------------------------------------------------------------------------------
_RANGE_SEP = re.compile(r" ?(?:[-–—~]|\bs(?:\. ?|/)?d\b\.?|\b(?:sampai|sampe|hingga|until|to)(?: dengan)?\b) ?")


def _borrow(lp: Parts, rp: Parts) -> Parts:
    """The start takes what it left out from the end: "12-14 Januari", "28 des - 3 jan 2028"."""
    day, month, year = lp
    if month is None:  # "28 - 3 Februari" starts on 28 January
        month = rp[1] if day <= rp[0] else (rp[1] - 2) % 12 + 1
    if year is None and rp[2] is not None:
        year = rp[2] - (month > rp[1])
    return day, month, year


def _range_at(left: str, right: str, today: date) -> tuple[date, date] | None:
    left, right = _clean(left), _clean(right)
    lp, rp = _explicit(left), _explicit(right)
    if rp is None or rp[1] is None:  # a relative end ("besok s.d. jumat"); a bare day cannot end a range
        start, end = parse_date(left, today), _relative(right, today)
    else:
        start = _resolve(_borrow(lp, rp), today) if lp else _relative(left, today)
        end = None if start is None else _resolve(rp, start)  # a year-less end is the next one after the start
        if end and rp[2] is None and (end.year - start.year) * 12 + end.month - start.month >= 12:
            return None  # "16 jan - 12 jan" is a slip, not a year-long leave
    return (start, end) if start and end and start <= end else None


def parse_range(text: str, today: date) -> tuple[date, date] | None:
    """(start, end) from "12-14 Januari", "12/1 - 16/1", "12 jan s.d. 16 jan", "besok sampai jumat".
    A single date is not a range: callers wanting both fall back to parse_date."""
    s = _clean(text)
    for sep in _RANGE_SEP.finditer(s):
        if found := _range_at(s[:sep.start()], s[sep.end():], today):
            return found
    return None


# ---- formatting ----------------------------------------------------------------------------------
def format_date(d: date) -> str:
    """Senin, 12 Januari 2027"""
    return f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}"


def format_short(d: date) -> str:
    """12 Jan 2027"""
    return f"{d.day} {MONTHS_SHORT[d.month - 1]} {d.year}"
