"""An employee's own KGB, kenaikan pangkat and pensiun dates (table-driven)."""
from __future__ import annotations

from datetime import date

import pytest

from services.models import Employee
from services.personal_dates import next_kgb, next_kp, pensiun

TODAY = date(2026, 11, 27)


def emp(**kw: object) -> Employee:
    base = dict(status="PNS", sex="L", birth_date=date(1990, 1, 9), golongan="II/c", jenis_jabatan="pelaksana",
                eselon=None, jabatan="Pengadministrasi Umum", tmt_cpns=date(2014, 12, 1), tmt_pangkat=date(2022, 10, 1),
                tmt_kgb=date(2024, 12, 1), education="SMA")
    base.update(kw)
    return Employee(**base)


@pytest.mark.parametrize(("kw", "expected", "note"), [
    ({}, date(2026, 12, 1), None),
    ({"tmt_kgb": None}, date(2016, 12, 1), "TMT CPNS"),
    ({"tmt_kgb": date(2022, 3, 1)}, date(2024, 3, 1), "seharusnya sudah berlaku"),
    ({"tmt_kgb": date(2024, 2, 29)}, date(2026, 2, 28), None),  # leap day
])
def test_next_kgb(kw: dict, expected: date, note: str | None) -> None:
    m = next_kgb(emp(**kw), TODAY)
    assert m.when == expected
    assert note is None or any(note in n for n in m.notes)


@pytest.mark.parametrize("status", ["PPPK", "NON-PNS"])
def test_kgb_not_computed_for_non_pns(status: str) -> None:
    m = next_kgb(emp(status=status), TODAY)
    assert m.when is None and "perlu konfirmasi" in m.not_applicable


@pytest.mark.parametrize(("kw", "expected", "note"), [
    ({}, date(2026, 10, 1), "sudah cukup"),  # reguler: 4 years, already due
    ({"tmt_pangkat": date(2023, 4, 15)}, date(2027, 5, 1), None),  # monthly periods: next 1st
    ({"jenis_jabatan": "fungsional", "golongan": "III/b", "tmt_pangkat": date(2025, 4, 1)}, date(2027, 4, 1),
     "angka kredit"),
    ({"golongan": "III/b", "tmt_pangkat": date(2024, 4, 1)}, date(2028, 4, 1), "paling tinggi III/b"),
    ({"golongan": "III/d", "education": "S2", "tmt_pangkat": date(2024, 4, 1)}, date(2028, 4, 1), "ujian dinas"),
])
def test_next_kp(kw: dict, expected: date, note: str | None) -> None:
    m = next_kp(emp(**kw), TODAY)
    assert m.when == expected
    assert note is None or any(note in n for n in m.notes), m.notes


def test_no_kp_beyond_iv_e_or_for_pppk() -> None:
    assert next_kp(emp(golongan="IV/e"), TODAY).not_applicable
    assert next_kp(emp(status="PPPK", golongan="IX"), TODAY).not_applicable


@pytest.mark.parametrize(("kw", "expected", "age"), [
    ({}, date(2048, 2, 1), 58),  # pelaksana: 58; TMT the 1st of the month after the birthday
    ({"eselon": "II.a", "jenis_jabatan": "struktural", "birth_date": date(1970, 10, 5)}, date(2030, 11, 1), 60),
    ({"jabatan": "Analis SDM Aparatur Ahli Madya", "birth_date": date(1968, 12, 20)}, date(2029, 1, 1), 60),
    ({"jabatan": "Widyaiswara Ahli Utama", "birth_date": date(1966, 2, 28)}, date(2031, 3, 1), 65),
    ({"birth_date": date(1972, 2, 29)}, date(2030, 3, 1), 58),  # leap-day birthday
])
def test_pensiun(kw: dict, expected: date, age: int) -> None:
    m = pensiun(emp(**kw))
    assert m.when == expected
    assert f"{age} tahun" in m.notes[0]


def test_pensiun_guru_says_it_is_unconfirmed_and_pppk_has_none() -> None:
    assert any("perlu konfirmasi" in n for n in pensiun(emp(jabatan="Guru Ahli Pertama")).notes)
    assert pensiun(emp(status="PPPK")).not_applicable
