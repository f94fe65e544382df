"""Working days (hari kerja) on a unit's working week, minus national holidays and the
decreed cuti bersama dates. Cuti tahunan is counted in hari kerja (PP 11/2017 Pasal 312), and
cuti bersama never reduces it (Pasal 333), so both kinds of day are excluded, with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays as holidays_lib

from services.cuti.config import CutiConfig

DEFAULT_WORK_DAYS = "1-5"
DAY_NAMES = {1: "Senin", 2: "Selasa", 3: "Rabu", 4: "Kamis", 5: "Jumat", 6: "Sabtu", 7: "Minggu"}


def parse_work_days(spec: str | None) -> frozenset[int]:
    """ISO weekdays from "1-5", "1-6" or "1,2,3,4,5,6" (ranges and lists may mix)."""
    spec = (spec or DEFAULT_WORK_DAYS).replace(" ", "")
    days: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= b <= 7):
            raise ValueError(f"hari kerja tidak valid: {spec!r}")
        days.update(range(a, b + 1))
    return frozenset(days)


def unit_work_days(chain: list[str | None]) -> str:
    """The first non-NULL work_days walking from the unit up to its root (NULL inherits)."""
    return next((w for w in chain if w), DEFAULT_WORK_DAYS)


@dataclass(frozen=True)
class Excluded:
    date: date
    reason: str


@dataclass(frozen=True)
class Calendar:
    work_weekdays: frozenset[int]
    national: dict[date, str]      # public holidays after the data file's corrections
    cuti_bersama: dict[date, str]  # date -> decree

    def reason_off(self, d: date, *, count_cuti_bersama: bool = False) -> str | None:
        """Why d is not a working day to charge, or None when it is one."""
        if d.isoweekday() not in self.work_weekdays:
            return f"bukan hari kerja unit ({DAY_NAMES[d.isoweekday()]})"
        if d in self.national:
            return f"libur nasional: {self.national[d]}"
        if d in self.cuti_bersama and not count_cuti_bersama:
            return f"cuti bersama ({self.cuti_bersama[d]})"
        return None

    def count(self, start: date, end: date, *, count_cuti_bersama: bool = False) -> tuple[int, list[Excluded]]:
        days, excluded = 0, []
        d = start
        while d <= end:
            reason = self.reason_off(d, count_cuti_bersama=count_cuti_bersama)
            if reason is None:
                days += 1
            else:
                excluded.append(Excluded(d, reason))
            d += timedelta(days=1)
        return days, excluded


@lru_cache(maxsize=32)
def _library_holidays(years: tuple[int, ...]) -> tuple[tuple[date, str], ...]:
    # The holidays library works the dates out on every call (~1.5 ms for a year, mostly the
    # lunar calendars); a cuti form step asks for them several times.
    return tuple(holidays_lib.country_holidays("ID", years=list(years), language="id").items())


def national_holidays(years: range | list[int], config: CutiConfig) -> dict[date, str]:
    found = dict(_library_holidays(tuple(years)))
    for d in config.holiday_fix.removed:
        found.pop(d, None)
    for d, name in config.holiday_fix.added.items():
        if d.year in years:
            found[d] = name
    return found


def build_calendar(work_days: str | None, start: date, end: date, config: CutiConfig) -> Calendar:
    years = list(range(start.year, end.year + 1))
    return Calendar(
        work_weekdays=parse_work_days(work_days),
        national=national_holidays(years, config),
        cuti_bersama={d: s for d, s in config.cuti_bersama.items() if d.year in years},
    )
