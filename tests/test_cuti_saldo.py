"""Opening cuti balances imported from the current system, then used by the quote."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from services.cuti.quote import quote
from services.cuti.rules import Request
from services.cuti.saldo_import import import_saldo_cuti
from services.importer import import_pegawai
from services.models import CutiLedgerEntry
from tests.conftest import SAMPLE_CSV
from tests.test_cli import asnbot

FAUZI = "199001092014121001"
TODAY = date(2026, 11, 27)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_import_is_idempotent_and_corrections_are_ledger_entries(sessions, tmp_path: Path) -> None:  # noqa: ANN001
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    f = write(tmp_path / "saldo.csv", f"NIP;Tahun;Sisa\n{FAUZI};2025;6\n{FAUZI};2026;7\n")
    first = await import_saldo_cuti(sessions, f, today=TODAY)
    assert (first.applied, first.added, first.unchanged) == (True, 2, 0)
    again = await import_saldo_cuti(sessions, f, today=TODAY)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    f = write(tmp_path / "saldo.csv", f"nip,tahun,sisa\n{FAUZI},2025,6\n{FAUZI},2026,5\n")
    changed = await import_saldo_cuti(sessions, f, today=TODAY)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)
    async with sessions() as s:
        rows = (await s.execute(select(CutiLedgerEntry.year, CutiLedgerEntry.kind, CutiLedgerEntry.days)
                                .order_by(CutiLedgerEntry.id))).all()
    assert rows == [(2025, "saldo-awal", 6), (2026, "saldo-awal", 7), (2026, "koreksi", -2)]
    # The quote in 2026 sees N-1 = 6 and N = 5 (the imported N already holds its entitlement).
    async with sessions() as s:
        q = await quote(s, FAUZI, Request("tahunan", date(2026, 12, 14), date(2026, 12, 15)), today=TODAY)
    assert q.balance_before == 11 and q.balance_after == 9


async def test_bad_rows_import_nothing(sessions, tmp_path: Path) -> None:  # noqa: ANN001
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    f = write(tmp_path / "saldo.csv", f"nip,tahun,sisa\n{FAUZI},2026,7\n199999999999999999,2026,3\n{FAUZI},2026,30\n")
    report = await import_saldo_cuti(sessions, f, today=TODAY)
    assert not report.applied
    assert {e.line for e in report.errors} == {3, 4}
    async with sessions() as s:
        assert (await s.execute(select(CutiLedgerEntry))).first() is None


async def test_cli(db_url: str, sessions, tmp_path: Path) -> None:  # noqa: ANN001
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    f = write(tmp_path / "saldo.csv", f"nip,tahun,sisa,keterangan\n{FAUZI},2026,7,dari SIAP\n")
    out = asnbot(db_url, tmp_path, "import-saldo-cuti", str(f))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 ditambah" in out.stdout
