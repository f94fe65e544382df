"""Typed Indonesian dates and ranges (services/textdate.py) and the inline calendar keyboard
(handlers/calendar.py), with a fixed "today"."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.calendar import BLANK, MAX_CALLBACK_BYTES, calendar_markup, parse_calendar_callback
from services.textdate import format_date, format_short, parse_date, parse_range

D = date.fromisoformat
DEC = D("2026-12-20")  # a Sunday, near the year's end
WED = D("2027-01-13")  # a Wednesday
LEAP = D("2027-03-01")


@pytest.mark.parametrize(("text", "today", "expected"), [
    # numeric, day first; no year -> next occurrence on or after today (rolls into next year)
    ("12/1", DEC, "2027-01-12"),
    ("12-1", DEC, "2027-01-12"),
    ("12/01/2027", DEC, "2027-01-12"),
    ("12.1.27", DEC, "2027-01-12"),
    ("2027-01-12", DEC, "2027-01-12"),
    ("20/12", DEC, "2026-12-20"),  # today itself counts
    ("19/12", DEC, "2027-12-19"),
    ("1/2", WED, "2027-02-01"),  # day first, never 2 January
    ("12/1/2026", DEC, "2026-01-12"),  # a typed year is taken as typed, even in the past
    # month names, abbreviations, English, old spellings, typos
    ("12 Januari", DEC, "2027-01-12"),
    ("12 jan", DEC, "2027-01-12"),
    ("12 januari 2027", DEC, "2027-01-12"),
    ("tgl 12 jan", DEC, "2027-01-12"),
    ("Tanggal 12-Jan-27", DEC, "2027-01-12"),
    ("12jan", DEC, "2027-01-12"),
    ("jan 12", DEC, "2027-01-12"),
    ("17 agt", DEC, "2027-08-17"),
    ("17 ags", DEC, "2027-08-17"),
    ("17 agu", DEC, "2027-08-17"),
    ("17 agustus", DEC, "2027-08-17"),
    ("17 august", DEC, "2027-08-17"),
    ("17 agustos", DEC, "2027-08-17"),
    ("3 febuari", DEC, "2027-02-03"),
    ("3 pebruari", DEC, "2027-02-03"),
    ("10 nopember", DEC, "2027-11-10"),
    ("1 sept", DEC, "2027-09-01"),
    ("1 okt.", DEC, "2027-10-01"),
    ("25 des", DEC, "2026-12-25"),
    ("5 mei", DEC, "2027-05-05"),
    ("5 may 2027", DEC, "2027-05-05"),
    ("Selasa, 12 Januari 2027", DEC, "2027-01-12"),  # our own format_date parses back
    ("31", DEC, "2026-12-31"),  # a bare day: this month or the next one that has it
    ("31", WED, "2027-01-31"),
    ("1", WED, "2027-02-01"),
    # relative words
    ("hari ini", WED, "2027-01-13"),
    ("besok", WED, "2027-01-14"),
    ("Besok!", WED, "2027-01-14"),
    ("lusa", WED, "2027-01-15"),
    ("3 hari lagi", WED, "2027-01-16"),
    ("seminggu lagi", WED, "2027-01-20"),
    ("2 minggu lagi", WED, "2027-01-27"),
    ("senin", WED, "2027-01-18"),  # the next Monday after today
    ("rabu", WED, "2027-01-20"),  # today is Wednesday: the next one, not today
    ("kamis", WED, "2027-01-14"),
    ("hari jumat", WED, "2027-01-15"),
    ("jum'at", WED, "2027-01-15"),
    ("senin depan", WED, "2027-01-18"),  # Monday of next week
    ("jumat depan", WED, "2027-01-22"),  # Friday of next week, not the coming one
    ("minggu depan", WED, "2027-01-18"),  # "next week" = its Monday
    ("pekan depan", WED, "2027-01-18"),
    ("senin depan", DEC, "2026-12-21"),  # on a Sunday, next week starts tomorrow
    ("minggu", WED, "2027-01-17"),  # alone, minggu is Sunday
    # leap years and impossible dates
    ("29/2", LEAP, "2028-02-29"),
    ("29 februari", LEAP, "2028-02-29"),
    ("29/2/2028", LEAP, "2028-02-29"),
    ("29/2/2027", LEAP, None),
    ("31/2", LEAP, None),
    ("30 februari", LEAP, None),
    ("31/4", LEAP, None),
    ("0/1", LEAP, None),
    ("12/13", LEAP, None),
    ("32 jan", LEAP, None),
    ("2027-02-30", LEAP, None),
    # garbage
    ("", LEAP, None),
    ("   ", LEAP, None),
    ("halo", LEAP, None),
    ("cuti tahunan", LEAP, None),
    ("12 ma", LEAP, None),
    ("12 hari", LEAP, None),
    ("2027", LEAP, None),
    ("123/4", LEAP, None),
    ("99999999 hari lagi", LEAP, None),
    ("12/1/123", LEAP, None),
])
def test_parse_date(text: str, today: date, expected: str | None) -> None:
    assert parse_date(text, today) == (D(expected) if expected else None)


@pytest.mark.parametrize(("text", "today", "expected"), [
    ("12-14 Januari", DEC, ("2027-01-12", "2027-01-14")),
    ("12 - 14 jan 2027", DEC, ("2027-01-12", "2027-01-14")),
    ("12/1 - 16/1", DEC, ("2027-01-12", "2027-01-16")),
    ("12/1-16/1", DEC, ("2027-01-12", "2027-01-16")),
    ("12-1-27 - 16-1-27", DEC, ("2027-01-12", "2027-01-16")),
    ("2027-01-12 - 2027-01-16", DEC, ("2027-01-12", "2027-01-16")),
    ("12 jan s.d. 16 jan", DEC, ("2027-01-12", "2027-01-16")),
    ("12 jan s/d 16 jan", DEC, ("2027-01-12", "2027-01-16")),
    ("dari 12 jan sd 16 jan", DEC, ("2027-01-12", "2027-01-16")),
    ("12 januari sampai 16 januari", DEC, ("2027-01-12", "2027-01-16")),
    ("12 januari sampai dengan 16 januari", DEC, ("2027-01-12", "2027-01-16")),
    ("tanggal 12 s.d. 14 januari", DEC, ("2027-01-12", "2027-01-14")),
    ("28 - 3 feb", DEC, ("2027-01-28", "2027-02-03")),  # the bare start takes the month before
    ("28 des - 3 jan", DEC, ("2026-12-28", "2027-01-03")),  # across the new year
    ("28 des - 3 jan 2028", DEC, ("2027-12-28", "2028-01-03")),
    ("besok sampai jumat", WED, ("2027-01-14", "2027-01-15")),
    ("senin depan hingga 22/1", WED, ("2027-01-18", "2027-01-22")),
    ("16 jan - 12 jan", DEC, None),  # reversed: a slip, not a year-long leave
    ("16/1/2027 - 12/1/2027", DEC, None),
    ("12 jan", DEC, None),  # a single date is not a range
    ("12 - 31 feb", DEC, None),
    ("halo - apa kabar", DEC, None),
    ("", DEC, None),
])
def test_parse_range(text: str, today: date, expected: tuple[str, str] | None) -> None:
    assert parse_range(text, today) == (tuple(map(D, expected)) if expected else None)


def test_format() -> None:
    assert format_date(D("2027-01-12")) == "Selasa, 12 Januari 2027"
    assert format_date(D("2027-01-11")) == "Senin, 11 Januari 2027"
    assert format_date(D("2026-08-17")) == "Senin, 17 Agustus 2026"
    assert format_short(D("2027-01-12")) == "12 Jan 2027"
    assert format_short(D("2026-08-17")) == "17 Agu 2026"


dates = st.dates(min_value=D("2000-01-01"), max_value=D("2099-12-31"))


@given(d=dates, today=dates)
def test_formats_parse_back(d: date, today: date) -> None:
    for text in (format_date(d), format_short(d), f"{d:%d/%m/%Y}", d.isoformat()):
        assert parse_date(text, today) == d


@given(d=dates)
def test_without_year_is_next_occurrence(d: date) -> None:
    assert parse_date(f"{d.day}/{d.month}", d - timedelta(days=1)) == d
    assert parse_date(f"{d.day}/{d.month}", d) == d


@given(st.text(max_size=40))
def test_parse_never_raises(text: str) -> None:
    parse_date(text, DEC)
    parse_range(text, DEC)


# ---- inline calendar -----------------------------------------------------------------------------
def _buttons(markup):  # noqa: ANN001, ANN202
    return [b for row in markup.inline_keyboard for b in row]


def _days(markup, prefix: str) -> list[date]:  # noqa: ANN001
    parsed = [parse_calendar_callback(b.callback_data, prefix) for b in _buttons(markup)]
    return [d for kind, d in parsed if kind == "day"]


def test_calendar_layout_and_callbacks() -> None:
    markup = calendar_markup(D("2027-01-20"), prefix="cuti.s", min_date=D("2027-01-13"),
                             max_date=D("2027-03-31"), marked={D("2027-01-15")}, off_days={D("2027-01-16")})
    rows = markup.inline_keyboard
    assert rows[0][0].text == "Januari 2027"
    assert [b.text for b in rows[1]] == ["Sn", "Sl", "Rb", "Km", "Jm", "Sb", "Mg"]
    assert all(len(row) == 7 for row in rows[1:-1])
    # January 2027 starts on a Friday: four blanks, then 1 (before min, so not pickable)
    assert [b.text for b in rows[2]] == [BLANK, BLANK, BLANK, BLANK, "·", "·", "·"]
    texts = [b.text for b in _buttons(markup)]
    assert "[15]" in texts and "16*" in texts and "12" not in texts
    assert _days(markup, "cuti.s") == [D("2027-01-13") + timedelta(days=i) for i in range(19)]
    # only "›" navigation: the previous month is before min_date
    assert [b.text for b in rows[-1]] == [BLANK, "›"]
    assert parse_calendar_callback(rows[-1][1].callback_data, "cuti.s") == ("month", D("2027-02-01"))
    for b in _buttons(markup):
        assert len(b.callback_data.encode()) <= MAX_CALLBACK_BYTES
        assert parse_calendar_callback(b.callback_data, "cuti.s")[0] in {"day", "month", "noop"}


def test_calendar_navigation_respects_bounds() -> None:
    last = calendar_markup(D("2027-03-01"), prefix="c", min_date=D("2027-01-13"), max_date=D("2027-03-10"))
    assert [b.text for b in last.inline_keyboard[-1]] == ["‹", BLANK]
    assert _days(last, "c") == [D("2027-03-01") + timedelta(days=i) for i in range(10)]
    middle = calendar_markup(D("2027-02-01"), prefix="c", min_date=D("2027-01-13"), max_date=D("2027-03-10"))
    assert [b.text for b in middle.inline_keyboard[-1]] == ["‹", "›"]
    only = calendar_markup(D("2027-02-01"), prefix="c", min_date=D("2027-02-03"), max_date=D("2027-02-05"))
    assert not {"‹", "›"} & {b.text for b in _buttons(only)}  # no navigation row at all
    assert _days(only, "c") == [D("2027-02-03"), D("2027-02-04"), D("2027-02-05")]
    unbounded = calendar_markup(D("2027-02-01"), prefix="c", min_date=None, max_date=None)
    assert len(_days(unbounded, "c")) == 28


def test_calendar_callback_fits_with_longest_prefix() -> None:
    prefix = "p" * (MAX_CALLBACK_BYTES - len(":d:2027-01-12"))
    markup = calendar_markup(D("2027-12-01"), prefix=prefix, min_date=None, max_date=None)
    assert max(len(b.callback_data.encode()) for b in _buttons(markup)) == MAX_CALLBACK_BYTES
    with pytest.raises(ValueError):
        calendar_markup(D("2027-12-01"), prefix=prefix + "p", min_date=None, max_date=None)
    with pytest.raises(ValueError):
        calendar_markup(D("2027-12-01"), prefix="a:b", min_date=None, max_date=None)


@pytest.mark.parametrize(("data", "expected"), [
    ("cal:d:2027-01-12", ("day", D("2027-01-12"))),
    ("cal:m:2027-02", ("month", D("2027-02-01"))),
    ("cal:x", ("noop", None)),
    ("cal:d:2027-02-30", ("invalid", None)),
    ("cal:d:2027-13-01", ("invalid", None)),
    ("cal:d:0000-01-01", ("invalid", None)),
    ("cal:m:2027-00", ("invalid", None)),
    ("cal:d:2027-1-12", ("invalid", None)),
    ("cal:d:2027-01-12:extra", ("invalid", None)),
    ("cal:d:2027-01-12\n", ("invalid", None)),
    ("cal:d:２０２７-01-12", ("invalid", None)),
    ("cal:q:2027-01-12", ("invalid", None)),
    ("cal:", ("invalid", None)),
    ("other:d:2027-01-12", ("invalid", None)),
    ("calx:d:2027-01-12", ("invalid", None)),
    ("", ("invalid", None)),
    (None, ("invalid", None)),
    # forged beyond the bounds the keyboard was drawn with
    ("cal:d:2027-01-01", ("invalid", None)),
    ("cal:d:2027-04-01", ("invalid", None)),
    ("cal:m:2026-12", ("invalid", None)),
    ("cal:m:2027-04", ("invalid", None)),
    ("cal:m:2027-01", ("month", D("2027-01-01"))),
])
def test_parse_calendar_callback(data: str | None, expected: tuple[str, date | None]) -> None:
    assert parse_calendar_callback(data, "cal", min_date=D("2027-01-10"), max_date=D("2027-03-31")) == expected


@given(st.text(max_size=70))
def test_parse_calendar_callback_never_raises(data: str) -> None:
    kind, value = parse_calendar_callback("cal:" + data, "cal")
    assert kind in {"day", "month", "noop", "invalid"}
    assert (value is None) == (kind in {"noop", "invalid"})
