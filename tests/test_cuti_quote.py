"""Cuti quotes against the real database (sample personnel, ledger rows, unit chain) and
through the `asnbot cuti quote` command. "Today" is always passed in."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from services.cuti.quote import QuoteError, quote
from services.cuti.rules import LeavePeriod, Request
from services.importer import import_pegawai
from services.models import CutiLedgerEntry, Employee, Unit
from tests.conftest import SAMPLE_CSV
from tests.test_cli import asnbot

D = date.fromisoformat
TODAY = D("2026-01-05")
AHMAD = "199001092014121001"   # PNS since 2014, BKPSDM (five-day week)
SITI = "199508112020032001"    # PNS since 2020, UPTD Puskesmas under Dinas Kesehatan
AISYAH = "199204022024032001"  # PNS since 2024
FITRI = "199312192023212001"   # PPPK since 2023
JOKO = "TKK-2019-000123"       # Non-PNS


@pytest.fixture
async def loaded(sessions):
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    assert report.applied
    return sessions


async def _ledger(sessions, nip: str, *rows: tuple[int, str, int, str]) -> None:
    async with sessions() as s:
        emp = (await s.execute(select(Employee).where(Employee.nip == nip))).scalar_one()
        for year, kind, days, when in rows:
            s.add(CutiLedgerEntry(employee_id=emp.id, year=year, kind=kind, days=days, effective_date=D(when),
                                  source="uji"))
        await s.commit()


async def test_quote_from_the_ledger(loaded) -> None:
    await _ledger(loaded, AHMAD, (2024, "hak", 12, "2024-01-01"), (2025, "hak", 12, "2025-01-01"),
                  (2025, "pakai", -9, "2025-08-04"), (2026, "hak", 12, "2026-01-01"))
    async with loaded() as s:
        q = await quote(s, "19900109 201412 1 001", Request("tahunan", D("2026-03-16"), D("2026-03-27")), today=TODAY)
    assert q.eligible and q.working_days == 5
    # N-2 lapses (leave was used in 2025), N-1 keeps 3 of its 3 unused days
    assert (q.balance.n2, q.balance.n1, q.balance.n) == (0, 3, 12)
    assert (q.balance_before, q.balance_after) == (15, 10)
    assert {e.date.isoformat() for e in q.excluded if "cuti bersama" in e.reason} == {
        "2026-03-18", "2026-03-20", "2026-03-23", "2026-03-24"}


async def test_six_day_week_is_inherited_from_the_parent_unit(loaded) -> None:
    async with loaded() as s:
        dinkes = (await s.execute(select(Unit).where(Unit.name == "Dinas Kesehatan"))).scalar_one()
        dinkes.work_days = "1-6"
        await s.commit()
        siti = await quote(s, SITI, Request("tahunan", D("2026-03-09"), D("2026-03-14")), today=TODAY)
        ahmad = await quote(s, AHMAD, Request("tahunan", D("2026-03-09"), D("2026-03-14")), today=TODAY)
    assert (siti.working_days, ahmad.working_days) == (6, 5)


async def test_refusals_for_real_people(loaded) -> None:
    async with loaded() as s:
        besar = await quote(s, AISYAH, Request("besar", D("2026-02-02"), D("2026-04-30")), today=TODAY)
        pppk = await quote(s, FITRI, Request("alasan-penting", D("2026-02-02"), D("2026-02-03")), today=TODAY)
        tkk = await quote(s, JOKO, Request("tahunan", D("2026-02-02"), D("2026-02-03")), today=TODAY)
        overlap = await quote(s, AHMAD, Request("tahunan", D("2026-02-02"), D("2026-02-06")), today=TODAY,
                              existing=[LeavePeriod("sakit", D("2026-02-05"), D("2026-02-05"))])
        with pytest.raises(QuoteError):
            await quote(s, "199001092014121999", Request("tahunan", D("2026-02-02"), D("2026-02-03")), today=TODAY)
    assert not besar.eligible and [p.code for p in besar.problems] == ["masa-kerja-kurang"]
    assert "PP 11/2017 Pasal 316" in besar.problems[0].message
    assert not pppk.eligible and "tidak-berhak-pppk" in {p.code for p in pppk.problems}
    assert not tkk.eligible and tkk.balance_before is None
    assert [p.code for p in tkk.problems] == ["non-pns-belum-dikonfirmasi"]
    assert [p.code for p in overlap.problems] == ["tumpang-tindih"]


def test_cli_quote_json(db_url: str, tmp_path: Path) -> None:
    out = asnbot(db_url, tmp_path, "import-pegawai", str(SAMPLE_CSV))
    assert out.returncode == 0, out.stderr
    out = asnbot(db_url, tmp_path, "cuti", "quote", "--nip", AHMAD, "--jenis", "tahunan", "--mulai", "2026-03-30",
                 "--selesai", "2026-04-03", "--today", "2026-01-05", "--luar-negeri", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"eligible", "working_days", "excluded", "balance_before", "balance_after", "problems"}
    # 3 Apr 2026 is Good Friday
    assert data["eligible"] is True and data["working_days"] == 4
    assert data["excluded"] == [{"date": "2026-04-03", "reason": "libur nasional: Wafat Yesus Kristus"}]
    assert (data["balance_before"], data["balance_after"]) == (12, 8)
    assert [p["code"] for p in data["problems"]] == ["luar-negeri"]

    out = asnbot(db_url, tmp_path, "cuti", "quote", "--nip", AISYAH, "--jenis", "besar", "--mulai", "2026-02-02",
                 "--selesai", "2026-04-30", "--today", "2026-01-05")
    assert out.returncode == 3
    assert "TIDAK dapat diajukan" in out.stdout and "PP 11/2017 Pasal 316" in out.stdout

    out = asnbot(db_url, tmp_path, "cuti", "quote", "--nip", "199001092014121999", "--jenis", "sakit",
                 "--mulai", "2026-02-02", "--selesai", "2026-02-02", "--json")
    assert out.returncode == 1 and "Tidak ada pegawai aktif" in out.stderr
