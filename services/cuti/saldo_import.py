"""`asnbot import-saldo-cuti FILE`: opening cuti tahunan balances from the current system, so
nobody starts at zero. Columns (any order, header case-insensitive, .csv or .xlsx):
nip (or nomor_non_pns), tahun, sisa [, keterangan].

Balances go into the ledger as "saldo-awal" entries; importing a changed file adds a "koreksi"
entry with the difference, so the ledger stays append-only and importing the same file twice
changes nothing."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import audit
from services.importer import ImportFileError, ImportReport, RowError, norm_header, read_table
from services.models import CutiLedgerEntry, Employee

SOURCE_PREFIX = "import-saldo:"
MAX_DAYS = 24  # the most cuti tahunan one year can hold (PP 11/2017 Pasal 312)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


async def import_saldo_cuti(
    session_factory: async_sessionmaker[AsyncSession], path: Path, *, today: date | None = None, actor: str = "cli"
) -> ImportReport:
    today = today or date.today()
    header, records = read_table(path)
    cols = {norm_header(h): i for i, h in enumerate(header)}
    key_col = cols.get("nip", cols.get("nomor_non_pns"))
    missing = [c for c, ok in (("nip", key_col is not None), ("tahun", "tahun" in cols), ("sisa", "sisa" in cols)) if not ok]
    if missing:
        raise ImportFileError(f"Kolom wajib tidak ada: {', '.join(missing)} (kolom: nip, tahun, sisa).")

    def cell(cells: list[Any], name: str) -> Any:
        i = cols.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    async with session_factory() as s:
        ids = {
            (nip or non): emp_id
            for nip, non, emp_id in (await s.execute(select(Employee.nip, Employee.nomor_non_pns, Employee.id))).all()
        }
        errors: list[RowError] = []
        rows: list[tuple[int, int, int, str]] = []  # employee id, year, days, note
        seen: set[tuple[str, int]] = set()
        for line, cells in records:
            key = str(cells[key_col] if key_col < len(cells) else "").strip().replace(" ", "").upper()
            year, days = _int(cell(cells, "tahun")), _int(cell(cells, "sisa"))
            problems = []
            if key not in ids:
                problems.append(f"pegawai {key or '(kosong)'} tidak ada di basis data (impor pegawai dulu)")
            if year is None or not (2000 <= year <= today.year):
                problems.append(f"tahun harus tahun 2000-{today.year}")
            if days is None or not (0 <= days <= MAX_DAYS):
                problems.append(f"sisa harus bilangan bulat 0-{MAX_DAYS} hari kerja")
            if year is not None and (key, year) in seen:
                problems.append(f"pegawai {key} tahun {year} tercantum dua kali")
            seen.add((key, year or 0))
            if problems:
                errors.append(RowError(line, key or "-", problems))
            else:
                rows.append((ids[key], year, days, str(cell(cells, "keterangan") or "").strip()))
        if errors:
            return ImportReport(len(records), 0, 0, 0, len(records), 0, errors, [], applied=False)

        current: dict[tuple[int, int], int] = defaultdict(int)
        existing: set[tuple[int, int]] = set()
        for emp_id, year, days in (
            await s.execute(
                select(CutiLedgerEntry.employee_id, CutiLedgerEntry.year, CutiLedgerEntry.days).where(
                    CutiLedgerEntry.source.like(f"{SOURCE_PREFIX}%")
                )
            )
        ).all():
            current[(emp_id, year)] += days
            existing.add((emp_id, year))
        added = updated = unchanged = 0
        source = f"{SOURCE_PREFIX}{path.name}"[:200]
        for emp_id, year, days, note in rows:
            k = (emp_id, year)
            if k not in existing:
                kind, delta, added = "saldo-awal", days, added + 1
            elif current[k] != days:
                kind, delta, updated = "koreksi", days - current[k], updated + 1
            else:
                unchanged += 1
                continue
            s.add(CutiLedgerEntry(employee_id=emp_id, year=year, kind=kind, days=delta, effective_date=today,
                                  note=note or None, source=source))
        audit.record(s, "import_saldo_cuti", actor=actor, file=path.name, added=added, updated=updated)
        await s.commit()
    return ImportReport(len(records), added, updated, unchanged, 0, 0, [], [], applied=True)
