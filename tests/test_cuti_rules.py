"""The pure cuti rules: calendar, ledger balance and eligibility, table-driven, with a fixed
"today" (never the wall clock)."""
from __future__ import annotations

from datetime import date

import pytest

from services.cuti.balance import Balance, CarryRules, LedgerLine, compute_balance
from services.cuti.calendar import build_calendar, parse_work_days, unit_work_days
from services.cuti.config import load_config, parse_config
from services.cuti.quote import make_quote
from services.cuti.rules import (
    Applicant,
    LeavePeriod,
    Request,
    add_months,
    full_years,
    last_day,
)

D = date.fromisoformat
CONFIG = load_config()
TODAY = D("2026-01-05")


# ---- calendar --------------------------------------------------------------------------------
@pytest.mark.parametrize(("work_days", "start", "end", "bersama_counts", "days", "reasons"), [
    # year boundary: New Year's Day excluded, weekends too
    ("1-5", "2025-12-29", "2026-01-04", False, 4, {"2026-01-01": "libur nasional", "2026-01-03": "Sabtu"}),
    # Nyepi inside plus four cuti bersama days of Keppres 42/2025: not charged
    ("1-5", "2026-03-16", "2026-03-27", False, 5, {"2026-03-19": "Nyepi", "2026-03-18": "Keppres 42/2025"}),
    # leap year: 29 Feb 2024 is an ordinary Thursday; in 2028 Idul Fitri (estimated) falls on 27-28 Feb
    ("1-5", "2024-02-28", "2024-03-01", False, 3, {}),
    ("1-5", "2028-02-28", "2028-03-01", False, 2, {"2028-02-28": "Idul Fitri"}),
    # six-day unit week counts Saturday
    ("1-6", "2026-03-09", "2026-03-14", False, 6, {}),
    ("1-5", "2026-03-09", "2026-03-14", False, 5, {"2026-03-14": "Sabtu"}),
    # a public holiday (Waisak) and a cuti bersama day in one week
    ("1-5", "2025-05-12", "2025-05-16", False, 3, {"2025-05-12": "Waisak", "2025-05-13": "cuti bersama"}),
    # counting cuti bersama itself (kind "bersama")
    ("1-5", "2025-05-12", "2025-05-16", True, 4, {"2025-05-12": "Waisak"}),
    # the SKB-added 18 Aug 2025 is cuti bersama, 17 Aug a Sunday holiday
    ("1-5", "2025-08-18", "2025-08-18", False, 0, {"2025-08-18": "SKB"}),
])
def test_working_days(work_days, start, end, bersama_counts, days, reasons) -> None:
    cal = build_calendar(work_days, D(start), D(end), CONFIG)
    got, excluded = cal.count(D(start), D(end), count_cuti_bersama=bersama_counts)
    assert got == days
    by_date = {e.date.isoformat(): e.reason for e in excluded}
    for d, fragment in reasons.items():
        assert fragment in by_date[d]
    assert got + len(excluded) == (D(end) - D(start)).days + 1


def test_holiday_file_beats_the_library() -> None:
    config = parse_config({}, {}, {"add": [{"date": "2026-03-25", "name": "Libur tambahan", "source": "SKB X"}],
                                   "remove": [{"date": "2026-03-19"}]})
    cal = build_calendar("1-5", D("2026-03-19"), D("2026-03-25"), config)
    assert cal.reason_off(D("2026-03-19")) is None
    assert cal.reason_off(D("2026-03-25")) == "libur nasional: Libur tambahan (SKB X)"
    # without the cuti-bersama file nothing is cuti bersama
    assert cal.reason_off(D("2026-03-20")) is None


def test_cuti_bersama_file_rejects_a_date_under_the_wrong_year() -> None:
    with pytest.raises(ValueError):
        parse_config({}, {2026: [{"source": "Keppres", "dates": ["2025-12-26"]}]}, {})


@pytest.mark.parametrize(("spec", "days"), [("1-5", {1, 2, 3, 4, 5}), ("1-6", {1, 2, 3, 4, 5, 6}),
                                            ("1,3,5", {1, 3, 5}), (None, {1, 2, 3, 4, 5}), ("1-2,6", {1, 2, 6})])
def test_parse_work_days(spec, days) -> None:
    assert parse_work_days(spec) == days


