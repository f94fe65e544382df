"""Personnel import from BKPSDM SIAP exports (CSV or XLSX) into `units` and `employees`.

Two phases. First every row is parsed and validated with no database writes, collecting
every problem of every row (the database is only read, to resolve superiors and to avoid
unique-key clashes). Then, if the file is clean (or with ``partial=True`` for the good rows
only), units and employees are upserted in one transaction and one audit entry is written.

The NIK is never stored: only ``verification_hash(key, identifier, nik_tail(nik))``. A
re-import of the same file changes nothing, since fields are compared before writing.
Messages are in Bahasa Indonesia because BKPSDM staff read them.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import audit
from services.audit import Action
from services.models import Employee, EmploymentStatus, JenisJabatan, Unit, utcnow
from services.nip import (
    NipError,
    NipKind,
    check_nip_consistency,
    normalize_nip,
    parse_nip,
    validate_nomor_non_pns,
)
from services.pangkat import PNS_PANGKAT, PPPK_GOLONGAN, normalize_eselon, normalize_golongan
from services.phone import PhoneError, display_phone, normalize_phone
from services.security import nik_tail, verification_hash

__all__ = ["RowError", "ImportReport", "ImportFileError", "import_pegawai", "format_report", "COLUMNS"]

COLUMNS: tuple[str, ...] = (
    "nip", "nama", "gelar_depan", "gelar_belakang", "jenis_kelamin", "tanggal_lahir",
    "status_kepegawaian", "nomor_non_pns", "golongan", "jenis_jabatan", "eselon", "jabatan",
    "unit_kerja", "unit_induk", "nip_atasan", "tmt_cpns", "tmt_pangkat", "tmt_kgb",
    "pendidikan_terakhir", "telepon", "nik",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "nama", "jenis_kelamin", "tanggal_lahir", "status_kepegawaian", "unit_kerja", "unit_induk",
)
# Common spellings in other exports; the canonical names above always work.
HEADER_ALIASES: dict[str, str] = {
    "nip_baru": "nip",
    "nama_lengkap": "nama",
    "nama_pegawai": "nama",
    "jk": "jenis_kelamin",
    "tgl_lahir": "tanggal_lahir",
    "status": "status_kepegawaian",
    "status_pegawai": "status_kepegawaian",
    "pendidikan": "pendidikan_terakhir",
    "no_hp": "telepon",
    "nomor_hp": "telepon",
    "hp": "telepon",
    "telp": "telepon",
    "no_telepon": "telepon",
    "nomor_telepon": "telepon",
}

LABEL = {
    "tanggal_lahir": "Tanggal lahir",
    "tmt_cpns": "TMT CPNS",
    "tmt_pangkat": "TMT pangkat",
    "tmt_kgb": "TMT KGB",
}

# Sizes of the target columns (models.py): PostgreSQL rejects longer values, SQLite would not.
MAX_LEN = {"nama": 150, "gelar_depan": 60, "gelar_belakang": 80, "jabatan": 200, "unit_kerja": 200, "unit_induk": 200}

_STATUS = {
    "PNS": EmploymentStatus.PNS,
    "CPNS": EmploymentStatus.CPNS,
    "PPPK": EmploymentStatus.PPPK,
    "NONPNS": EmploymentStatus.NON_PNS,
    "TKK": EmploymentStatus.NON_PNS,
}
_SEX = {"L": "L", "LAKILAKI": "L", "LAKI": "L", "PRIA": "L", "P": "P", "PEREMPUAN": "P", "WANITA": "P"}
_JENIS_JABATAN = {
    "STRUKTURAL": JenisJabatan.STRUKTURAL,
    "JPT": JenisJabatan.STRUKTURAL,
    "JABATANPIMPINANTINGGI": JenisJabatan.STRUKTURAL,
    "ADMINISTRATOR": JenisJabatan.STRUKTURAL,
    "PENGAWAS": JenisJabatan.STRUKTURAL,
    "FUNGSIONAL": JenisJabatan.FUNGSIONAL,
    "JFT": JenisJabatan.FUNGSIONAL,
    "FUNGSIONALTERTENTU": JenisJabatan.FUNGSIONAL,
    "PELAKSANA": JenisJabatan.PELAKSANA,
    "JFU": JenisJabatan.PELAKSANA,
    "FUNGSIONALUMUM": JenisJabatan.PELAKSANA,
}
_EDUCATION = {
    "SD": "SD", "MI": "SD",
    "SMP": "SMP", "SLTP": "SMP", "MTS": "SMP",
    "SMA": "SMA", "SMK": "SMA", "SLTA": "SMA", "SMU": "SMA", "MA": "SMA",
    "D1": "D1", "DI": "D1", "D2": "D2", "DII": "D2", "D3": "D3", "DIII": "D3", "D4": "D4", "DIV": "D4",
    "S1": "S1", "S2": "S2", "S3": "S3",
}
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_FLOAT_EXACT = 2**53  # integers below this survive a float round-trip
_CODE_MAX = 120  # units.code is String(120)
# "Not in the future" is judged on the agency's calendar (WIB, no DST), not the server's UTC:
# a TMT dated today must pass during the morning in Bekasi.
WIB = timezone(timedelta(hours=7))


# ---- public API ------------------------------------------------------------------------------


@dataclass
class RowError:
    line: int  # 1-based line (CSV) / row (XLSX) in the file; the header is line 1
    key: str  # NIP, nomor_non_pns, or "-"
    messages: list[str]


@dataclass
class ImportReport:
    rows: int
    added: int
    updated: int
    unchanged: int
    skipped: int
    units_created: int
    errors: list[RowError]
    warnings: list[RowError]
    applied: bool


class ImportFileError(Exception):
    """The file as a whole cannot be imported (message in Bahasa Indonesia)."""


async def import_pegawai(
    session_factory: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    verification_key: bytes,
    partial: bool = False,
    actor: str = "cli",
) -> ImportReport:
    path = Path(path)
    header, records = _read_table(path)
    columns, header_warnings = _map_columns(header)
    today = max(date.today(), datetime.now(WIB).date())
    rows = [_parse_row(line, cells, columns, len(header), verification_key, today, path) for line, cells in records]
    if not rows:
        raise ImportFileError(f"File {path.name} tidak berisi data pegawai (hanya baris header).")
    _check_duplicates(rows)

    async with session_factory() as session, session.begin():
        units = list((await session.scalars(select(Unit))).all())
        employees = list((await session.scalars(select(Employee))).all())
        db = _Db(employees)
        _check_against_db(rows, db)

        good = [r for r in rows if not r.errors]
        bad = [r for r in rows if r.errors]
        warnings = list(header_warnings)
        if bad and not partial:
            warnings += [RowError(r.line, r.key, r.warnings) for r in rows if r.warnings]
            return ImportReport(
                rows=len(rows), added=0, updated=0, unchanged=0, skipped=len(rows), units_created=0,
                errors=[RowError(r.line, r.key, r.errors) for r in bad], warnings=warnings, applied=False,
            )

        _plan_superiors(good, bad, db)
        warnings += [RowError(r.line, r.key, r.warnings) for r in rows if r.warnings]

        unit_ids, units_created = await _resolve_units(session, units, good)
        added, updated, unchanged = await _write_employees(session, db, good, unit_ids)
        audit.record(
            session, Action.IMPORT, actor=actor[:80],
            file=path.name, rows=len(rows), added=added, updated=updated, unchanged=unchanged,
            skipped=len(bad), units_created=units_created, errors=len(bad), partial=partial,
        )
    return ImportReport(
        rows=len(rows), added=added, updated=updated, unchanged=unchanged, skipped=len(bad),
        units_created=units_created, errors=[RowError(r.line, r.key, r.errors) for r in bad],
        warnings=warnings, applied=True,
    )


def format_report(report: ImportReport, *, limit: int | None = None) -> str:
    """CLI text: bad rows, warnings, then the summary. `limit` caps each list (None = all)."""
    lines: list[str] = []

    def emit(items: list[RowError], prefix: str) -> None:
        shown = items if limit is None else items[:limit]
        for e in shown:
            where = "Header" if e.line == 1 and e.key == "-" else f"Baris {e.line} ({e.key})"
            lines.append(f"{prefix}{where}: {'; '.join(e.messages)}")
        if len(items) > len(shown):
            lines.append(f"{prefix}... dan {len(items) - len(shown)} baris lainnya")

    emit(report.errors, "")
    if report.warnings:
        if lines:
            lines.append("")
        lines.append("Peringatan:")
        emit(report.warnings, "")
    if lines:
        lines.append("")
    summary = (
        f"{report.rows} baris: {report.added} ditambah, {report.updated} diubah, "
        f"{report.unchanged} tidak berubah, {report.skipped} dilewati"
    )
    if report.units_created:
        summary += f"; {report.units_created} unit kerja baru dibuat"
    if report.errors:
        summary += f" ({len(report.errors)} baris bermasalah)"
    lines.append(summary + ".")
    if not report.applied:
        lines.append(
            "Tidak ada yang diimpor: perbaiki baris di atas, atau jalankan dengan --partial "
            "untuk mengimpor baris yang benar saja."
        )
    elif report.errors:
        lines.append("Baris yang bermasalah dilewati; baris lainnya sudah diimpor.")
    return "\n".join(lines)


# ---- reading the file ------------------------------------------------------------------------


def _read_table(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """Header cells and (line number, cells) of the non-blank data rows."""
    if not path.exists():
        raise ImportFileError(f"File {path} tidak ditemukan.")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix == ".xls":
        raise ImportFileError(
            "Format .xls (Excel 97-2003) tidak didukung; simpan ulang file sebagai .xlsx atau CSV."
        )
    raise ImportFileError(
        f"Jenis file '{path.suffix or path.name}' tidak dikenali; gunakan file .csv atau .xlsx."
    )


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode Text"
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")  # Excel "CSV (dipisahkan koma)" on Windows
    except UnicodeDecodeError:
        raise ImportFileError(
            f"File {name} tidak dapat dibaca sebagai teks; simpan sebagai 'CSV UTF-8'."
        ) from None


def _read_csv(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    try:
        text = _decode(path.read_bytes(), path.name)
    except OSError as e:
        raise ImportFileError(f"File {path.name} tidak dapat dibaca: {e.strerror or e}") from None
    text = text.lstrip("\ufeff")
    first_line, _, rest = text.partition("\n")
    line_offset = 0
    delimiter = None
    # Excel writes "sep=;" as the first line to announce the delimiter.
    hint = first_line.strip().lower()
    if hint.startswith("sep=") and len(hint) == 5:
        delimiter = first_line.strip()[4]
        text, line_offset = rest, 1
        first_line = text.partition("\n")[0]
    if delimiter is None:
        counts = {d: first_line.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d])
        if counts[delimiter] == 0:
            delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[Any] | None = None
    records: list[tuple[int, list[Any]]] = []
    start = 1
    try:
        for cells in reader:
            line = start + line_offset
            start = reader.line_num + 1  # a quoted value may span lines
            if header is None:
                header = cells
                continue
            if any(c.strip() for c in cells):
                records.append((line, cells))
    except csv.Error as e:
        raise ImportFileError(f"File {path.name} bukan CSV yang valid (baris {reader.line_num}): {e}") from None
    if not header or not any(str(h).strip() for h in header):
        raise ImportFileError(f"File {path.name} kosong atau baris pertamanya (header) kosong.")
    return header, records


def _read_xlsx(path: Path) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    import openpyxl  # local: only XLSX imports pay for it

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - zip/XML errors come in many types
        raise ImportFileError(f"File {path.name} tidak dapat dibaca sebagai .xlsx: {e}") from None
    try:
        if not wb.worksheets:
            raise ImportFileError(f"File {path.name} tidak berisi lembar kerja.")
        ws = wb.worksheets[0]
        header: list[Any] | None = None
        records: list[tuple[int, list[Any]]] = []
        for line, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            if header is None:
                header = list(cells)
                continue
            if any(c is not None and str(c).strip() for c in cells):
                records.append((line, list(cells)))
    finally:
        wb.close()
    if not header or not any(h is not None and str(h).strip() for h in header):
        raise ImportFileError(f"Lembar pertama file {path.name} kosong atau baris pertamanya (header) kosong.")
    return header, records


def _norm_header(raw: Any) -> str:
    s = str(raw or "").replace("\ufeff", "").strip().lower()
    s = re.sub(r"[\s\-]+", "_", s)
    return re.sub(r"_+", "_", s).strip("_")


def _map_columns(header: list[Any]) -> tuple[dict[str, int], list[RowError]]:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for i, raw in enumerate(header):
        name = _norm_header(raw)
        if not name:
            continue
        name = HEADER_ALIASES.get(name, name)
        if name not in COLUMNS:
            unknown.append(str(raw).strip())
            continue
        if name in columns:
            raise ImportFileError(f"Kolom {name} muncul lebih dari sekali di header.")
        columns[name] = i
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if "nip" not in columns and "nomor_non_pns" not in columns:
        missing.insert(0, "nip")
    if missing:
        raise ImportFileError(
            "Kolom wajib tidak ditemukan di header: " + ", ".join(missing)
            + ". Baris pertama harus berisi nama kolom, mis. " + ",".join(COLUMNS[:6]) + ",..."
        )
    warnings: list[RowError] = []
    if unknown:
        warnings.append(RowError(1, "-", ["Kolom tidak dikenal diabaikan: " + ", ".join(unknown)]))
    if "nik" not in columns:
        warnings.append(RowError(1, "-", [
            "Kolom nik tidak ada: data verifikasi (NIK) tidak diubah; pegawai baru belum dapat "
            "menautkan akun dengan nomor HP sampai NIK diimpor"
        ]))
    return columns, warnings


# ---- parsing one row ---------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    key: str = "-"
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nip: str | None = None  # valid NIP of this row
    ref_nip: str | None = None  # normalised NIP text even when invalid, to match nip_atasan
    approx_nip: float | None = None  # an NIP that Excel turned into a float: digits lost
    nomor: str | None = None
    phone: str | None = None
    atasan: str | None = None  # normalised NIP of the superior
    has_atasan: bool = False  # nip_atasan column present
    opd: str = ""
    unit: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # Employee attribute -> value
    match: Employee | None = None  # existing employee this row updates
    superior_id: int | None = None
    superior_known: bool = False  # superior resolved to a row/DB employee


def _text(v: Any) -> str:
    """Cell as whitespace-normalised text; a lone '-' means empty (common in exports)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        s = "1" if v else "0"
    elif isinstance(v, float) and v.is_integer() and abs(v) < _FLOAT_EXACT:
        s = str(int(v))
    elif isinstance(v, datetime):
        s = v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat(sep=" ")
    elif isinstance(v, date):
        s = v.isoformat()
    else:
        s = str(v)
    s = " ".join(s.split())
    return "" if s == "-" else s


