"""Deterministic synthetic personnel data for demos, tests and load checks.

The unit tree comes from the agency's data folder (`units.yaml`, real OPD names), the people are
synthetic (`names.yaml`): NIPs, careers and superiors follow the national rules closely enough
that every part of the bot behaves as with a real SIAP export.

`seed_demo` only fills an empty `employees` table: when any employee exists it writes nothing
(not even units) and reports 0 units and 0 employees, so it is safe to call on every start.
Units are upserted by their stable code (slug path, e.g. "bkpsdm/bidang-pka"). The same
(employees, seed, today) always gives the same rows: randomness comes only from
`random.Random(seed)` and from stable hashes of (seed, identifier) (demo_nik), never the clock.
A small total fills every OPD head first and at most 40 % head posts, so even a 500-person demo
has staff of every status.
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate, groupby
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import audit
from services.models import Employee, EmploymentStatus, JenisJabatan, Unit
from services.pangkat import PNS_GOLONGAN, PPPK_GOLONGAN
from services.security import nik_tail, verification_hash

__all__ = [
    "DEFAULT_AGENCY_DIR",
    "SeedReport",
    "UnitSpec",
    "UnitTree",
    "DemoData",
    "seed_demo",
    "generate_demo",
    "load_unit_tree",
    "demo_nik",
    "demo_phone",
]

DEFAULT_AGENCY_DIR = Path(__file__).parent / "data" / "kota-bekasi"

# Shares of the workforce (the rest is PNS/CPNS).
PPPK_SHARE = 0.15
NON_PNS_SHARE = 0.10
HEAD_SHARE = 0.4  # most head posts a small demo fills, as a share of its employees

BUP = 58  # batas usia pensiun: administrasi, pelaksana, most fungsional
BUP_JPT = 60  # JPT (eselon II) and fungsional madya
PPPK_FIRST_YEAR = 2019

_IDX = {g: i for i, g in enumerate(PNS_GOLONGAN)}
# Golongan at CPNS appointment and the highest one an education allows.
EDU_START = {"SMA": _IDX["II/a"], "D3": _IDX["II/c"], "S1": _IDX["III/a"], "S2": _IDX["III/b"], "S3": _IDX["III/c"]}
EDU_CAP = {"SMA": _IDX["III/b"], "D3": _IDX["III/d"], "S1": _IDX["IV/b"], "S2": _IDX["IV/c"], "S3": _IDX["IV/d"]}
TRACK_CAP = {"pelaksana": _IDX["III/d"], "terampil": _IDX["III/d"], "ahli": _IDX["IV/c"]}
ENTRY_AGE = {"SMA": (20, 30), "D3": (21, 33), "S1": (22, 35), "S2": (25, 35), "S3": (28, 35)}  # CPNS max 35
ESELON_GOLONGAN = {
    "II.a": ("IV/c", "IV/d"), "II.b": ("IV/b", "IV/c"), "III.a": ("IV/a", "IV/b"),
    "III.b": ("III/d", "IV/a"), "IV.a": ("III/c", "III/d"), "IV.b": ("III/b", "III/c"),
}
HEAD_EDU = {
    "II.a": {"S2": 85, "S3": 10, "S1": 5}, "II.b": {"S2": 80, "S3": 5, "S1": 15},
    "III.a": {"S2": 60, "S1": 40}, "III.b": {"S2": 40, "S1": 60}, "IV.a": {"S1": 75, "S2": 25},
    "IV.b": {"S1": 85, "S2": 15}, None: {"S1": 65, "S2": 35},
}
PPPK_START = {"SMA": "V", "D3": "VII", "S1": "IX", "S2": "X", "S3": "XI"}
PPPK_YEAR_WEIGHT = {2019: 1, 2020: 0.5, 2021: 3, 2022: 3, 2023: 4, 2024: 5}  # recruitment waves
CPNS_MONTHS = (1, 1, 2, 3, 3, 4, 6, 10, 12, 12)  # TMT CPNS is the 1st; these months are common


# --------------------------------------------------------------------------------------------
# Jabatan: which posts a unit's staff hold. National nomenclature, so code rather than data.

class Job(NamedTuple):
    title: str
    track: str  # "ahli" / "terampil" (fungsional, title gets the jenjang) or "pelaksana"
    edu: tuple[tuple[str, float], ...]
    field: str  # picks the gelar in names.yaml
    female: float
    weight: float


def _j(title: str, track: str, edu: dict[str, float] | None = None, field: str = "umum",
       female: float = 0.5, weight: float = 1.0) -> Job:
    default = {"ahli": {"S1": 4, "S2": 1}, "terampil": {"D3": 1}, "pelaksana": {"SMA": 1}}[track]
    return Job(title, track, tuple((edu or default).items()), field, female, weight)


class Profile(NamedTuple):
    jobs: tuple[Job, ...]  # fungsional posts
    pelaksana: float  # share of staff in pelaksana posts
    pppk: float  # relative chance a staff post is held by a PPPK
    non_pns: float  # relative chance a staff post is held by a Non-PNS
    non_pns_jobs: tuple[tuple[str, str, str], ...]  # (jabatan, education, gelar field)
    head_fields: tuple[str, ...] = ("umum",)


PELAKSANA = (
    _j("Operator Layanan Operasional", "pelaksana", {"SMA": 1}, weight=3),
    _j("Pengadministrasi Perkantoran", "pelaksana", {"SMA": 1}, female=0.6, weight=2),
    _j("Pengelola Layanan Operasional", "pelaksana", {"D3": 1}, weight=2),
    _j("Penata Layanan Operasional", "pelaksana", {"S1": 9, "S2": 1}, weight=3),
)
_TKK = "Tenaga Kontrak Kerja"
NON_PNS_UMUM = ((f"{_TKK} Administrasi", "SMA"), (f"{_TKK} Administrasi", "SMA"), (f"{_TKK} Pengemudi", "SMA"),
                (f"{_TKK} Kebersihan", "SMA"), (f"{_TKK} Keamanan", "SMA"), (f"{_TKK} Operator Komputer", "D3"),
                (f"{_TKK} Tenaga Ahli", "S1"))
_UMUM_F = (
    _j("Analis Kebijakan", "ahli", weight=3),
    _j("Pranata Komputer", "terampil", field="komputer"),
    _j("Pranata Komputer", "ahli", field="komputer"),
    _j("Arsiparis", "terampil", female=0.6),
    _j("Arsiparis", "ahli", female=0.6),
    _j("Perencana", "ahli"),
    _j("Pranata Hubungan Masyarakat", "ahli"),
    _j("Pengelola Pengadaan Barang/Jasa", "ahli"),
)
_NAKES = (
    _j("Perawat", "terampil", field="perawat", female=0.75, weight=4),
    _j("Perawat", "ahli", {"S1": 1}, field="ners", female=0.7, weight=2),
    _j("Bidan", "terampil", field="bidan", female=1.0, weight=3),
    _j("Bidan", "ahli", {"S1": 1}, field="bidan", female=1.0, weight=1),
    _j("Apoteker", "ahli", {"S1": 1}, field="apoteker", female=0.7),
    _j("Asisten Apoteker", "terampil", field="farmasi", female=0.8),
    _j("Nutrisionis", "terampil", field="kesehatan", female=0.8),
    _j("Pranata Laboratorium Kesehatan", "terampil", field="kesehatan", female=0.7),
    _j("Perekam Medis", "terampil", field="kesehatan", female=0.6),
)


def _p(jobs: tuple[Job, ...], pelaksana: float, pppk: float = 0.5, non_pns: float = 0.8,
       non_pns_jobs: tuple[tuple[str, ...], ...] = (), head_fields: tuple[str, ...] = ("umum",)) -> Profile:
    jobs_3 = tuple((t, e, f[0] if f else "umum") for t, e, *f in non_pns_jobs + NON_PNS_UMUM)
    return Profile(jobs, pelaksana, pppk, non_pns, jobs_3, head_fields)


PROFILES: dict[str, Profile] = {
    "umum": _p(_UMUM_F, 0.6),
    "setda": _p(_UMUM_F + (_j("Perancang Peraturan Perundang-undangan", "ahli", field="hukum"),
                           _j("Analis Hukum", "ahli", field="hukum"),
                           _j("Pengelola Pengadaan Barang/Jasa", "ahli", weight=2)), 0.55),
    "bkpsdm": _p((_j("Analis Sumber Daya Manusia Aparatur", "ahli", female=0.6, weight=5),
                  _j("Pranata Sumber Daya Manusia Aparatur", "terampil", female=0.6, weight=3),
                  _j("Asesor Sumber Daya Manusia Aparatur", "ahli", {"S1": 1, "S2": 1}, field="psikolog"),
                  _j("Pranata Komputer", "ahli", field="komputer"),
                  _j("Widyaiswara", "ahli", {"S2": 1}, weight=0.5)), 0.4),
    "inspektorat": _p((_j("Auditor", "ahli", {"S1": 3, "S2": 1}, weight=5), _j("Auditor", "terampil"),
                       _j("Pengawas Penyelenggaraan Urusan Pemerintahan di Daerah", "ahli", weight=4)), 0.25),
    "perencanaan": _p((_j("Perencana", "ahli", {"S1": 2, "S2": 1}, weight=6), _j("Peneliti", "ahli", {"S2": 1}),
                       _j("Analis Kebijakan", "ahli"), _j("Statistisi", "ahli", field="statistik")), 0.4),
    "keuangan": _p((_j("Analis Keuangan Pusat dan Daerah", "ahli", weight=4), _j("Analis Anggaran", "ahli"),
                    _j("Pranata Komputer", "ahli", field="komputer")), 0.6),
    "pendidikan": _p((_j("Pengawas Sekolah", "ahli", {"S1": 1, "S2": 2}, field="guru", weight=4),
                      _j("Penilik", "ahli", field="guru", weight=2), _j("Pamong Belajar", "ahli", field="guru"),
                      _j("Analis Kebijakan", "ahli")), 0.5, head_fields=("guru", "umum")),
    "sekolah": _p((_j("Guru", "ahli", {"S1": 85, "S2": 15}, field="guru", female=0.72, weight=90),
                   _j("Pustakawan", "terampil", female=0.7), _j("Pustakawan", "ahli", female=0.7)),
                  0.08, pppk=3.0, non_pns=0.6,
                  non_pns_jobs=((f"{_TKK} Guru", "S1", "guru"), (f"{_TKK} Guru", "S1", "guru"), (f"{_TKK} Operator Sekolah", "D3"),
                                (f"{_TKK} Penjaga Sekolah", "SMA")), head_fields=("guru",)),
    "kesehatan": _p((_j("Administrator Kesehatan", "ahli", field="kesmas", weight=3),
                     _j("Epidemiolog Kesehatan", "ahli", field="kesmas", weight=2),
                     _j("Penyuluh Kesehatan Masyarakat", "ahli", field="kesmas", weight=2),
                     _j("Dokter", "ahli", {"S1": 1}, field="dokter"),
                     _j("Tenaga Sanitasi Lingkungan", "terampil", field="kesehatan")), 0.4, pppk=1.0,
                    head_fields=("dokter", "kesmas", "umum")),
    "puskesmas": _p(_NAKES + (_j("Dokter", "ahli", {"S1": 1}, field="dokter", female=0.6, weight=3),
                              _j("Dokter Gigi", "ahli", {"S1": 1}, field="drg", female=0.7),
                              _j("Tenaga Sanitasi Lingkungan", "terampil", field="kesehatan"),
                              _j("Penyuluh Kesehatan Masyarakat", "ahli", field="kesmas", female=0.6),
                              _j("Epidemiolog Kesehatan", "ahli", field="kesmas", weight=0.5)),
                    0.12, pppk=2.0, non_pns=1.0,
                    non_pns_jobs=((f"{_TKK} Tenaga Kesehatan", "D3", "perawat"), (f"{_TKK} Tenaga Kesehatan", "D3", "bidan"),
                                  (f"{_TKK} Pengemudi Ambulans", "SMA")), head_fields=("dokter", "kesmas")),
    "rsud": _p(_NAKES + (_j("Perawat", "terampil", field="perawat", female=0.75, weight=5),
                         _j("Perawat", "ahli", {"S1": 1}, field="ners", female=0.7, weight=4),
                         _j("Dokter", "ahli", {"S1": 1}, field="dokter", female=0.55, weight=3),
                         _j("Dokter", "ahli", {"S2": 1}, field="spesialis", female=0.45, weight=3),
                         _j("Radiografer", "terampil", field="kesehatan"),
                         _j("Fisioterapis", "terampil", field="kesehatan", female=0.6),
                         _j("Elektromedis", "terampil", field="kesehatan", female=0.3, weight=0.5)),
               0.15, pppk=2.0, non_pns=1.8,
               non_pns_jobs=((f"{_TKK} Tenaga Kesehatan", "D3", "perawat"), (f"{_TKK} Tenaga Kesehatan", "D3", "kesehatan"),
                             (f"{_TKK} Pramu Rawat", "SMA")), head_fields=("dokter", "kesmas", "umum")),
    "pupr": _p((_j("Teknik Jalan dan Jembatan", "ahli", field="teknik", female=0.25, weight=2),
                _j("Teknik Jalan dan Jembatan", "terampil", field="teknik", female=0.2),
                _j("Teknik Pengairan", "ahli", field="teknik", female=0.25),
                _j("Teknik Pengairan", "terampil", field="teknik", female=0.2),
                _j("Teknik Tata Bangunan dan Perumahan", "ahli", field="teknik", female=0.3, weight=2),
                _j("Penata Ruang", "ahli", field="teknik", female=0.4)), 0.55, non_pns=2.0,
               non_pns_jobs=((f"{_TKK} Petugas Lapangan", "SMA"), (f"{_TKK} Operator Alat Berat", "SMA"),
                             (f"{_TKK} Pengawas Teknik", "D3")), head_fields=("teknik", "teknik", "umum")),
    "lingkungan": _p((_j("Pengendali Dampak Lingkungan", "ahli", field="teknik", weight=2),
                      _j("Pengendali Dampak Lingkungan", "terampil", field="teknik"),
                      _j("Pengawas Lingkungan Hidup", "ahli"), _j("Penyuluh Lingkungan Hidup", "ahli")),
                     0.7, pppk=0.3, non_pns=4.0,
                     non_pns_jobs=((f"{_TKK} Petugas Kebersihan", "SMA"),) * 3
                     + ((f"{_TKK} Pengemudi Truk Sampah", "SMA"), (f"{_TKK} Petugas Pertamanan", "SMA"),
                        (f"{_TKK} Petugas Penerangan Jalan Umum", "SMA"))),
    "perhubungan": _p((_j("Penguji Kendaraan Bermotor", "terampil", field="teknik", female=0.15, weight=3),
                       _j("Penguji Kendaraan Bermotor", "ahli", field="teknik", female=0.2)),
                      0.7, pppk=0.3, non_pns=3.0,
                      non_pns_jobs=((f"{_TKK} Petugas Lalu Lintas", "SMA"),) * 2
                      + ((f"{_TKK} Petugas Parkir", "SMA"), (f"{_TKK} Pengemudi", "SMA"))),
    "satpol": _p((_j("Polisi Pamong Praja", "terampil", {"SMA": 3, "D3": 1}, female=0.2, weight=6),
                  _j("Polisi Pamong Praja", "ahli", female=0.25, weight=2)), 0.3, pppk=0.3, non_pns=4.0,
                 non_pns_jobs=((f"{_TKK} Anggota Satuan Polisi Pamong Praja", "SMA"),) * 4),
    "damkar": _p((_j("Pemadam Kebakaran", "terampil", {"SMA": 4, "D3": 1}, female=0.05, weight=6),
                  _j("Analis Kebakaran", "ahli", field="teknik", female=0.2)), 0.25, pppk=0.3, non_pns=4.0,
                 non_pns_jobs=((f"{_TKK} Petugas Pemadam Kebakaran", "SMA"),) * 4
                 + ((f"{_TKK} Operator Komunikasi", "SMA"),)),
    "kewilayahan": _p((_j("Analis Kebijakan", "ahli", weight=2), _j("Pranata Komputer", "terampil", field="komputer"),
                       _j("Penyuluh Keluarga Berencana", "ahli", female=0.7)), 0.8, pppk=0.4, non_pns=1.5,
                      non_pns_jobs=((f"{_TKK} Petugas Ketenteraman dan Ketertiban", "SMA"),),
                      head_fields=("pamong", "umum")),
    "sosial": _p((_j("Pekerja Sosial", "ahli", field="sosial", female=0.6, weight=3),
                  _j("Pekerja Sosial", "terampil", female=0.6), _j("Penyuluh Sosial", "ahli", field="sosial")),
                 0.5, pppk=0.6, non_pns=1.2),
    "pertanian": _p((_j("Penyuluh Pertanian", "ahli", field="pertanian", weight=3),
                     _j("Penyuluh Pertanian", "terampil", field="pertanian"),
                     _j("Medik Veteriner", "ahli", {"S1": 1}, field="vet"),
                     _j("Paramedik Veteriner", "terampil", field="pertanian"),
                     _j("Pengawas Mutu Hasil Pertanian", "ahli", field="pertanian"),
                     _j("Pengendali Organisme Pengganggu Tumbuhan", "ahli", field="pertanian")), 0.45, pppk=0.8),
    "kb": _p((_j("Penyuluh Keluarga Berencana", "ahli", female=0.7, weight=5), _j("Analis Kebijakan", "ahli")), 0.4),
    "arsip": _p((_j("Arsiparis", "terampil", female=0.6, weight=2), _j("Arsiparis", "ahli", female=0.6, weight=2),
                 _j("Pustakawan", "terampil", female=0.7, weight=2), _j("Pustakawan", "ahli", female=0.7, weight=2)),
                0.4),
    "kominfo": _p((_j("Pranata Komputer", "terampil", field="komputer", weight=2),
                   _j("Pranata Komputer", "ahli", field="komputer", weight=3),
                   _j("Pranata Hubungan Masyarakat", "ahli", weight=2),
                   _j("Statistisi", "ahli", field="statistik"), _j("Statistisi", "terampil", weight=0.5),
                   _j("Sandiman", "ahli", field="komputer"), _j("Sandiman", "terampil", weight=0.5)), 0.45),
    "capil": _p((_j("Administrator Database Kependudukan", "ahli", field="komputer", weight=3),
                 _j("Administrator Database Kependudukan", "terampil", field="komputer", weight=2),
                 _j("Pranata Komputer", "ahli", field="komputer")), 0.65, non_pns=1.5),
    "bencana": _p((_j("Penata Penanggulangan Bencana", "ahli", weight=2),
                   _j("Penata Penanggulangan Bencana", "terampil", weight=2)), 0.5, non_pns=2.0,
                  non_pns_jobs=((f"{_TKK} Tim Reaksi Cepat", "SMA"),) * 3),
    "perdagangan": _p((_j("Penera", "terampil", field="teknik", weight=2), _j("Penera", "ahli", field="teknik"),
                       _j("Pengawas Kemetrologian", "ahli"), _j("Pengawas Perdagangan", "ahli"),
                       _j("Penguji Mutu Barang", "ahli")), 0.55, non_pns=1.5,
                      non_pns_jobs=((f"{_TKK} Petugas Pasar", "SMA"),) * 2),
    "pariwisata": _p((_j("Pamong Budaya", "ahli", weight=2),
                      _j("Adyatama Kepariwisataan dan Ekonomi Kreatif", "ahli", weight=2)), 0.6),
    "tenagakerja": _p((_j("Pengantar Kerja", "ahli", weight=2), _j("Pengantar Kerja", "terampil"),
                       _j("Mediator Hubungan Industrial", "ahli", field="hukum", weight=2),
                       _j("Instruktur", "ahli", field="teknik"), _j("Instruktur", "terampil", field="teknik")), 0.45),
    "pppa": _p((_j("Pekerja Sosial", "ahli", field="sosial", female=0.7, weight=2),
                _j("Psikolog Klinis", "ahli", {"S2": 1}, field="psikolog", female=0.75),
                _j("Analis Kebijakan", "ahli")), 0.5),
    "koperasi": _p((_j("Pengawas Koperasi", "ahli", weight=3), _j("Analis Kebijakan", "ahli")), 0.55),
}

# Jenjang of a fungsional post from its golongan (PNS) ...
_AHLI_JENJANG = [("III/a", "Ahli Pertama"), ("III/c", "Ahli Muda"), ("IV/a", "Ahli Madya"), ("IV/d", "Ahli Utama")]
_TERAMPIL_JENJANG = [("II/a", "Terampil"), ("III/a", "Mahir"), ("III/c", "Penyelia")]
# ... and from a PPPK golongan.
_PPPK_AHLI = {"IX": "Ahli Pertama", "X": "Ahli Pertama", "XI": "Ahli Muda", "XII": "Ahli Muda", "XIII": "Ahli Madya"}
_PPPK_TERAMPIL = {"V": "Terampil", "VI": "Terampil", "VII": "Terampil", "VIII": "Mahir"}


def _jenjang(track: str, golongan: str) -> str:
    table = _AHLI_JENJANG if track == "ahli" else _TERAMPIL_JENJANG
    found = table[0][1]
    for lowest, name in table:
        if _IDX[golongan] >= _IDX[lowest]:
            found = name
    return found


# --------------------------------------------------------------------------------------------
# The unit tree (units.yaml)

@dataclass(frozen=True)
class UnitSpec:
    code: str  # slug path, stable across runs: the upsert key
    name: str
    kind: str
    parent: str | None  # parent's code
    depth: int
    place: str  # kecamatan/kelurahan name for "Camat {place}", else the unit's name
    work_days: str | None  # None inherits from the parent
    profile: str
    staff: float  # relative number of staff
    head: str | None  # jabatan of the head; None = no head post
    eselon: str | None  # None with a head = fungsional head (kepala sekolah)
    head_golongan: tuple[int, int]  # PNS golongan index range of the head
    head_fields: tuple[str, ...]


@dataclass(frozen=True)
class UnitTree:
    region_code: str  # first 4 NIK digits
    kecamatan_nik: tuple[str, ...]  # next 2 NIK digits, one per kecamatan
    units: tuple[UnitSpec, ...]  # parents before children, shallower first


_UNIT_KEYS = {"name", "slug", "kind", "head", "eselon", "staff", "profile", "work_days", "template", "children",
              "generate", "head_golongan", "head_field"}
_SETTING_KEYS = {"head", "eselon", "staff", "profile", "work_days", "head_golongan", "head_field"}


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _roman(n: int) -> str:
    out = ""
    for value, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                       (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out += sym
            n -= value
    return out


def load_unit_tree(agency_dir: Path | None = None) -> UnitTree:
    """Parse and validate `units.yaml`; raises ValueError on a data mistake."""
    return _load_unit_tree(str(Path(agency_dir or DEFAULT_AGENCY_DIR).resolve()))


@lru_cache(maxsize=8)
def _load_unit_tree(path: str) -> UnitTree:
    file = Path(path) / "units.yaml"
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    kinds: dict[str, dict[str, Any]] = data.get("kinds") or {}
    templates: dict[str, list[Any]] = data.get("templates") or {}
    per_kel: dict[str, Any] = data.get("per_kelurahan") or {}
    root_days = data.get("work_days")
    prefixes = sorted(((str(v["prefix"]), k) for k, v in kinds.items() if v.get("prefix")),
                      key=lambda p: -len(p[0]))
    out: list[UnitSpec] = []
    seen_names: set[tuple[str | None, str]] = set()

    def fail(msg: str) -> ValueError:
        return ValueError(f"{file}: {msg}")

    def add(raw: Any, parent: UnitSpec | None, inherited: str, place: str | None = None) -> None:
        item: dict[str, Any] = {"name": raw} if isinstance(raw, str) else dict(raw)
        unknown = set(item) - _UNIT_KEYS
        if unknown:
            raise fail(f"unknown key(s) {sorted(unknown)} in unit {item.get('name')!r}")
        name = str(item.get("name") or "").strip()
        if not name:
            raise fail(f"unit without a name under {parent.code if parent else 'the root'}")
        kind = item.get("kind")
        if kind is None:
            kind = "opd" if parent is None else next((k for p, k in prefixes if name.startswith(p)), None)
            if kind is None:
                raise fail(f"cannot tell the kind of {name!r}: give `kind:`")
        if kind not in kinds:
            raise fail(f"unit {name!r} has kind {kind!r}, which is not under `kinds:`")
        settings = {k: v for k, v in kinds[kind].items() if k in _SETTING_KEYS}
        settings.update({k: v for k, v in item.items() if k in _SETTING_KEYS})
        profile = item.get("profile") or kinds[kind].get("profile") or inherited
        if profile not in PROFILES:
            raise fail(f"unit {name!r}: unknown profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
        code = f"{parent.code}/{item.get('slug') or slugify(name)}" if parent else str(item.get("slug") or slugify(name))
        if (parent.code if parent else None, name) in seen_names:
            raise fail(f"two units named {name!r} under {parent.code if parent else 'the root'}")
        seen_names.add((parent.code if parent else None, name))
        eselon = settings.get("eselon")
        if eselon is not None and eselon not in ESELON_GOLONGAN:
            raise fail(f"unit {name!r}: eselon {eselon!r} not in {sorted(ESELON_GOLONGAN)}")
        if settings.get("head_golongan"):
            lo, hi = (str(g) for g in settings["head_golongan"])
            if lo not in _IDX or hi not in _IDX:
                raise fail(f"unit {name!r}: head_golongan {settings['head_golongan']!r} is not a PNS golongan")
            gol_range = (_IDX[lo], _IDX[hi])
        else:
            lo, hi = ESELON_GOLONGAN.get(eselon or "", ("III/c", "IV/b"))
            gol_range = (_IDX[lo], _IDX[hi])
        head = settings.get("head")
        fields = settings.get("head_field") or PROFILES[profile].head_fields
        spec = UnitSpec(
            code=code,
            name=name,
            kind=kind,
            parent=parent.code if parent else None,
            depth=parent.depth + 1 if parent else 0,
            place=place or name,
            work_days=settings.get("work_days") or (root_days if parent is None else None),
            profile=profile,
            staff=float(settings.get("staff") or 0),
            head=head.format(name=name, place=place or name, parent=parent.name if parent else name) if head else None,
            eselon=eselon if head else None,
            head_golongan=gol_range,
            head_fields=(fields,) if isinstance(fields, str) else tuple(fields),
        )
        out.append(spec)
        children: list[Any] = []
        if item.get("template"):
            if item["template"] not in templates:
                raise fail(f"unit {name!r}: unknown template {item['template']!r}")
            children += templates[item["template"]]
        children += item.get("children") or []
        for child in children:
            add(child, spec, profile)
        for gen in item.get("generate") or []:
            for child in _generated(gen):
                add(child, spec, profile)

    def _generated(gen: dict[str, Any]) -> list[dict[str, Any]]:
        extra = {k: v for k, v in gen.items() if k not in ("name", "slug", "count", "per_kelurahan")}
        if "per_kelurahan" in gen:
            source = per_kel.get(gen["per_kelurahan"])
            if source is None:
                raise fail(f"generate: no per_kelurahan list {gen['per_kelurahan']!r}")
            counts = dict(source) if isinstance(source, dict) else {k: 1 for k in source}
            unknown = set(counts) - all_kelurahan
            if unknown:
                raise fail(f"per_kelurahan.{gen['per_kelurahan']}: not a kelurahan: {sorted(unknown)}")
            items = [(kel, n, int(c)) for kel, c in counts.items() for n in range(1, int(c) + 1)]
        else:
            items = [(None, n, int(gen["count"])) for n in range(1, int(gen["count"]) + 1)]
        result = []
        for kel, n, count in items:
            roman = _roman(n) if count > 1 else ""
            name = " ".join(gen["name"].format(n=n, roman=roman, kelurahan=kel or "").split())
            slug = gen.get("slug", "{n}").format(n=n, kelurahan=slugify(kel or ""))
            result.append({"name": name, "slug": slug, **extra})
        return result

    kecamatan = data.get("kecamatan") or []
    all_kelurahan = {k for kec in kecamatan for k in kec.get("kelurahan") or []}
    for raw in data.get("units") or []:
        add(raw, None, "umum")
    for kec in kecamatan:
        kec_name = str(kec["name"])
        add({"name": f"Kecamatan {kec_name}", "slug": f"kec-{slugify(kec_name)}", "kind": "kecamatan"},
            None, "umum", place=kec_name)
        parent = out[-1]
        for kel in kec.get("kelurahan") or []:
            add({"name": f"Kelurahan {kel}", "slug": f"kel-{slugify(kel)}", "kind": "kelurahan"},
                parent, parent.profile, place=str(kel))
    codes = Counter(u.code for u in out)
    dupes = [c for c, k in codes.items() if k > 1]
    if dupes:
        raise fail(f"duplicate unit codes: {dupes[:5]}")
    too_long = [u.code for u in out if len(u.code) > 120 or len(u.name) > 200]
    if too_long:
        raise fail(f"unit code/name too long for the database: {too_long[:3]}")
    ordered = sorted(out, key=lambda u: u.depth)  # stable: parents first, file order within a level
    return UnitTree(
        region_code=str(data.get("region_code") or "0000"),
        kecamatan_nik=tuple(str(k.get("nik")) for k in kecamatan if k.get("nik")) or ("01",),
        units=tuple(ordered),
    )


@lru_cache(maxsize=8)
def _load_names(path: str) -> dict[str, Any]:
    file = Path(path) / "names.yaml"
    if not file.exists():  # an adopting region may keep only its units
        file = DEFAULT_AGENCY_DIR / "names.yaml"
    return yaml.safe_load(file.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Identity helpers shared by the generator, docs and tests

def demo_phone(index: int) -> str:
    """Phone (E.164 digits) of the `index`-th seeded employee (1-based).

    The 62813 prefix keeps clear of 6281210000001..099, the sample import file's numbers.
    """
    if not 0 < index < 10**8:
        raise ValueError(f"demo_phone index must be 1..99999999, not {index}")
    return f"62813{index:08d}"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _full_years(start: date, end: date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


def _hash(*parts: object) -> int:
    # Stable across processes and platforms (unlike hash()), and much cheaper than seeding a Random.
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _non_pns_identity(identifier: str, seed: int) -> tuple[date, str]:
    """Birth date and sex of a seeded Non-PNS: derived from the number itself, so that
    demo_nik() can rebuild a NIK that agrees with the row without the database."""
    h = _hash("asnbot-demo-person", seed, identifier)
    m = re.search(r"(19|20)\d\d", identifier)
    start = int(m.group(0)) if m else 2015
    birth = date(start - 21 - h % 20, 1, 1) + timedelta(days=(h >> 8) % 365)
    return birth, ("P" if (h >> 24) % 100 < 45 else "L")


def demo_nik(identifier: str, seed: int, *, agency_dir: Path | None = None) -> str:
    """The synthetic 16-digit NIK of a seeded employee (never stored; only its hash is).

    Layout: region code (3275) + kecamatan (2) + birth DDMMYY with DD+40 for women + serial (4).
    Docs and tests use it to tell a demo user which six digits (nik_tail) to type.
    """
    return _demo_nik(load_unit_tree(agency_dir), identifier, seed)


def _demo_nik(tree: UnitTree, identifier: str, seed: int) -> str:
    if len(identifier) == 18 and identifier.isdigit():  # NIP PNS / NI PPPK: birth and sex are in it
        birth = date(int(identifier[0:4]), int(identifier[4:6]), int(identifier[6:8]))
        sex = "L" if identifier[14] == "1" else "P"
    else:
        birth, sex = _non_pns_identity(identifier, seed)
    h = _hash("asnbot-demo-nik", seed, identifier)
    kecamatan = tree.kecamatan_nik[h % len(tree.kecamatan_nik)]
    day = birth.day + (40 if sex == "P" else 0)
    return f"{tree.region_code}{kecamatan}{day:02d}{birth:%m%y}{(h >> 16) % 2999 + 1:04d}"


# --------------------------------------------------------------------------------------------
# The generator (pure: no database)

@dataclass
class DemoData:
    units: tuple[UnitSpec, ...]
    rows: list[dict[str, Any]]  # Employee columns, without unit_id/superior_id
    unit_of: list[str]  # unit code per row
    superior_of: list[int | None]  # index of the superior's row
    level: list[int]  # insert group: unit depth for heads, after all heads for staff


def _weighted(rng: random.Random, weights: dict[Any, float] | tuple[tuple[Any, float], ...]) -> Any:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    if len(items) == 1:
        return items[0][0]
    return rng.choices([k for k, _ in items], [w for _, w in items])[0]


@lru_cache(maxsize=None)
def _cum_weights(jobs: tuple[Job, ...]) -> list[float]:
    return list(accumulate(j.weight for j in jobs))


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    exact = [total * w / s for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _pick_top(rng: random.Random, candidates: list[int], weights: list[float], k: int) -> set[int]:
    """k of `candidates` chosen without replacement, each with chance ~ its weight (Efraimidis-Spirakis)."""
    keyed = [(rng.random() ** (1.0 / max(w, 1e-9)), i) for i, w in zip(candidates, weights)]
    keyed.sort(key=lambda t: (-t[0], t[1]))
    return {i for _, i in keyed[:k]}


class _Generator:
    def __init__(self, *, seed: int, key: bytes, today: date, names: dict[str, Any], tree: UnitTree) -> None:
        self.rng = random.Random(seed)
        self.tree = tree
        self.seed = seed
        self.key = key
        self.today = today
        self.names = names
        self.serials: Counter[str] = Counter()
        self.non_pns_serial = 0

    # -- people ----------------------------------------------------------------------------
    def name(self, sex: str, birth_year: int) -> str:
        rng, n = self.rng, self.names
        g = "male" if sex == "L" else "female"
        modern = birth_year >= int(n.get("modern_from", 1985))
        era = "modern" if (rng.random() < 0.8) == modern else "classic"
        parts = []
        if rng.random() < (0.3 if era == "classic" else 0.18):
            parts.append(rng.choice(n["prefix"][g]))
        given = rng.choice(n["given"][g][era])
        if given in parts:
            parts.clear()
        parts.append(given)
        r = rng.random()
        if r < 0.05:
            parts.append(rng.choice(n["second"]["any"]))
        elif r < 0.85:
            second = rng.choice(n["second"][g])
            if second not in parts:
                parts.append(second)
        return " ".join(parts)

    def gelar(self, edu: str, field: str, sex: str, birth_year: int) -> tuple[str | None, str | None]:
        rng, table = self.rng, self.names["gelar"]

        def pick(level: str, f: str) -> tuple[str, str]:
            options = table.get(level) or {}
            raw = rng.choice(options.get(f) or options.get("umum") or [""])
            depan, sep, belakang = raw.partition("|")
            return (depan.strip(), belakang.strip()) if sep else ("", raw.strip())

        def join(a: str, b: str, sep: str) -> str:
            return sep.join(x for x in (a, b) if x)

        if edu == "D3":
            depan, belakang = pick("D3", field)
        elif edu in ("S1", "S2", "S3"):
            s1_field = "dokter" if field == "spesialis" else field
            old = table.get("old_s1") or {}
            if birth_year < int(old.get("before", 0)) and s1_field in old and rng.random() < 0.6:
                depan, belakang = old[s1_field][sex], ""
            else:
                depan, belakang = pick("S1", s1_field)
            if edu in ("S2", "S3"):
                d2, b2 = pick("S2", field)
                depan, belakang = join(depan, d2, " "), join(belakang, b2, ", ")
            if edu == "S3":
                d3, b3 = pick("S3", field)
                depan, belakang = join(d3, depan, " "), join(belakang, b3, ", ")
        else:
            depan = belakang = ""
        return depan or None, belakang or None

    def _serial(self, prefix: str) -> str:
        self.serials[prefix] += 1  # serial counts up only among NIPs sharing the first 15 digits
        return f"{prefix}{self.serials[prefix]:03d}"

    def _finish(self, row: dict[str, Any], field: str) -> dict[str, Any]:
        birth: date = row["birth_date"]
        row["name"] = self.name(row["sex"], birth.year)
        row["gelar_depan"], row["gelar_belakang"] = self.gelar(row["education"], field, row["sex"], birth.year)
        identifier = row["nip"] or row["nomor_non_pns"]
        nik = _demo_nik(self.tree, identifier, self.seed)
        row["verification_hash"] = verification_hash(self.key, identifier, nik_tail(nik))
        row["active"] = True
        return row

    def pns(self, *, edu: str, sex: str, min_idx: int, max_idx: int, max_age: int, head: bool) -> dict[str, Any]:
        rng, today = self.rng, self.today
        lo, hi = ENTRY_AGE[edu]
        start = EDU_START[edu]
        interval = 4 if head else rng.choice((4, 4, 4, 5))  # years per kenaikan pangkat
        need = max(0, min_idx - start) * interval
        entry = rng.randint(lo, hi)
        if entry + need > max_age - 2:
            entry = max(lo, max_age - 2 - need)
        room = max(0, max_age - 2 - entry)  # longest service that keeps the person under max_age
        if head:
            years = need + rng.randint(0, 10)
        elif rng.random() < 0.02:
            years = 0  # this year's intake: still CPNS
        else:
            years = round(rng.triangular(0, room, room * 0.6))
        years = max(0, min(years, room))
        tmt_cpns = date(today.year - years, rng.choice(CPNS_MONTHS), 1)
        if tmt_cpns > today:
            tmt_cpns = date(today.year, 1, 1)
        birth = _add_years(tmt_cpns, -entry) - timedelta(days=rng.randint(0, 364))
        served = _full_years(tmt_cpns, today)
        idx = start + served // interval
        if not head and idx > start and rng.random() < 0.15:
            idx -= 1  # a delayed promotion
        idx = max(min_idx, min(idx, max_idx))
        steps = max(0, idx - start)
        if steps:
            last = min(_add_years(tmt_cpns, steps * interval), today)
            # Regular promotions take effect on 1 April or 1 October.
            period = date(last.year, 10, 1) if last >= date(last.year, 10, 1) else (
                date(last.year, 4, 1) if last >= date(last.year, 4, 1) else date(last.year - 1, 10, 1))
            tmt_pangkat = max(period, tmt_cpns)
        else:
            tmt_pangkat = tmt_cpns
        tmt_pns = _add_years(tmt_cpns, 1)
        status = EmploymentStatus.PNS if tmt_pns <= today else EmploymentStatus.CPNS
        return {
            "nip": self._serial(f"{birth:%Y%m%d}{tmt_cpns:%Y%m}{'1' if sex == 'L' else '2'}"),
            "nomor_non_pns": None,
            "status": str(status),
            "sex": sex,
            "birth_date": birth,
            "golongan": PNS_GOLONGAN[idx],
            "education": edu,
            "tmt_cpns": tmt_cpns,
            "tmt_pns": tmt_pns if status is EmploymentStatus.PNS else None,
            "tmt_pangkat": tmt_pangkat,
            "tmt_kgb": _add_years(tmt_cpns, 2 * (served // 2)),  # KGB every 2 years
        }

    def pppk(self, *, edu: str, sex: str, track: str) -> dict[str, Any]:
        rng, today = self.rng, self.today
        years = [y for y in range(PPPK_FIRST_YEAR, today.year + 1)] or [today.year]
        year = rng.choices(years, [PPPK_YEAR_WEIGHT.get(y, 2.0) for y in years])[0]
        tmt = date(year, rng.choice((1, 3, 4, 7, 10, 12)), 1)
        if tmt > today:
            tmt = date(year, 1, 1)
        lo = ENTRY_AGE[edu][0]
        age_at = rng.randint(lo, max(lo, min(56, BUP - 2 - (today.year - year))))
        birth = _add_years(tmt, -age_at) - timedelta(days=rng.randint(0, 364))
        gol = PPPK_START[edu]
        if track == "ahli" and rng.random() < 0.1:
            gol = PPPK_GOLONGAN[PPPK_GOLONGAN.index(gol) + 2]  # appointed at Ahli Muda
        served = _full_years(tmt, today)
        return {
            "nip": self._serial(f"{birth:%Y%m%d}{year}21{'1' if sex == 'L' else '2'}"),
            "nomor_non_pns": None,
            "status": str(EmploymentStatus.PPPK),
            "sex": sex,
            "birth_date": birth,
            "golongan": gol,
            "education": edu,
            "tmt_cpns": tmt,  # start of the first agreement
            "tmt_pns": None,
            "tmt_pangkat": tmt,
            "tmt_kgb": _add_years(tmt, 2 * (served // 2)),
        }

    def non_pns(self, *, edu: str) -> dict[str, Any]:
        year = self.rng.randint(self.today.year - 15, self.today.year - 1)
        self.non_pns_serial += 1
        number = f"TKK-{year}-{self.non_pns_serial:06d}"
        birth, sex = _non_pns_identity(number, self.seed)
        return {
            "nip": None, "nomor_non_pns": number, "status": str(EmploymentStatus.NON_PNS), "sex": sex,
            "birth_date": birth, "golongan": None, "education": edu, "tmt_cpns": None, "tmt_pns": None,
            "tmt_pangkat": None, "tmt_kgb": None,
        }

    # -- posts -----------------------------------------------------------------------------
    def head(self, unit: UnitSpec) -> dict[str, Any]:
        rng = self.rng
        edu = _weighted(rng, HEAD_EDU.get(unit.eselon, HEAD_EDU[None]))
        jpt = unit.eselon is not None and unit.eselon.startswith("II.")
        female = 0.3 if jpt else (0.6 if unit.kind == "sekolah" else 0.4)
        sex = "P" if rng.random() < female else "L"
        lo, hi = unit.head_golongan
        # The post, not the diploma, bounds a head's golongan.
        row = self.pns(edu=edu, sex=sex, min_idx=lo, max_idx=hi, max_age=BUP_JPT if jpt else BUP, head=True)
        row.update(jabatan=unit.head, eselon=unit.eselon,
                   jenis_jabatan=str(JenisJabatan.STRUKTURAL if unit.eselon else JenisJabatan.FUNGSIONAL))
        return self._finish(row, rng.choice(unit.head_fields))

    def staff(self, unit: UnitSpec, status: str) -> dict[str, Any]:
        rng = self.rng
        profile = PROFILES[unit.profile]
        if status == EmploymentStatus.NON_PNS:
            title, edu, field = rng.choice(profile.non_pns_jobs)
            row = self.non_pns(edu=edu)
            row.update(jabatan=title, eselon=None, jenis_jabatan=str(JenisJabatan.PELAKSANA))
            return self._finish(row, field)
        pelaksana = rng.random() < profile.pelaksana
        jobs = PELAKSANA if pelaksana else profile.jobs
        job = rng.choices(jobs, cum_weights=_cum_weights(jobs))[0]
        edu = _weighted(rng, job.edu)
        sex = "P" if rng.random() < job.female else "L"
        if status == EmploymentStatus.PPPK:
            row = self.pppk(edu=edu, sex=sex, track=job.track)
            table = _PPPK_AHLI if job.track == "ahli" else _PPPK_TERAMPIL
            level = table.get(row["golongan"]) if job.track != "pelaksana" else None
        else:
            cap = min(EDU_CAP[edu], TRACK_CAP[job.track])
            row = self.pns(edu=edu, sex=sex, min_idx=EDU_START[edu], max_idx=cap, max_age=BUP, head=False)
            level = _jenjang(job.track, row["golongan"]) if job.track != "pelaksana" else None
        row.update(jabatan=f"{job.title} {level}" if level else job.title, eselon=None,
                   jenis_jabatan=str(JenisJabatan.PELAKSANA if job.track == "pelaksana" else JenisJabatan.FUNGSIONAL))
        return self._finish(row, job.field)


def generate_demo(employees: int, *, seed: int, verification_key: bytes, agency_dir: Path | None = None,
                  today: date | None = None) -> DemoData:
    """All rows of a demo workforce, computed in memory (deterministic)."""
    if employees < 0:
        raise ValueError("employees must be >= 0")
    tree = load_unit_tree(agency_dir)
    names = _load_names(str(Path(agency_dir or DEFAULT_AGENCY_DIR).resolve()))
    gen = _Generator(seed=seed, key=verification_key, today=today or date.today(), names=names, tree=tree)
    units = tree.units
    by_code = {u.code: i for i, u in enumerate(units)}

    # Head posts: every OPD head first, then level by level the 1st sub-unit of every parent, the
    # 2nd, ... so that a small demo still has the top of each OPD. At most HEAD_SHARE of a small
    # total goes to heads, leaving room for staff of every status (vacant posts are realistic).
    rank: list[int] = []
    siblings: Counter[str | None] = Counter()
    for u in units:
        rank.append(siblings[u.parent])
        siblings[u.parent] += 1
    posts = sorted((i for i, u in enumerate(units) if u.head), key=lambda i: (units[i].depth, rank[i], i))
    n_top = sum(1 for i in posts if units[i].depth == 0)
    head_units = posts[: min(employees, max(n_top, round(employees * HEAD_SHARE)))]
    head_row = {u: k for k, u in enumerate(head_units)}

    def nearest_head(unit_index: int | None) -> int | None:
        while unit_index is not None:
            if unit_index in head_row:
                return head_row[unit_index]
            parent = units[unit_index].parent
            unit_index = by_code[parent] if parent else None
        return None

    # Staff posts spread by the units' staff weights; statuses hit the shares exactly.
    counts = _largest_remainder(employees - len(head_units), [u.staff for u in units])
    slots = [i for i, c in enumerate(counts) for _ in range(c)]
    n_pppk = min(round(employees * PPPK_SHARE), len(slots))
    n_non = min(round(employees * NON_PNS_SHARE), len(slots) - n_pppk)
    all_slots = list(range(len(slots)))
    pppk = _pick_top(gen.rng, all_slots, [PROFILES[units[u].profile].pppk for u in slots], n_pppk)
    rest = [s for s in all_slots if s not in pppk]
    non = _pick_top(gen.rng, rest, [PROFILES[units[slots[s]].profile].non_pns for s in rest], n_non)

    data = DemoData(units=units, rows=[], unit_of=[], superior_of=[], level=[])
    staff_level = max((u.depth for u in units), default=0) + 1
    for u in head_units:
        parent = units[u].parent
        data.rows.append(gen.head(units[u]))
        data.unit_of.append(units[u].code)
        data.superior_of.append(nearest_head(by_code[parent]) if parent else None)
        data.level.append(units[u].depth)
    for s, u in enumerate(slots):
        status = EmploymentStatus.PPPK if s in pppk else (EmploymentStatus.NON_PNS if s in non else EmploymentStatus.PNS)
        data.rows.append(gen.staff(units[u], status))
        data.unit_of.append(units[u].code)
        data.superior_of.append(nearest_head(u))
        data.level.append(staff_level)
    for i, row in enumerate(data.rows, start=1):
        row["phone"] = demo_phone(i)
    return data


# --------------------------------------------------------------------------------------------
# Writing to the database

@dataclass
class SeedReport:
    units: int  # unit rows inserted or updated (0 when nothing was written)
    employees: int  # employees inserted (0 when the table already held employees)
    by_status: dict[str, int]
    seconds: float


_CHUNK = 1000
# Plain Core executemany without RETURNING: ORM bulk inserts split rows with differing NULL
# columns into small batches, and INSERT..RETURNING with a guaranteed row order degrades to one
# statement per row on SQLite. Ids are read back by unique key instead.
_UNITS = Unit.__table__
_EMPLOYEES = Employee.__table__


async def _upsert_units(session: AsyncSession, units: tuple[UnitSpec, ...]) -> tuple[dict[str, int], int]:
    conn = await session.connection()
    existing = {r.code: r for r in (await session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.parent_id, Unit.work_days))).all()}
    ids = {code: r.id for code, r in existing.items()}
    written = 0
    for _, group in groupby(units, key=lambda u: u.depth):  # parents get their ids first
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for u in group:
            values = {"code": u.code, "name": u.name, "kind": u.kind,
                      "parent_id": ids[u.parent] if u.parent else None, "work_days": u.work_days}
            old = existing.get(u.code)
            if old is None:
                new.append({**values, "active": True})
            elif (old.name, old.kind, old.parent_id, old.work_days) != (
                    values["name"], values["kind"], values["parent_id"], values["work_days"]):
                changed.append({"id": old.id, **values})
        for start in range(0, len(new), _CHUNK):
            await conn.execute(_UNITS.insert(), new[start:start + _CHUNK])
        if new:  # read the new ids back by code (children of the next level need them)
            rows = await conn.execute(select(_UNITS.c.id, _UNITS.c.code).where(
                _UNITS.c.code.in_([v["code"] for v in new])))
            ids.update({code: unit_id for unit_id, code in rows})
        if changed:
            await session.execute(update(Unit), changed)
        written += len(new) + len(changed)
    return ids, written


async def seed_demo(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    employees: int,
    seed: int,
    verification_key: bytes,
    agency_dir: Path | None = None,
    today: date | None = None,
) -> SeedReport:
    """Fill an empty personnel database with `employees` synthetic people in the agency's units.

    Idempotent: if any employee exists, nothing is written and the report says 0 units and 0
    employees. Otherwise units are upserted by code and employees inserted in one transaction.
    """
    started = time.perf_counter()
    async with session_factory() as session, session.begin():
        if (await session.execute(select(Employee.id).limit(1))).first() is not None:
            return SeedReport(units=0, employees=0, by_status={}, seconds=time.perf_counter() - started)
        data = generate_demo(employees, seed=seed, verification_key=verification_key, agency_dir=agency_dir,
                             today=today)
        unit_ids, units_written = await _upsert_units(session, data.units)
        now = datetime.now(timezone.utc)
        conn = await session.connection()
        ids: list[int | None] = [None] * len(data.rows)
        order = sorted(range(len(data.rows)), key=lambda i: (data.level[i], i))  # superiors before subordinates
        for group_level, group in groupby(order, key=lambda i: data.level[i]):
            members = list(group)
            for start in range(0, len(members), _CHUNK):
                chunk = members[start:start + _CHUNK]
                params = []
                for i in chunk:
                    sup = data.superior_of[i]
                    params.append({**data.rows[i], "unit_id": unit_ids[data.unit_of[i]],
                                   "superior_id": ids[sup] if sup is not None else None,
                                   "created_at": now, "updated_at": now})
                await conn.execute(_EMPLOYEES.insert(), params)
            if group_level < data.level[order[-1]]:  # a later group reports to this one: read its ids
                rows = await conn.execute(select(_EMPLOYEES.c.id, _EMPLOYEES.c.nip, _EMPLOYEES.c.nomor_non_pns))
                by_identifier = {nip or nomor: emp_id for emp_id, nip, nomor in rows}
                for i in members:
                    ids[i] = by_identifier[data.rows[i]["nip"] or data.rows[i]["nomor_non_pns"]]
        by_status = dict(sorted(Counter(r["status"] for r in data.rows).items()))
        audit.record(session, audit.Action.SEED, actor="seed_demo", employees=len(data.rows), seed=seed,
                     units=units_written)
    return SeedReport(units=units_written, employees=len(data.rows), by_status=by_status,
                      seconds=time.perf_counter() - started)