@pytest.mark.parametrize("spec", ["0-5", "5-1", "1-8", "x"])
def test_parse_work_days_rejects(spec) -> None:
    with pytest.raises(ValueError):
        parse_work_days(spec)


@pytest.mark.parametrize(("chain", "expected"), [([None, "1-6", "1-5"], "1-6"), ([None, None], "1-5"), (["1-5"], "1-5")])
def test_work_days_inherit_from_parent(chain, expected) -> None:
    assert unit_work_days(chain) == expected


@pytest.mark.parametrize(("start", "months", "end"), [
    ("2026-02-02", 3, "2026-05-01"), ("2027-12-01", 3, "2028-02-29"), ("2026-01-31", 1, "2026-02-27"),
])
def test_last_day_of_a_months_period(start, months, end) -> None:
    assert last_day(D(start), months) == D(end)


def test_full_years_on_leap_day() -> None:
    assert full_years(D("2020-02-29"), D("2025-02-28")) == 4
    assert full_years(D("2020-02-29"), D("2025-03-01")) == 5
    assert add_months(D("2024-02-29"), 12) == D("2025-02-28")


# ---- ledger balance --------------------------------------------------------------------------
def L(year: int, kind: str, days: int, when: str) -> LedgerLine:
    return LedgerLine(year, kind, days, D(when))


HAK24, HAK25 = L(2024, "hak", 12, "2024-01-01"), L(2025, "hak", 12, "2025-01-01")


@pytest.mark.parametrize(("lines", "kwargs", "split"), [
    ([], {}, (0, 0, 12)),
    ([], {"default_hak": None}, (0, 0, 0)),
    # two unused years: 6 + 6 + 12 = 24 (PP 11/2017; Peraturan BKN 24/2017)
    ([HAK24, HAK25], {}, (6, 6, 12)),
    # leave taken in N-1: only the 18-day rule, N-2 days lapse
    ([HAK24, HAK25, L(2025, "pakai", -2, "2025-07-01")], {}, (0, 6, 12)),
    ([HAK25, L(2025, "pakai", -10, "2025-07-01")], {}, (0, 2, 12)),
    # the cap is applied at the start of N; days of N-1 used during N come off after it
    ([HAK25, L(2025, "pakai", -3, "2026-02-01")], {}, (0, 3, 12)),
    # deferred days move into N in full, outside the carry cap
    ([HAK25, L(2025, "pakai", -8, "2025-05-01"), L(2025, "tangguh", -4, "2025-12-01"),
      L(2026, "tangguh", 4, "2025-12-01")], {}, (0, 0, 16)),
    # compensation for duty on cuti bersama: same year only, assumed used first
    ([HAK25, L(2025, "tambah", 3, "2025-04-10"), L(2025, "pakai", -1, "2025-06-01")],
     {"rules": CarryRules(max_n1=24)}, (0, 12, 12)),
    ([HAK25, L(2025, "tambah", 3, "2025-04-10"), L(2025, "pakai", -1, "2025-06-01")],
     {"rules": CarryRules(max_n1=24, tambah_carries_over=True)}, (0, 14, 12)),
    ([L(2026, "tambah", 5, "2026-04-10")], {}, (0, 0, 17)),
    # cuti besar in N removes N's entitlement, keeps earlier leftover
    ([HAK25, L(2026, "hak", 12, "2026-01-01")], {"besar_in_year": True}, (0, 6, 0)),
    ([HAK25, L(2026, "hak", 12, "2026-01-01"), L(2026, "pakai", -3, "2026-03-01")], {"besar_in_year": True}, (0, 6, 0)),
    # an opening balance imported in N is taken as already capped
    ([L(2024, "saldo-awal", 3, "2026-01-05"), L(2025, "saldo-awal", 6, "2026-01-05")], {}, (3, 6, 12)),
    # lapsed and corrected days
    ([HAK25, L(2025, "hangus", -6, "2026-01-01"), L(2026, "koreksi", -1, "2026-02-01")], {}, (0, 0, 11)),
    # an explicit "hak" replaces the assumed 12; older years are gone
    ([L(2026, "hak", 12, "2026-01-01"), L(2023, "hak", 12, "2023-01-01")], {}, (0, 0, 12)),
])
def test_balance(lines, kwargs, split) -> None:
    b = compute_balance(lines, 2026, **kwargs)
    assert (b.n2, b.n1, b.n) == split