def _number_text(v: Any, what: str, column: str) -> tuple[str, bool, str | None]:
    """A digits cell (NIP, NIK, phone): (text, was a number cell, error)."""
    fix = f"format kolom {column} sebagai Teks di Excel lalu isi ulang"
    if v is None:
        return "", False, None
    if isinstance(v, bool):
        return "", False, f"{what} berisi nilai benar/salah, bukan angka"
    if isinstance(v, int):
        return str(v), True, None
    if isinstance(v, float):
        if v.is_integer() and abs(v) < _FLOAT_EXACT:
            return str(int(v)), True, None
        return "", True, (
            f"{what} tersimpan sebagai angka desimal di Excel ({v:.15g}) sehingga digitnya tidak utuh lagi; {fix}"
        )
    s = _text(v).lstrip("'")  # a leading apostrophe forces text in Excel
    if _SCIENTIFIC.match(s):
        return "", False, f"{what} tertulis dalam notasi ilmiah ({s}); Excel sudah membulatkan digitnya; {fix}"
    if re.fullmatch(r"\d+\.0+", s):  # "1234.0" written by some exporters: lossless
        s = s.split(".")[0]
    return s, False, None


def _date(v: Any, column: str) -> tuple[date | None, str | None]:
    label = LABEL.get(column, column)
    if v is None:
        return None, None
    if isinstance(v, datetime):
        return v.date(), None
    if isinstance(v, date):
        return v, None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return None, f"{label} berisi angka ({_text(v)}), bukan tanggal; isi dengan format TTTT-BB-HH"
    s = _text(v)
    if not s:
        return None, None
    m = _ISO_DATE.match(s)
    if not m:
        return None, f"{label} '{s}' harus berformat TTTT-BB-HH (contoh: 1985-06-17)"
    try:
        return date(int(m[1]), int(m[2]), int(m[3])), None
    except ValueError:
        return None, f"{label} '{s}' bukan tanggal yang valid"


