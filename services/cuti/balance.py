"""Cuti tahunan balance from the ledger (pure). Split as on the BKN form into N-2, N-1 and N.

Each bucket is a leave year. Entries of an earlier bucket dated before 1 January of year N go
through the carry-over cap; entries dated in year N (use, opening balance, corrections) apply
after the cap, so an imported opening balance is taken as already capped."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

ANNUAL_DAYS = 12  # PP 11/2017 Pasal 312; PP 49/2018 Pasal 78
KINDS = ("hak", "pakai", "tangguh", "tambah", "hangus", "saldo-awal", "koreksi")


@dataclass(frozen=True)
class LedgerLine:
    year: int
    kind: str
    days: int
    effective_date: date


@dataclass(frozen=True)
class CarryRules:
    max_n1: int = 6
    max_n2: int = 6
    n2_requires_no_use: bool = True
    tambah_carries_over: bool = False


@dataclass(frozen=True)
class Balance:
    year: int
    n2: int
    n1: int
    n: int

    @property
    def total(self) -> int:
        return self.n2 + self.n1 + self.n

    def take(self, days: int) -> Balance:
        """Use days oldest first (N-2, then N-1, then N): older days lapse first."""
        n2 = min(self.n2, days)
        n1 = min(self.n1, days - n2)
        n = min(self.n, days - n2 - n1)
        if n2 + n1 + n < days:
            raise ValueError("saldo tidak cukup")
        return replace(self, n2=self.n2 - n2, n1=self.n1 - n1, n=self.n - n)


def _carried(lines: list[LedgerLine], bucket: int, year: int, cap: int, rules: CarryRules) -> int:
    start = date(year, 1, 1)
    before = [x for x in lines if x.year == bucket and x.effective_date < start]
    after = sum(x.days for x in lines if x.year == bucket and x.effective_date >= start)
    pre = sum(x.days for x in before)
    if not rules.tambah_carries_over:
        # Compensation days are meant for their own year: assume they were used first and let
        # whatever of them is left lapse.
        tambah = sum(x.days for x in before if x.kind == "tambah")
        used = -sum(x.days for x in before if x.kind == "pakai")
        pre -= max(0, tambah - used)
    return max(0, min(cap, max(0, pre)) + after)


def compute_balance(lines: Iterable[LedgerLine], year: int, *, rules: CarryRules = CarryRules(),
                    besar_in_year: bool = False, default_hak: int | None = ANNUAL_DAYS) -> Balance:
    """Balance at the start of a request in `year`.

    default_hak: the year-N entitlement assumed when the ledger has no "hak" entry for N yet
    (None when the applicant is not yet entitled). besar_in_year: cuti besar taken in N removes
    N's entitlement but keeps earlier leftover and deferred days (Peraturan BKN 24/2017)."""
    lines = list(lines)
    n1 = _carried(lines, year - 1, year, rules.max_n1, rules)
    used_recently = any(x.kind == "pakai" and x.effective_date.year in (year - 2, year - 1) for x in lines)
    n2_cap = 0 if rules.n2_requires_no_use and used_recently else rules.max_n2
    n2 = _carried(lines, year - 2, year, n2_cap, rules)
    current = [x for x in lines if x.year == year]
    hak = sum(x.days for x in current if x.kind == "hak")
    # An imported opening balance of year N already contains N's entitlement.
    if not any(x.kind in ("hak", "saldo-awal") for x in current) and default_hak is not None:
        hak = default_hak
    other = sum(x.days for x in current if x.kind != "hak")
    n = other if besar_in_year else hak + other
    return Balance(year=year, n2=n2, n1=n1, n=max(0, n))