def test_take_uses_oldest_days_first() -> None:
    assert Balance(2026, 2, 3, 12).take(4) == Balance(2026, 0, 1, 12)
    with pytest.raises(ValueError):
        Balance(2026, 0, 1, 2).take(4)


# ---- eligibility, length, documents, flags ---------------------------------------------------
PNS = Applicant("PNS", "L", D("2010-01-01"), TODAY)
PNS_P = Applicant("PNS", "P", D("2010-01-01"), TODAY)
PNS_3Y = Applicant("PNS", "L", D("2023-01-01"), TODAY)
CPNS_NEW = Applicant("CPNS", "P", D("2025-06-01"), TODAY)
CPNS_1Y = Applicant("CPNS", "L", D("2024-12-01"), TODAY)
PPPK = Applicant("PPPK", "P", D("2023-08-01"), TODAY)
PPPK_NEW = Applicant("PPPK", "L", D("2025-10-01"), TODAY)
NON = Applicant("NON-PNS", "L", D("2019-01-01"), TODAY)
NO_TMT = Applicant("PNS", "L", None, TODAY)
CLTN_DOCS = {"dokumen-alasan-cltn", "persetujuan-bkn"}

CASES = [
    # (id, applicant, kind, start, end, request extras, existing, eligible, codes)
    ("tahunan-pns", PNS, "tahunan", "2026-02-02", "2026-02-06", {}, [], True, set()),
    ("tahunan-cpns-under-1y", CPNS_NEW, "tahunan", "2026-02-02", "2026-02-06", {}, [], False, {"masa-kerja-kurang"}),
    ("tahunan-cpns-1y", CPNS_1Y, "tahunan", "2026-02-02", "2026-02-06", {}, [], True, set()),
    ("tahunan-pppk", PPPK, "tahunan", "2026-02-02", "2026-02-06", {}, [], True, set()),
    ("tahunan-pppk-under-1y", PPPK_NEW, "tahunan", "2026-02-02", "2026-02-06", {}, [], False, {"masa-kerja-kurang"}),
    ("tahunan-non-pns", NON, "tahunan", "2026-02-02", "2026-02-06", {}, [], False, {"non-pns-belum-dikonfirmasi"}),
    ("tahunan-no-tmt", NO_TMT, "tahunan", "2026-02-02", "2026-02-06", {}, [], False, {"tmt-kosong"}),
    ("tahunan-abroad", PNS, "tahunan", "2026-02-02", "2026-02-06", {"abroad": True}, [], True, {"luar-negeri"}),
    ("tahunan-overlap", PNS, "tahunan", "2026-02-02", "2026-02-06", {},
     [LeavePeriod("sakit", D("2026-02-03"), D("2026-02-04"))], False, {"tumpang-tindih"}),
    ("tahunan-adjacent-ok", PNS, "tahunan", "2026-02-02", "2026-02-06", {},
     [LeavePeriod("sakit", D("2026-01-28"), D("2026-02-01"))], True, set()),
    ("tahunan-past", PNS, "tahunan", "2026-01-02", "2026-01-02", {}, [], False, {"tanggal-lampau"}),
    ("tahunan-too-far", PNS, "tahunan", "2027-03-01", "2027-03-01", {}, [], False, {"terlalu-jauh"}),
    ("tahunan-reversed", PNS, "tahunan", "2026-02-06", "2026-02-02", {}, [], False, {"tanggal-terbalik"}),
    ("tahunan-across-year", Applicant("PNS", "L", D("2010-01-01"), D("2026-11-27")), "tahunan",
     "2026-12-28", "2027-01-04", {}, [], False, {"lintas-tahun"}),
    # 15 weekdays, less Imlek (17 Feb) and cuti bersama (16 Feb) = 13 > 12
    ("tahunan-over-balance", PNS, "tahunan", "2026-02-02", "2026-02-20", {}, [], False, {"saldo-kurang"}),
    ("tahunan-weekend-only", PNS, "tahunan", "2026-02-07", "2026-02-08", {}, [], False, {"tanpa-hari-kerja"}),
    ("tahunan-besar-year", PNS, "tahunan", "2026-02-02", "2026-02-06", {},
     [LeavePeriod("besar", D("2026-06-01"), D("2026-08-31"))], False, {"saldo-kurang"}),
    ("besar-5y", PNS, "besar", "2026-02-02", "2026-05-01", {}, [], True, set()),
    ("besar-3y", PNS_3Y, "besar", "2026-02-02", "2026-04-30", {}, [], False, {"masa-kerja-kurang"}),
    ("besar-haji", PNS_3Y, "besar", "2026-05-01", "2026-07-31", {"reason": "haji-pertama"}, [], True,
     {"dokumen-jadwal-haji"}),
    ("besar-too-long", PNS, "besar", "2026-02-02", "2026-05-02", {}, [], False, {"terlalu-lama"}),
    ("besar-pppk", PPPK, "besar", "2026-02-02", "2026-04-30", {}, [], False, {"tidak-berhak-pppk"}),
    ("besar-cpns", CPNS_1Y, "besar", "2026-02-02", "2026-04-30", {}, [], False, {"hanya-pns"}),
    ("besar-within-5y", PNS, "besar", "2026-02-02", "2026-04-30", {},
     [LeavePeriod("besar", D("2022-03-01"), D("2022-05-31"))], False, {"besar-belum-5-tahun"}),
    ("besar-after-5y", PNS, "besar", "2026-02-02", "2026-04-30", {},
     [LeavePeriod("besar", D("2020-11-01"), D("2021-01-31"))], True, set()),
    ("sakit-1-day", PNS, "sakit", "2026-01-05", "2026-01-05", {}, [], True, {"dokumen-surat-dokter"}),
    ("sakit-backdated", PNS, "sakit", "2025-12-20", "2025-12-22", {}, [], True, {"dokumen-surat-dokter"}),
    ("sakit-too-old", PNS, "sakit", "2025-11-01", "2025-11-03", {}, [], False, {"tanggal-lampau", "dokumen-surat-dokter"}),
    ("sakit-pppk-21d", PPPK, "sakit", "2026-01-05", "2026-01-25", {}, [], True,
     {"dokumen-surat-dokter", "dokumen-dokter-pemerintah"}),
    ("sakit-pppk-over-1m", PPPK, "sakit", "2026-01-05", "2026-02-05", {}, [], False,
     {"terlalu-lama", "dokumen-surat-dokter", "dokumen-dokter-pemerintah"}),
    ("sakit-pns-over-1y", PNS, "sakit", "2026-01-05", "2026-03-31", {},
     [LeavePeriod("sakit", D("2025-01-01"), D("2025-10-27"))], True, {"perlu-tim-penguji", "dokumen-surat-dokter"}),
    ("sakit-pns-over-18m", PNS, "sakit", "2026-01-05", "2026-12-31", {},
     [LeavePeriod("sakit", D("2025-01-01"), D("2025-10-27"))], False, {"terlalu-lama", "dokumen-surat-dokter"}),
    ("sakit-gugur-kandungan", PNS_P, "sakit", "2026-01-05", "2026-02-25", {"reason": "gugur-kandungan"}, [],
     False, {"terlalu-lama", "dokumen-surat-dokter"}),
    ("sakit-abroad", PNS, "sakit", "2026-01-05", "2026-01-06", {"abroad": True}, [], True,
     {"dokumen-surat-dokter", "luar-negeri"}),
    ("melahirkan", PNS_P, "melahirkan", "2026-02-02", "2026-05-01", {}, [], True, {"dokumen-surat-dokter"}),
    ("melahirkan-too-long", PNS_P, "melahirkan", "2026-02-02", "2026-05-02", {}, [], False,
     {"terlalu-lama", "dokumen-surat-dokter"}),
    ("melahirkan-male", PNS, "melahirkan", "2026-02-02", "2026-04-30", {}, [], False,
     {"hanya-perempuan", "dokumen-surat-dokter"}),
    ("melahirkan-4th", PNS_P, "melahirkan", "2026-02-02", "2026-04-30", {"birth_order": 4}, [], False,
     {"melahirkan-anak-ke-4", "dokumen-surat-dokter"}),
    ("melahirkan-pppk", PPPK, "melahirkan", "2026-02-02", "2026-04-30", {"birth_order": 2}, [], True,
     {"dokumen-surat-dokter"}),
    ("cap", PNS, "alasan-penting", "2026-02-02", "2026-02-06", {}, [], True, {"dokumen-bukti-alasan"}),
    ("cap-too-long", PNS, "alasan-penting", "2026-02-02", "2026-03-02", {}, [], False,
     {"terlalu-lama", "dokumen-bukti-alasan"}),
    ("cap-pppk", PPPK, "alasan-penting", "2026-02-02", "2026-02-06", {}, [], False,
     {"tidak-berhak-pppk", "dokumen-bukti-alasan"}),
    ("cltn", PNS, "cltn", "2026-02-01", "2029-01-31", {}, [], True, CLTN_DOCS),
    ("cltn-too-long", PNS, "cltn", "2026-02-01", "2029-02-01", {}, [], False, CLTN_DOCS | {"terlalu-lama"}),
    ("cltn-3y", PNS_3Y, "cltn", "2026-02-01", "2026-12-31", {}, [], False, CLTN_DOCS | {"masa-kerja-kurang"}),
    ("bersama", PNS, "bersama", "2026-02-16", "2026-02-16", {}, [], True, set()),
    ("bersama-wrong-date", PPPK, "bersama", "2026-02-16", "2026-02-18", {}, [], False, {"bukan-cuti-bersama"}),
]