def _key(s: str) -> str:
    return re.sub(r"[\s._/\-]+", "", s).upper()


def _parse_row(
    line: int, cells: list[Any], columns: dict[str, int], width: int, key: bytes, today: date, path: Path
) -> _Row:
    row = _Row(line=line)
    err, warn = row.errors.append, row.warnings.append
    vals = row.values

    def cell(name: str) -> Any:
        i = columns.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    if path.suffix.lower() in (".csv", ".txt") and len(cells) != width:
        err(
            f"Baris berisi {len(cells)} kolom, padahal header {width} kolom; nilai yang mengandung "
            "pemisah (mis. gelar 'S.E., M.M.') harus diapit tanda kutip"
        )

    # -- identity -------------------------------------------------------------------------
    status_raw = _text(cell("status_kepegawaian"))
    status = _STATUS.get(_key(status_raw)) if status_raw else None
    if not status_raw:
        err("Status kepegawaian wajib diisi (PNS, CPNS, PPPK atau NON-PNS)")
    elif status is None:
        err(f"Status kepegawaian '{status_raw}' tidak dikenal; pilih PNS, CPNS, PPPK atau NON-PNS")
    else:
        vals["status"] = status.value

    nip_cell = cell("nip")
    nip_text, nip_numeric, nip_cell_error = _number_text(nip_cell, "NIP", "nip")
    if nip_cell_error:
        try:
            row.approx_nip = float(str(nip_cell).replace(",", "."))
        except ValueError:
            pass
    nomor_raw = _text(cell("nomor_non_pns"))
    if nip_text:
        row.ref_nip = normalize_nip(nip_text)
        row.key = row.ref_nip
    elif nomor_raw:
        row.key = nomor_raw.upper()

    nama = _text(cell("nama"))
    if not nama:
        err("Nama wajib diisi")
    vals["name"] = nama
    for col, attr in (("gelar_depan", "gelar_depan"), ("gelar_belakang", "gelar_belakang"), ("jabatan", "jabatan")):
        if col in columns:
            vals[attr] = _text(cell(col)) or None

    sex_raw = _text(cell("jenis_kelamin"))
    sex = _SEX.get(_key(sex_raw)) if sex_raw else None
    if not sex_raw:
        err("Jenis kelamin wajib diisi (L atau P)")
    elif sex is None:
        err(f"Jenis kelamin '{sex_raw}' tidak dikenal; isi L (laki-laki) atau P (perempuan)")
    vals["sex"] = sex

    birth, e = _date(cell("tanggal_lahir"), "tanggal_lahir")
    if e:
        err(e)
    elif birth is None:
        err("Tanggal lahir wajib diisi (format TTTT-BB-HH)")
    elif birth > today:
        err(f"Tanggal lahir {birth.isoformat()} berada di masa depan")
    elif birth.year < 1900:
        err(f"Tanggal lahir {birth.isoformat()} tidak masuk akal")
    vals["birth_date"] = birth

    tmt: dict[str, date | None] = {}
    for col in ("tmt_cpns", "tmt_pangkat", "tmt_kgb"):
        d, e = _date(cell(col), col)
        if e:
            err(e)
        elif d is not None:
            if d > today:
                err(f"{LABEL[col]} {d.isoformat()} berada di masa depan")
            elif birth is not None and d < birth:
                err(f"{LABEL[col]} {d.isoformat()} lebih awal dari tanggal lahir {birth.isoformat()}")
        tmt[col] = d
    cpns = tmt["tmt_cpns"]
    for col in ("tmt_pangkat", "tmt_kgb"):
        d = tmt[col]
        if d is not None and cpns is not None and d < cpns:
            err(f"{LABEL[col]} {d.isoformat()} lebih awal dari TMT CPNS {cpns.isoformat()}")

    if status is EmploymentStatus.NON_PNS:
        if nip_text or nip_cell_error:
            err("Pegawai Non-PNS tidak memiliki NIP; kosongkan kolom nip dan isi kolom nomor_non_pns "
                "(jika pegawai ini PNS/PPPK, perbaiki status_kepegawaian)")
        if not nomor_raw:
            err("Nomor Non-PNS wajib diisi (kolom nomor_non_pns) untuk pegawai Non-PNS")
        if "nip" in columns:
            vals["nip"] = None
        ignored = [LABEL[c] for c in tmt if tmt[c] is not None]
        if ignored:
            warn(f"Pegawai Non-PNS tidak memiliki {', '.join(ignored)}; nilainya diabaikan")
        tmt = dict.fromkeys(tmt)
    else:
        kind = {EmploymentStatus.PPPK: NipKind.PPPK, None: None}.get(status, NipKind.PNS)
        if nip_cell_error:
            err(nip_cell_error)
        elif not nip_text:
            if status is not None:
                err(f"NIP wajib diisi untuk pegawai {status.value} (18 digit angka)")
        else:
            try:
                info = parse_nip(nip_text, kind, today=today)
            except NipError as e:
                hint = (" (NIP diketik sebagai angka di Excel; format kolom nip sebagai Teks)"
                        if nip_numeric else "")
                err(f"{e}{hint}")
            else:
                row.nip = row.key = info.nip
                vals["nip"] = info.nip
                for problem in check_nip_consistency(info, birth_date=birth, sex=sex, tmt_cpns=cpns):
                    err(problem)
                for w in info.warnings:
                    warn(w)
    for col in tmt:
        if col in columns:
            vals[col] = tmt[col]

    if nomor_raw:
        try:
            row.nomor = validate_nomor_non_pns(nomor_raw)
        except NipError as e:
            err(str(e))
        else:
            if status is EmploymentStatus.NON_PNS or not nip_text:
                row.key = row.nomor
    if "nomor_non_pns" in columns:
        vals["nomor_non_pns"] = row.nomor

    # -- position ---------------------------------------------------------------------------
    gol_raw = _text(cell("golongan"))
    gol = None
    if gol_raw:
        gol = normalize_golongan(gol_raw)
        if status is EmploymentStatus.NON_PNS:
            err("Pegawai Non-PNS tidak memiliki golongan; kosongkan kolom golongan")
        elif status is EmploymentStatus.PPPK:
            if gol is None:
                err(f"Golongan '{gol_raw}' tidak dikenal; PPPK memakai golongan I sampai XVII")
            elif gol in PNS_PANGKAT:
                err(f"Golongan {gol} adalah golongan ruang PNS; PPPK memakai golongan I sampai XVII")
        elif status is not None:
            if gol is None:
                err(f"Golongan '{gol_raw}' tidak dikenal; {status.value} memakai golongan ruang I/a sampai IV/e")
            elif gol in PPPK_GOLONGAN:
                err(f"Golongan {gol} adalah golongan PPPK; {status.value} memakai golongan ruang I/a sampai IV/e")
        elif gol is None:
            err(f"Golongan '{gol_raw}' tidak dikenal")
    if "golongan" in columns:
        vals["golongan"] = gol

    jj_raw = _text(cell("jenis_jabatan"))
    jj = _JENIS_JABATAN.get(_key(jj_raw)) if jj_raw else None
    if jj_raw and jj is None:
        err(f"Jenis jabatan '{jj_raw}' tidak dikenal; pilih struktural, fungsional atau pelaksana")
    if "jenis_jabatan" in columns:
        vals["jenis_jabatan"] = jj.value if jj else None

    es_raw = _text(cell("eselon"))
    eselon = None
    if es_raw and _key(es_raw) not in ("NONESELON", "0"):
        eselon = normalize_eselon(es_raw)
        if eselon is None:
            err(f"Eselon '{es_raw}' tidak dikenal (contoh: II.a, III.b, IV.a)")
        elif jj is not JenisJabatan.STRUKTURAL:
            err(f"Eselon {eselon} hanya untuk jabatan struktural (jenis jabatan: {jj.value if jj else 'kosong'})")
    if "eselon" in columns:
        vals["eselon"] = eselon

    row.opd = _text(cell("unit_induk"))
    row.unit = _text(cell("unit_kerja"))
    if not row.opd:
        err("Unit induk (Perangkat Daerah) wajib diisi")
    if not row.unit:
        err("Unit kerja wajib diisi (isi sama dengan unit induk bila pegawai berada di tingkat Perangkat Daerah)")
    for col, value in (("nama", nama), ("gelar_depan", vals.get("gelar_depan")),
                       ("gelar_belakang", vals.get("gelar_belakang")), ("jabatan", vals.get("jabatan")),
                       ("unit_kerja", row.unit), ("unit_induk", row.opd)):
        if value and len(value) > MAX_LEN[col]:
            err(f"Kolom {col} terlalu panjang ({len(value)} karakter, maksimal {MAX_LEN[col]})")

    if "nip_atasan" in columns:
        row.has_atasan = True
        at_text, _, e = _number_text(cell("nip_atasan"), "NIP atasan", "nip_atasan")
        if e:
            err(e)
        elif at_text:
            try:
                row.atasan = parse_nip(at_text, today=today).nip
            except NipError as ex:
                err(f"NIP atasan tidak valid: {ex}")
            else:
                if row.atasan == row.ref_nip:
                    err("NIP atasan sama dengan NIP pegawai itu sendiri")

    edu_raw = _text(cell("pendidikan_terakhir"))
    edu = _EDUCATION.get(_key(edu_raw)) if edu_raw else None
    if edu_raw and edu is None:
        err(f"Pendidikan terakhir '{edu_raw}' tidak dikenal; pilih SD, SMP, SMA, D1, D2, D3, D4, S1, S2 atau S3")
    if "pendidikan_terakhir" in columns:
        vals["education"] = edu

    # -- contact and verification --------------------------------------------------------------
    if "telepon" in columns:
        ph_text, _, e = _number_text(cell("telepon"), "Nomor HP", "telepon")
        if e:
            err(e)
        elif ph_text:
            try:
                row.phone = normalize_phone(ph_text)
            except PhoneError as ex:
                err(f"Telepon: {ex}")
        vals["phone"] = row.phone

    if "nik" in columns:
        # The NIK itself never appears in a message, a log or the database.
        nik_text, nik_numeric, e = _number_text(cell("nik"), "NIK", "nik")
        nik = re.sub(r"[\s.\-]", "", nik_text)
        vals["verification_hash"] = None
        if e:
            err(e)
        elif not nik:
            warn("NIK kosong: pegawai ini belum dapat menautkan akun Telegram dengan nomor HP "
                 "(perlu kode tautan dari admin)")
        elif not nik.isdigit() or not nik.isascii():
            err("NIK hanya boleh berisi angka")
        elif len(nik) != 16:
            err(f"NIK harus 16 digit angka (diterima {len(nik)} digit)")
        else:
            if nik_numeric and nik.endswith("0"):
                warn("NIK diketik sebagai angka di Excel dan berakhir 0: Excel hanya menyimpan 15 digit, "
                     "jadi digit terakhir mungkin sudah berubah; periksa dan format kolom nik sebagai Teks")
            ident = row.nip if status is not EmploymentStatus.NON_PNS else row.nomor
            if ident:
                vals["verification_hash"] = verification_hash(key, ident, nik_tail(nik))
    return row


