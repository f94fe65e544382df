"""An inline month calendar for picking dates (the cuti form).

Callback data: "<prefix>:d:2027-01-12" (a day), "<prefix>:m:2027-02" (show that month), "<prefix>:x"
(noop: headers, blanks, days out of range). Days in `off_days` (weekends, holidays) are shown as "12*"
but stay pickable: some leave kinds count calendar days (cuti melahirkan, cuti besar) and the cuti
rules, not the keyboard, decide which days are charged. `marked` days (the chosen ones) show as "[12]".
Callback data comes from the user's client and can be forged: parse it with parse_calendar_callback,
passing the same bounds, and never trust a date beyond what it returns.
"""
from __future__ import annotations

import calendar as _cal
import re
from datetime import date

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from services.textdate import MONTHS

WEEKDAY_LABELS = ("Sn", "Sl", "Rb", "Km", "Jm", "Sb", "Mg")
MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data
OUT_OF_RANGE = "·"
# Cells of the neighbouring months: a braille blank looks empty, but is not whitespace, which Telegram
# (and the fake Bot API) refuse as a button text (BUTTON_TEXT_EMPTY).
BLANK = "\u2800"
_DAY_RE = re.compile(r"d:(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_MONTH_RE = re.compile(r"m:(\d{4})-(\d{2})", re.ASCII)


def _first(d: date) -> date:
    return d.replace(day=1)


def _shift(month: date, k: int) -> date:
    i = month.year * 12 + month.month - 1 + k
    return date(i // 12, i % 12 + 1, 1)


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def calendar_markup(month: date, *, prefix: str, min_date: date | None = None, max_date: date | None = None,
                    marked: set[date] | frozenset[date] = frozenset(),
                    off_days: set[date] | frozenset[date] = frozenset()) -> InlineKeyboardMarkup:
    """The month containing `month`, with only days in [min_date, max_date] pickable."""
    if ":" in prefix or len(f"{prefix}:d:2027-01-12".encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"calendar prefix must be short and free of ':': {prefix!r}")
    month, noop = _first(month), f"{prefix}:x"
    rows = [[_button(f"{MONTHS[month.month - 1]} {month.year}", noop)],
            [_button(label, noop) for label in WEEKDAY_LABELS]]
    for week in _cal.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month):
        row = []
        for d in week:
            if d.month != month.month:
                row.append(_button(BLANK, noop))
            elif (min_date and d < min_date) or (max_date and d > max_date):
                row.append(_button(OUT_OF_RANGE, noop))
            else:
                label = f"[{d.day}]" if d in marked else f"{d.day}*" if d in off_days else str(d.day)
                row.append(_button(label, f"{prefix}:d:{d.isoformat()}"))
        rows.append(row)
    prev, nxt = _shift(month, -1), _shift(month, 1)
    nav = [_button("‹", f"{prefix}:m:{prev:%Y-%m}") if not min_date or prev >= _first(min_date) else None,
           _button("›", f"{prefix}:m:{nxt:%Y-%m}") if not max_date or nxt <= max_date else None]
    if any(nav):
        rows.append([b or _button(BLANK, noop) for b in nav])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def parse_calendar_callback(data: str | None, prefix: str, *, min_date: date | None = None,
                            max_date: date | None = None) -> tuple[str, date | None]:
    """("day", date), ("month", first of month), ("noop", None), or ("invalid", None) for anything
    malformed, forged or outside the bounds given. Never raises."""
    if not isinstance(data, str) or not data.startswith(f"{prefix}:"):
        return "invalid", None
    rest = data[len(prefix) + 1:]
    if rest == "x":
        return "noop", None
    try:
        if m := _DAY_RE.fullmatch(rest):
            d = date(int(m[1]), int(m[2]), int(m[3]))
            in_range = (not min_date or d >= min_date) and (not max_date or d <= max_date)
            return ("day", d) if in_range else ("invalid", None)
        if m := _MONTH_RE.fullmatch(rest):
            d = date(int(m[1]), int(m[2]), 1)
            in_range = (not min_date or d >= _first(min_date)) and (not max_date or d <= max_date)
            return ("month", d) if in_range else ("invalid", None)
    except ValueError:  # 2027-02-30, month 13, year 0000
        pass
    return "invalid", None