@pytest.mark.parametrize(("applicant", "kind", "start", "end", "extra", "existing", "eligible", "codes"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(applicant, kind, start, end, extra, existing, eligible, codes) -> None:
    req = Request(kind, D(start), D(end), **extra)
    q = make_quote(applicant, req, work_days="1-5", ledger=[], existing=existing, config=CONFIG)
    assert {p.code for p in q.problems} == codes, [p.message for p in q.problems]
    assert q.eligible is eligible
    for p in q.problems:
        if p.code == "tanggal-terbalik":  # an input error, not a rule
            continue
        # one short sentence naming its basis (or BKPSDM for a city choice / data problem)
        assert p.message.endswith(".") and len(p.message) < 300
        assert any(k in p.message for k in ("PP ", "Peraturan BKN", "Perwal", "BKPSDM", "satu cuti")), p.message


def test_refusal_names_rule_and_article() -> None:
    q = make_quote(PNS_3Y, Request("besar", D("2026-02-02"), D("2026-04-30")), work_days="1-5", ledger=[], config=CONFIG)
    assert q.problems[0].message == (
        "Cuti besar hanya untuk PNS dengan masa kerja paling singkat 5 tahun terus-menerus, kecuali untuk "
        "ibadah haji pertama (PP 11/2017 Pasal 316).")


def test_cuti_bersama_does_not_reduce_annual_leave() -> None:
    q = make_quote(PNS, Request("tahunan", D("2026-03-16"), D("2026-03-27")), work_days="1-5", ledger=[], config=CONFIG)
    assert (q.working_days, q.balance_before, q.balance_after) == (5, 12, 7)
    assert sum("cuti bersama" in e.reason for e in q.excluded) == 4


def test_six_day_unit_counts_saturday() -> None:
    q = make_quote(PNS, Request("tahunan", D("2026-03-09"), D("2026-03-14")), work_days="1-6", ledger=[], config=CONFIG)
    assert q.working_days == 6 and q.balance_after == 6


def test_cuti_besar_shows_its_effect_on_annual_leave() -> None:
    ledger = [HAK25, L(2026, "hak", 12, "2026-01-01"), L(2026, "pakai", -2, "2026-01-20")]
    q = make_quote(PNS, Request("besar", D("2026-02-02"), D("2026-04-30")), work_days="1-5", ledger=ledger, config=CONFIG)
    assert q.eligible
    assert {p.code for p in q.problems} == {"besar-dikurangi-tahunan"}
    assert (q.balance_before, q.balance_after) == (6 + 10, 6)


def test_non_pns_kind_enabled_by_data() -> None:
    config = parse_config({"non_pns": {"kinds": {"tahunan": {"max_working_days": 3, "min_service_years": 1,
                                                             "basis": "Perwal Kota Bekasi 42/2017"}}}}, {}, {})
    ok = make_quote(NON, Request("tahunan", D("2026-02-02"), D("2026-02-04")), work_days="1-5", ledger=[], config=config)
    assert ok.eligible and ok.balance_before is None
    long = make_quote(NON, Request("tahunan", D("2026-02-02"), D("2026-02-05")), work_days="1-5", ledger=[], config=config)
    assert {p.code for p in long.problems} == {"terlalu-lama"}
    sick = make_quote(NON, Request("sakit", D("2026-02-02"), D("2026-02-02")), work_days="1-5", ledger=[], config=config)
    assert "non-pns-belum-dikonfirmasi" in {p.code for p in sick.problems}