def _check_duplicates(rows: list[_Row]) -> None:
    """Flag every row sharing an NIP, Non-PNS number or phone with another row of the file."""

    def flag(get: Any, message: Any) -> None:
        seen: dict[str, list[_Row]] = defaultdict(list)
        for r in rows:
            v = get(r)
            if v:
                seen[v].append(r)
        for v, group in seen.items():
            if len(group) > 1:
                for r in group:
                    others = ", ".join(str(o.line) for o in group if o is not r)
                    r.errors.append(message(v, others))

    flag(lambda r: r.ref_nip, lambda v, o: f"NIP {v} muncul lebih dari sekali dalam file (juga di baris {o})")
    flag(lambda r: r.nomor, lambda v, o: f"Nomor Non-PNS {v} muncul lebih dari sekali dalam file (juga di baris {o})")
    flag(lambda r: r.phone, lambda v, o: (
        f"Nomor HP {display_phone(v)} juga dipakai di baris {o}; setiap pegawai harus memiliki nomor HP sendiri"
    ))


# ---- checks against the database ---------------------------------------------------------------


class _Db:
    """Existing employees, loaded once (no per-row queries)."""

    def __init__(self, employees: list[Employee]) -> None:
        self.employees = employees
        self.by_id = {e.id: e for e in employees}
        self.by_nip = {e.nip: e for e in employees if e.nip}
        self.by_nomor = {e.nomor_non_pns: e for e in employees if e.nomor_non_pns}
        self.by_phone: dict[str, list[Employee]] = defaultdict(list)
        for e in employees:
            if e.phone:
                self.by_phone[e.phone].append(e)

    def edges(self) -> dict[str, str]:
        """Superior links of the database, NIP -> superior NIP."""
        out: dict[str, str] = {}
        for e in self.employees:
            if e.nip and e.superior_id is not None:
                sup = self.by_id.get(e.superior_id)
                if sup is not None and sup.nip:
                    out[e.nip] = sup.nip
        return out


