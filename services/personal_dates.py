"""An employee's own milestones computed from the personnel database: next kenaikan gaji
berkala, earliest kenaikan pangkat, and pensiun. Each result says what it rests on and what is
uncertain, so the bot never presents a guess as a date."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.models import Employee, EmploymentStatus
from services.pangkat import PNS_GOLONGAN

KGB_YEARS = 2  # PP 7/1977 Pasal 11 (as amended): every 2 years of masa kerja golongan
KP_REGULER_YEARS = 4  # PP 99/2000 jo PP 12/2002
KP_JF_YEARS = 2
# Highest golongan a KP reguler reaches with each diploma (PP 99/2000 jo PP 12/2002).
EDUCATION_CEILING = {"SD": "II/a", "SMP": "II/c", "SMA": "III/b", "D1": "III/b", "D2": "III/b", "D3": "III/c",
                     "D4": "III/d", "S1": "III/d", "S2": "IV/a", "S3": "IV/b"}


@dataclass(frozen=True)
class Milestone:
    kind: str  # "kgb" | "kp" | "pensiun"
    when: date | None
    basis: str  # legal basis, short
    notes: list[str] = field(default_factory=list)  # conditions and uncertainties, Indonesian
    not_applicable: str | None = None  # why this does not apply to the person


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def first_of_next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def next_kgb(emp: Employee, today: date) -> Milestone:
    basis = "PP 7/1977 Pasal 11-12 (sebagaimana telah diubah)"
    if emp.status not in (EmploymentStatus.PNS, EmploymentStatus.CPNS):
        return Milestone("kgb", None, basis, not_applicable="KGB di sini dihitung untuk PNS; untuk PPPK dan "
                         "Non-PNS perlu konfirmasi ke BKPSDM.")
    start = emp.tmt_kgb or emp.tmt_cpns
    if start is None:
        return Milestone("kgb", None, basis, not_applicable="TMT KGB dan TMT CPNS Anda belum tercatat.")
    when = add_years(start, KGB_YEARS)
    notes = ["Syarat: penilaian kinerja paling rendah baik. Surat pemberitahuan KGB terbit sekitar 2 bulan "
             "sebelumnya."]
    if emp.tmt_kgb is None:
        notes.append("Dihitung dari TMT CPNS karena TMT KGB terakhir belum tercatat.")
    if when < today:
        notes.append(f"Menurut data, KGB ini seharusnya sudah berlaku {when:%d-%m-%Y}; bila SK-nya belum ada, "
                     "tanyakan ke pengelola kepegawaian OPD.")
    return Milestone("kgb", when, basis, notes)


def next_kp(emp: Employee, today: date) -> Milestone:
    basis = "PP 99/2000 jo PP 12/2002; periode bulanan sejak Peraturan BKN 4/2025"
    if emp.status != EmploymentStatus.PNS:
        return Milestone("kp", None, basis, not_applicable="Kenaikan pangkat berlaku untuk PNS.")
    if emp.tmt_pangkat is None or emp.golongan not in PNS_GOLONGAN:
        return Milestone("kp", None, basis, not_applicable="TMT pangkat atau golongan Anda belum tercatat.")
    if emp.golongan == PNS_GOLONGAN[-1]:
        return Milestone("kp", None, basis, not_applicable="Anda sudah pada golongan tertinggi (IV/e).")
    fungsional = emp.jenis_jabatan == "fungsional"
    years = KP_JF_YEARS if fungsional else KP_REGULER_YEARS
    earliest = add_years(emp.tmt_pangkat, years)
    # KP takes effect on the 1st of a month (monthly periods since 1 October 2025).
    when = earliest if earliest.day == 1 else first_of_next_month(earliest)
    notes = ["Syarat: penilaian kinerja paling rendah baik dalam 2 tahun terakhir."]
    if fungsional:
        notes.append("Untuk jabatan fungsional: paling singkat 2 tahun dalam pangkat dan angka kredit (PAK) "
                     "terpenuhi; tanggal ini adalah yang paling cepat.")
    else:
        notes.append(f"KP reguler: paling singkat {KP_REGULER_YEARS} tahun dalam pangkat terakhir.")
        ceiling = EDUCATION_CEILING.get(emp.education or "")
        if ceiling and PNS_GOLONGAN.index(emp.golongan) >= PNS_GOLONGAN.index(ceiling):
            notes.append(f"Dengan pendidikan {emp.education}, KP reguler paling tinggi {ceiling}; kenaikan "
                         "berikutnya lewat penyesuaian ijazah atau jabatan (tanyakan ke BKPSDM).")
    if emp.golongan in ("II/d", "III/d"):
        notes.append("Naik ke golongan berikutnya memerlukan ujian dinas (kecuali dibebaskan).")
    if when < today:
        notes.append("Menurut data, masa kerja dalam pangkat sudah cukup: usulan dapat diajukan pada periode "
                     "terdekat bila syarat lain terpenuhi.")
    return Milestone("kp", when, basis, notes)


def bup_age(emp: Employee) -> tuple[int, list[str]]:
    """Batas usia pensiun by position (PP 11/2017 Pasal 239; UU 20/2023 Pasal 55)."""
    jabatan = (emp.jabatan or "").lower()
    notes: list[str] = []
    if "ahli utama" in jabatan:
        return 65, notes
    if "ahli madya" in jabatan or (emp.eselon or "").startswith(("I.", "II.")):
        return 60, notes
    if "guru" in jabatan or "dosen" in jabatan or "pengawas sekolah" in jabatan:
        notes.append("BUP guru/dosen diatur undang-undangnya sendiri: perlu konfirmasi ke BKPSDM.")
    return 58, notes


def pensiun(emp: Employee) -> Milestone:
    basis = "PP 11/2017 Pasal 239; UU 20/2023 Pasal 55"
    if emp.status not in (EmploymentStatus.PNS, EmploymentStatus.CPNS):
        return Milestone("pensiun", None, basis, not_applicable="Pensiun dengan hak pensiun berlaku untuk PNS; "
                         "PPPK dan Non-PNS berakhir sesuai perjanjian kerja.")
    age, notes = bup_age(emp)
    birthday = add_years(emp.birth_date, age)
    notes.insert(0, f"Batas usia pensiun untuk jabatan Anda: {age} tahun (bila jabatan berubah, BUP bisa berubah).")
    notes.append("Berkas usul pensiun sebaiknya disiapkan jauh hari (lihat Tanya layanan: pensiun).")
    return Milestone("pensiun", first_of_next_month(birthday), basis, notes)


def milestone(kind: str, emp: Employee, today: date) -> Milestone:
    if kind == "kgb":
        return next_kgb(emp, today)
    if kind == "kp":
        return next_kp(emp, today)
    return pensiun(emp)
