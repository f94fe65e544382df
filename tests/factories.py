"""Test inputs shared by tests and benchmarks: the sample SIAP export and synthetic exports."""
from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent / "data" / "contoh-import-pegawai.csv"


def sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], *, delimiter: str = ",",
              bom: bool = False, header_names: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
        w.writerow(header_names or header)
        for r in rows:
            w.writerow([r.get(c, "") for c in header])
    return path


def synthetic_export(path: Path, n: int) -> Path:
    """n valid PNS rows in 40 OPDs, each with a superior earlier in the file (a tree)."""
    header, _ = sample_rows()
    rows = []
    for i in range(n):
        birth = date(1965, 1, 1) + timedelta(days=i % 12000)
        tmt = date(birth.year + 25, birth.month, 1)
        sex = "1" if i % 2 == 0 else "2"
        nip = f"{birth:%Y%m%d}{tmt:%Y%m}{sex}{i // 12000 + 1:03d}"
        opd = f"Dinas Nomor {i % 40}"
        rows.append({
            "nip": nip, "nama": f"Pegawai {i}", "jenis_kelamin": "L" if sex == "1" else "P",
            "tanggal_lahir": birth.isoformat(), "status_kepegawaian": "PNS", "golongan": "III/a",
            "jenis_jabatan": "pelaksana", "jabatan": "Pengadministrasi Umum",
            "unit_kerja": f"Bidang {i % 5}" if i % 7 else opd, "unit_induk": opd,
            "tmt_cpns": tmt.isoformat(), "pendidikan_terakhir": "S1",
            "telepon": f"0812{i:08d}", "nik": f"3275{i:012d}",
        })
    for i in range(1, n):
        rows[i]["nip_atasan"] = rows[(i - 1) // 10]["nip"]
    return write_csv(path, header, rows)