def _label(emp: Employee) -> str:
    return f"NIP {emp.nip}" if emp.nip else f"nomor {emp.nomor_non_pns}"


def _check_against_db(rows: list[_Row], db: _Db) -> None:
    # Which existing employee each row updates; clashes would violate a unique key.
    for r in rows:
        if r.nip:
            r.match = db.by_nip.get(r.nip)
            other = db.by_nomor.get(r.nomor) if r.nomor else None
            if r.match is None and other is not None and other.nip is None:
                r.match = other  # a Non-PNS who became PPPK/PNS keeps the same record
                r.warnings.append(f"Data Non-PNS dengan nomor {r.nomor} diperbarui menjadi {r.values.get('status')} "
                                  f"dengan NIP {r.nip}")
            elif other is not None and other is not r.match:
                r.errors.append(f"Nomor Non-PNS {r.nomor} sudah dipakai pegawai lain di database ({_label(other)})")
        elif r.nomor and r.values.get("status") == EmploymentStatus.NON_PNS:
            r.match = db.by_nomor.get(r.nomor)
            if r.match is not None and r.match.nip:
                r.errors.append(
                    f"Nomor Non-PNS {r.nomor} sudah terdaftar untuk pegawai dengan NIP {r.match.nip}; "
                    "pegawai ber-NIP tidak dapat diimpor sebagai Non-PNS"
                )
                r.match = None

    # Superiors must exist; the chain (file over database) must not loop.
    file_nips = {r.ref_nip for r in rows if r.ref_nip}
    approx = [r.approx_nip for r in rows if r.approx_nip is not None]
    for r in rows:
        if r.atasan and r.atasan != r.ref_nip and r.atasan not in file_nips and r.atasan not in db.by_nip:
            # A superior whose own NIP cell Excel rounded is reported on that row, not here.
            a = float(r.atasan)
            if not any(abs(a - f) <= max(1.0, abs(f) * 1e-14) for f in approx):
                r.errors.append(f"Atasan dengan NIP {r.atasan} tidak ditemukan, baik di file ini maupun di database")
    # Rows of a file without a nip_atasan column keep their database superiors.
    overridden = {r.ref_nip for r in rows if r.ref_nip and r.has_atasan}
    edges = {n: s for n, s in db.edges().items() if n not in overridden}
    by_nip: dict[str, _Row] = {}
    for r in rows:
        if r.ref_nip and r.ref_nip not in by_nip:
            by_nip[r.ref_nip] = r
            if r.atasan and r.atasan != r.ref_nip:
                edges[r.ref_nip] = r.atasan
    for cycle in _find_cycles(edges):
        text = " → ".join([*cycle[:8], *(["…"] if len(cycle) > 8 else []), cycle[0]])
        for n in cycle:
            if n in by_nip:
                by_nip[n].errors.append(f"Rantai atasan berputar: {text}; perbaiki nip_atasan")

    # A phone shared with someone outside the file makes linking by phone ambiguous.
    in_file = {id(r.match) for r in rows if r.match is not None}
    for r in rows:
        if r.phone:
            others = [e for e in db.by_phone.get(r.phone, ()) if e is not r.match and id(e) not in in_file and e.active]
            if others:
                r.warnings.append(
                    f"Nomor HP {display_phone(r.phone)} juga tercatat untuk pegawai lain di database "
                    f"({', '.join(_label(e) for e in others[:3])})"
                )


def _find_cycles(edges: dict[str, str]) -> list[list[str]]:
    """Cycles of a graph where each node has at most one outgoing edge (node -> superior)."""
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = finished
    cycles: list[list[str]] = []
    for start in edges:
        if start in state:
            continue
        path: list[str] = []
        pos: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            pos[node] = len(path)
            path.append(node)
            node = edges.get(node)
        if node is not None and state[node] == 1:
            cycles.append(path[pos[node]:])
        for n in path:
            state[n] = 2
    return cycles


def _plan_superiors(good: list[_Row], bad: list[_Row], db: _Db) -> None:
    """Decide which superior each imported row gets, given that bad rows are skipped."""
    good_nips = {r.nip for r in good if r.nip}
    bad_lines: dict[str, list[str]] = defaultdict(list)
    for r in bad:
        if r.ref_nip:
            bad_lines[r.ref_nip].append(str(r.line))

    def where(nip: str) -> str:
        lines = bad_lines.get(nip)
        return f", baris {', '.join(lines)}" if lines else ""

    for r in good:
        if not r.atasan:
            r.superior_known = True
            continue
        if r.atasan in good_nips or r.atasan in db.by_nip:
            r.superior_known = True  # a skipped superior that already exists is still linked
        else:
            r.warnings.append(
                f"Atasan (NIP {r.atasan}{where(r.atasan)}) tidak diimpor karena bermasalah; "
                "atasan pegawai ini dikosongkan"
            )
    # Skipped rows keep their database links, which could close a loop with the new ones.
    overridden = {r.nip for r in good if r.nip and r.has_atasan}
    edges = {n: s for n, s in db.edges().items() if n not in overridden}
    rows_by_nip = {r.nip: r for r in good if r.nip}
    for r in good:
        if r.nip and r.atasan and r.superior_known:
            edges[r.nip] = r.atasan
    for cycle in _find_cycles(edges):
        for n in cycle:
            r = rows_by_nip.get(n)
            if r is not None:
                r.superior_known = False
                r.warnings.append("Atasan dikosongkan karena rantai atasan akan berputar dengan data di database")


# ---- writing ------------------------------------------------------------------------------------


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _slug(name: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "unit"


def _fit_code(code: str) -> str:
    if len(code) <= _CODE_MAX:
        return code
    digest = hashlib.sha1(code.encode()).hexdigest()[:8]
    return code[: _CODE_MAX - 9].rstrip("-/") + "-" + digest


async def _resolve_units(
    session: AsyncSession, units: list[Unit], rows: list[_Row]
) -> tuple[dict[tuple[str, str], int], int]:
    """Unit id for each (OPD, unit kerja) pair, creating missing OPDs and sub-units."""
    codes = {u.code for u in units}
    roots: dict[str, Unit] = {}
    children: dict[int, list[Unit]] = defaultdict(list)
    for u in sorted(units, key=lambda u: u.id):
        if u.parent_id is None:
            roots.setdefault(_name_key(u.name), u)
        else:
            children[u.parent_id].append(u)

    def unique_code(base: str) -> str:
        code, i = _fit_code(base), 2
        while code in codes:
            code, i = _fit_code(f"{base}-{i}"), i + 1
        codes.add(code)
        return code

    def find_below(opd: Unit, key: str) -> Unit | None:
        # Direct child first, then deeper levels (a seeded tree may nest bidang/sub-bidang).
        level = children.get(opd.id, [])
        seen = 0
        while level and seen < 10:
            for u in level:
                if _name_key(u.name) == key:
                    return u
            level = [c for u in level for c in children.get(u.id, [])]
            seen += 1
        return None

    created = 0
    new_opds: list[Unit] = []
    for r in rows:
        k = _name_key(r.opd)
        if k not in roots:
            u = Unit(code=unique_code(_slug(r.opd)), name=r.opd, kind="opd", parent_id=None, active=True)
            roots[k] = u
            new_opds.append(u)
    if new_opds:
        session.add_all(new_opds)
        await session.flush()
        created += len(new_opds)

    result: dict[tuple[str, str], int] = {}
    new_units: dict[tuple[int, str], Unit] = {}
    for r in rows:
        pair = (_name_key(r.opd), _name_key(r.unit))
        if pair in result:
            continue
        opd = roots[pair[0]]
        if pair[1] == pair[0]:
            result[pair] = opd.id
            continue
        found = find_below(opd, pair[1])
        if found is not None:
            result[pair] = found.id
        elif (opd.id, pair[1]) not in new_units:
            new_units[(opd.id, pair[1])] = Unit(
                code=unique_code(f"{opd.code}/{_slug(r.unit)}"), name=r.unit, kind="unit", parent_id=opd.id, active=True
            )
    if new_units:
        session.add_all(list(new_units.values()))
        await session.flush()
        created += len(new_units)
        id_to_key = {u.id: k for k, u in roots.items()}
        for (opd_id, unit_key), u in new_units.items():
            result[(id_to_key[opd_id], unit_key)] = u.id
    return result, created


_COMPARED = (
    "nip", "nomor_non_pns", "status", "name", "gelar_depan", "gelar_belakang", "sex", "birth_date", "golongan",
    "jenis_jabatan", "eselon", "jabatan", "unit_id", "tmt_cpns", "tmt_pangkat", "tmt_kgb", "education", "phone",
    "verification_hash",
)


async def _write_employees(
    session: AsyncSession, db: _Db, rows: list[_Row], unit_ids: dict[tuple[str, str], int]
) -> tuple[int, int, int]:
    for r in rows:
        r.values["unit_id"] = unit_ids[(_name_key(r.opd), _name_key(r.unit))]

    # Pass 1: insert new employees in bulk (superiors come in pass 2, once every id exists).
    new = [r for r in rows if r.match is None]
    id_by_nip = {e.nip: e.id for e in db.employees if e.nip}
    if new:
        now = utcnow()
        params = []
        for r in new:
            p: dict[str, Any] = dict.fromkeys(_COMPARED)
            p.update({k: v for k, v in r.values.items() if k in p})
            p.update(superior_id=None, tmt_pns=None, active=True, created_at=now, updated_at=now)
            params.append(p)
        ids_by_ident: dict[tuple[str | None, str | None], int] = {}
        for chunk_start in range(0, len(params), 2000):
            chunk = params[chunk_start:chunk_start + 2000]
            res = await session.execute(
                insert(Employee).returning(Employee.id, Employee.nip, Employee.nomor_non_pns), chunk
            )
            for emp_id, nip, nomor in res.all():
                ids_by_ident[(nip, nomor)] = emp_id
                if nip:
                    id_by_nip[nip] = emp_id
        new_ids = [ids_by_ident[(p["nip"], p["nomor_non_pns"])] for p in params]
    else:
        new_ids = []

    # Pass 2: superiors, and field-by-field updates of existing employees.
    for r in rows:
        if r.has_atasan:
            r.superior_id = id_by_nip.get(r.atasan) if r.atasan and r.superior_known else None
    updated = unchanged = 0
    for r in rows:
        emp = r.match
        if emp is None:
            continue
        desired = dict(r.values)
        if r.has_atasan:
            desired["superior_id"] = r.superior_id
        changed = False
        for attr, value in desired.items():
            if getattr(emp, attr) != value:
                setattr(emp, attr, value)
                changed = True
        if changed:
            updated += 1
        else:
            unchanged += 1
    await session.flush()
    links = [
        {"id": emp_id, "superior_id": r.superior_id}
        for r, emp_id in zip(new, new_ids)
        if r.superior_id is not None
    ]
    if links:
        await session.execute(update(Employee), links)
    return len(new), updated, unchanged


# Public for the other imports of BKPSDM spreadsheets (e.g. opening cuti balances).
read_table = _read_table
norm_header = _norm_header
