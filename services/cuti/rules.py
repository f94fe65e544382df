"""Who may take which cuti, for how long, with which documents: pure functions over an
Applicant and a Request. Every problem names its rule and legal basis in one Indonesian
sentence; articles are cited only where regulations.md gives them."""
from __future__ import annotations

import calendar as _cal
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.cuti.config import CutiConfig

KINDS = ("tahunan", "besar", "sakit", "melahirkan", "alasan-penting", "bersama", "cltn")
KIND_NAMES = {
    "tahunan": "cuti tahunan", "besar": "cuti besar", "sakit": "cuti sakit", "melahirkan": "cuti melahirkan",
    "alasan-penting": "cuti karena alasan penting", "bersama": "cuti bersama",
    "cltn": "cuti di luar tanggungan negara",
}
PPPK_KINDS = {"tahunan", "sakit", "melahirkan", "bersama"}  # PP 49/2018; Peraturan BKN 7/2022 Pasal 4
ABROAD_KINDS = {"tahunan", "besar", "sakit", "melahirkan", "alasan-penting"}
# Request reasons that change a rule.
HAJI_PERTAMA = "haji-pertama"        # cuti besar without 5 years of service
MELAHIRKAN_KE_4 = "melahirkan-ke-4"  # 4th+ birth: cuti besar of 3 months, service rule waived
GUGUR_KANDUNGAN = "gugur-kandungan"  # cuti sakit up to 1.5 months


@dataclass(frozen=True)
class Applicant:
    status: str           # PNS / CPNS / PPPK / NON-PNS (services.models.EmploymentStatus)
    sex: str              # L / P
    tmt_cpns: date | None  # PPPK: start of the first agreement
    today: date

    @classmethod
    def from_employee(cls, employee: Any, today: date) -> Applicant:
        return cls(status=employee.status, sex=employee.sex, tmt_cpns=employee.tmt_cpns, today=today)


@dataclass(frozen=True)
class LeavePeriod:
    kind: str
    start: date
    end: date


@dataclass(frozen=True)
class Request:
    kind: str
    start: date
    end: date
    abroad: bool = False
    reason: str | None = None
    birth_order: int | None = None  # cuti melahirkan: which birth while an ASN


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    blocking: bool = True  # False: a flag or a document to attach, not a refusal


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, _cal.monthrange(year, month)[1]))


def last_day(start: date, months: int) -> date:
    """Last day of a period of `months` calendar months starting on `start`."""
    return add_months(start, months) - timedelta(days=1)


def full_years(since: date, at: date) -> int:
    years = at.year - since.year
    if (at.month, at.day) < (since.month, since.day):
        years -= 1
    return years


# ---- dates -----------------------------------------------------------------------------------
def check_dates(req: Request, today: date, config: CutiConfig) -> list[Problem]:
    if req.end < req.start:
        return [Problem("tanggal-terbalik", "Tanggal selesai tidak boleh sebelum tanggal mulai.")]
    problems = []
    past = config.per_kind("past_days_allowed", req.kind)
    if req.start < today - timedelta(days=past):
        problems.append(Problem("tanggal-lampau", (
            f"Tanggal mulai {KIND_NAMES[req.kind]} tidak boleh lebih dari {past} hari sebelum hari ini "
            f"(ketentuan BKPSDM Kota Bekasi)." if past else
            "Tanggal mulai sudah lewat; cuti diajukan sebelum dijalankan (ketentuan BKPSDM Kota Bekasi).")))
    ahead = int(config.get("apply_window", "max_days_ahead", default=365))
    if req.start > today + timedelta(days=ahead):
        problems.append(Problem("terlalu-jauh", (
            f"Cuti paling cepat diajukan {ahead} hari sebelum tanggal mulai (ketentuan BKPSDM Kota Bekasi).")))
    notice = config.per_kind("min_notice_days", req.kind)
    if notice and today <= req.start < today + timedelta(days=notice):
        problems.append(Problem("pemberitahuan-kurang", (
            f"{KIND_NAMES[req.kind].capitalize()} diajukan paling lambat {notice} hari sebelum tanggal mulai "
            "(ketentuan BKPSDM Kota Bekasi).")))
    return problems


def check_overlap(req: Request, existing: Iterable[LeavePeriod]) -> list[Problem]:
    return [
        Problem("tumpang-tindih", (
            f"Tanggal yang diminta bertumpang tindih dengan {KIND_NAMES.get(p.kind, p.kind)} "
            f"{p.start:%d-%m-%Y} s.d. {p.end:%d-%m-%Y}; satu hari hanya dapat dicatat untuk satu cuti."))
        for p in existing if p.start <= req.end and req.start <= p.end
    ]


# ---- who may take it --------------------------------------------------------------------------
def check_eligibility(a: Applicant, req: Request, existing: Iterable[LeavePeriod], config: CutiConfig) -> list[Problem]:
    kind, status = req.kind, a.status
    if status == "NON-PNS":
        return _non_pns(a, req, config)
    if status == "PPPK" and kind not in PPPK_KINDS:
        return [Problem("tidak-berhak-pppk", (
            f"PPPK tidak berhak atas {KIND_NAMES[kind]}; PPPK hanya mendapat cuti tahunan, cuti sakit, "
            "cuti melahirkan dan cuti bersama (PP 49/2018; Peraturan BKN 7/2022 Pasal 4)."))]
    years = full_years(a.tmt_cpns, req.start) if a.tmt_cpns else None
    needs_service = kind == "tahunan" or (kind in ("besar", "cltn"))
    if needs_service and years is None:
        return [Problem("tmt-kosong", "TMT CPNS/PPPK belum tercatat sehingga masa kerja tidak dapat dihitung; hubungi BKPSDM.")]
    problems: list[Problem] = []
    if kind == "tahunan" and years < 1:
        if status == "PPPK":
            problems.append(Problem("masa-kerja-kurang", (
                "Cuti tahunan PPPK baru dapat diambil setelah bekerja 1 tahun terus-menerus, kecuali paling lama "
                "6 hari kerja karena keluarga sakit keras/meninggal atau pernikahan pertama (PP 49/2018 Pasal 78 dan 80).")))
        else:
            problems.append(Problem("masa-kerja-kurang", (
                "Cuti tahunan hanya untuk PNS dan CPNS dengan masa kerja paling singkat 1 tahun terus-menerus "
                "(PP 11/2017 Pasal 311).")))
    if kind == "besar":
        if status != "PNS":
            problems.append(Problem("hanya-pns", "Cuti besar hanya untuk PNS (PP 11/2017 Pasal 316)."))
        elif years < 5 and req.reason not in (HAJI_PERTAMA, MELAHIRKAN_KE_4):
            problems.append(Problem("masa-kerja-kurang", (
                "Cuti besar hanya untuk PNS dengan masa kerja paling singkat 5 tahun terus-menerus, kecuali untuk "
                "ibadah haji pertama (PP 11/2017 Pasal 316).")))
        for p in existing:
            if p.kind == "besar" and p.end < req.start and req.start <= add_months(p.end, 60):
                nxt = add_months(p.end, 60) + timedelta(days=1)
                problems.append(Problem("besar-belum-5-tahun", (
                    f"Cuti besar berikutnya baru dapat diambil 5 tahun setelah cuti besar sebelumnya berakhir, "
                    f"yaitu mulai {nxt:%d-%m-%Y} (Peraturan BKN 24/2017).")))
    if kind == "cltn":
        if status != "PNS":
            problems.append(Problem("hanya-pns", "CLTN hanya untuk PNS (PP 11/2017; Peraturan BKN 24/2017)."))
        elif years < 5:
            problems.append(Problem("masa-kerja-kurang", (
                "Cuti di luar tanggungan negara hanya untuk PNS dengan masa kerja paling singkat 5 tahun "
                "terus-menerus (PP 11/2017; Peraturan BKN 24/2017).")))
    if kind == "melahirkan":
        if a.sex != "P":
            problems.append(Problem("hanya-perempuan", (
                "Cuti melahirkan hanya untuk pegawai perempuan; suami yang mendampingi persalinan memakai cuti "
                "karena alasan penting (PP 11/2017 Pasal 325; Peraturan BKN 24/2017).")))
        elif req.birth_order is not None and req.birth_order > 3:
            basis = "PP 49/2018; Peraturan BKN 7/2022 Pasal 18" if status == "PPPK" else "PP 11/2017 Pasal 325"
            alt = "" if status == "PPPK" else "; untuk kelahiran keempat dan seterusnya diberikan cuti besar"
            problems.append(Problem("melahirkan-anak-ke-4", (
                f"Cuti melahirkan hanya untuk persalinan pertama sampai ketiga selama menjadi ASN{alt} ({basis}).")))
    return problems


def _non_pns(a: Applicant, req: Request, config: CutiConfig) -> list[Problem]:
    kinds = config.get("non_pns", "kinds", default={}) or {}
    rule = kinds.get(req.kind)
    if rule is None:
        return [Problem("non-pns-belum-dikonfirmasi", (
            f"Hak {KIND_NAMES[req.kind]} bagi tenaga Non-PNS (TKK) Kota Bekasi belum dikonfirmasi, silakan hubungi "
            "BKPSDM (Perwal Kota Bekasi 42/2017 jo Perwal 72/2018)."))]
    min_years = int(rule.get("min_service_years", 0))
    if min_years and (a.tmt_cpns is None or full_years(a.tmt_cpns, req.start) < min_years):
        return [Problem("masa-kerja-kurang", (
            f"{KIND_NAMES[req.kind].capitalize()} tenaga Non-PNS memerlukan masa kerja paling singkat "
            f"{min_years} tahun ({rule.get('basis', 'Perwal Kota Bekasi 42/2017')})."))]
    return []


# ---- how long --------------------------------------------------------------------------------
def check_length(a: Applicant, req: Request, working_days: int, existing: Iterable[LeavePeriod],
                 config: CutiConfig) -> list[Problem]:
    kind, pppk = req.kind, a.status == "PPPK"
    if working_days < 1 and kind not in ("sakit", "besar", "melahirkan", "cltn"):
        return [Problem("tanpa-hari-kerja", (
            f"Rentang tanggal itu tidak memuat hari kerja, jadi tidak ada {KIND_NAMES[kind]} yang perlu diambil "
            "(paling sedikit 1 hari kerja, Peraturan BKN 24/2017 angka III.A)."))]
    if a.status == "NON-PNS":
        rule = (config.get("non_pns", "kinds", default={}) or {}).get(kind) or {}
        cap = rule.get("max_working_days")
        if cap is not None and working_days > int(cap):
            return [Problem("terlalu-lama", (
                f"{KIND_NAMES[kind].capitalize()} tenaga Non-PNS paling lama {cap} hari kerja "
                f"({rule.get('basis', 'Perwal Kota Bekasi 42/2017')})."))]
        return []
    if kind == "besar" and req.end > last_day(req.start, 3):
        return [Problem("terlalu-lama", "Cuti besar paling lama 3 bulan (PP 11/2017 Pasal 316).")]
    if kind == "melahirkan" and req.end > last_day(req.start, 3):
        basis = "PP 49/2018; Peraturan BKN 7/2022 Pasal 18" if pppk else "PP 11/2017 Pasal 325"
        return [Problem("terlalu-lama", f"Cuti melahirkan paling lama 3 bulan ({basis}).")]
    if kind == "alasan-penting" and req.end > last_day(req.start, 1):
        return [Problem("terlalu-lama", "Cuti karena alasan penting paling lama 1 bulan (PP 11/2017 Pasal 330).")]
    if kind == "cltn" and req.end > last_day(req.start, 36):
        return [Problem("terlalu-lama", (
            "Cuti di luar tanggungan negara paling lama 3 tahun dan dapat diperpanjang paling lama 1 tahun "
            "(PP 11/2017; Peraturan BKN 24/2017).")) ]
    if kind == "sakit":
        return _sick_length(a, req, existing)
    return []


def _sick_length(a: Applicant, req: Request, existing: Iterable[LeavePeriod]) -> list[Problem]:
    if req.reason == GUGUR_KANDUNGAN:
        # 1.5 months = 1 month + 15 days (our reading of "1,5 bulan").
        limit = add_months(req.start, 1) + timedelta(days=14)
        if req.end > limit:
            basis = "PP 49/2018; Peraturan BKN 7/2022" if a.status == "PPPK" else "PP 11/2017 Pasal 321"
            return [Problem("terlalu-lama", f"Cuti sakit karena gugur kandungan paling lama 1,5 bulan ({basis}).")]
        return []
    if a.status == "PPPK":
        if req.end > last_day(req.start, 1):
            return [Problem("terlalu-lama", (
                "Cuti sakit PPPK paling lama 1 bulan; bila belum sembuh perjanjian kerja dapat diputus "
                "(PP 49/2018; Peraturan BKN 7/2022 Pasal 12-17)."))]
        return []
    # PNS: 1 year in total, counted cumulatively over parts, + up to 6 months on the certificate
    # of the Tim Penguji Kesehatan (PP 11/2017 Pasal 320 as amended by PP 17/2020).
    earlier = sum((p.end - p.start).days + 1 for p in existing if p.kind == "sakit")
    total = earlier + (req.end - req.start).days + 1
    year_days = (add_months(req.start, 12) - req.start).days
    extra_days = (add_months(req.start, 18) - req.start).days
    if total > extra_days:
        return [Problem("terlalu-lama", (
            "Cuti sakit paling lama 1 tahun dan dapat ditambah paling lama 6 bulan (PP 11/2017 Pasal 320 "
            "jo PP 17/2020)."))]
    if total > year_days:
        return [Problem("perlu-tim-penguji", (
            "Cuti sakit lebih dari 1 tahun memerlukan surat keterangan Tim Penguji Kesehatan (PP 11/2017 Pasal 320 "
            "jo PP 17/2020)."), blocking=False)]
    return []


# ---- documents and flags ---------------------------------------------------------------------
def documents(a: Applicant, req: Request, config: CutiConfig) -> list[Problem]:
    """What to attach; not refusals."""
    days = (req.end - req.start).days + 1
    out: list[Problem] = []
    if req.kind == "sakit":
        if days >= int(config.get("sakit", "surat_dokter_from_days", default=1)):
            where = "kepada atasan langsung" if days == 1 else "kepada pejabat yang berwenang memberikan cuti"
            basis = "PP 49/2018; Peraturan BKN 7/2022" if a.status == "PPPK" else "PP 17/2020 Pasal 320"
            out.append(Problem("dokumen-surat-dokter", (
                f"Lampirkan surat keterangan dokter; permintaan disampaikan {where} ({basis})."), blocking=False))
        gov = int(config.get("sakit", "pppk_dokter_pemerintah_over_days", default=14))
        if a.status == "PPPK" and days > gov:
            out.append(Problem("dokumen-dokter-pemerintah", (
                f"Cuti sakit PPPK lebih dari {gov} hari memerlukan surat keterangan dokter pemerintah "
                "(PP 49/2018; Peraturan BKN 7/2022)."), blocking=False))
    elif req.kind == "melahirkan":
        out.append(Problem("dokumen-surat-dokter", (
            "Lampirkan surat keterangan dokter atau bidan dengan perkiraan tanggal persalinan (Peraturan BKN 24/2017)."),
            blocking=False))
    elif req.kind == "besar" and req.reason == HAJI_PERTAMA:
        out.append(Problem("dokumen-jadwal-haji", (
            "Lampirkan jadwal keberangkatan/kloter dari penyelenggara ibadah haji (Peraturan BKN 24/2017)."),
            blocking=False))
    elif req.kind == "alasan-penting":
        out.append(Problem("dokumen-bukti-alasan", (
            "Lampirkan bukti alasan penting, misalnya surat rawat inap atau surat keterangan RT "
            "(Peraturan BKN 24/2017)."), blocking=False))
    elif req.kind == "cltn":
        out.append(Problem("dokumen-alasan-cltn", (
            "Lampirkan bukti alasan CLTN (surat tugas/SK pasangan atau surat dokter spesialis) "
            "(Peraturan BKN 24/2017 jo Peraturan BKN 7/2021)."), blocking=False))
        out.append(Problem("persetujuan-bkn", (
            "CLTN melibatkan persetujuan Kepala BKN; selama CLTN tidak menerima penghasilan dan tidak dihitung "
            "sebagai masa kerja (PP 11/2017 Pasal 144; Peraturan BKN 24/2017)."), blocking=False))
    return out


def abroad_flag(req: Request) -> list[Problem]:
    if req.abroad and req.kind in ABROAD_KINDS:
        return [Problem("luar-negeri", (
            "Cuti yang dijalani di luar negeri hanya dapat diberikan oleh PPK (Wali Kota) atau pejabat yang "
            "dikuasakan (Peraturan BKN 24/2017 jo Peraturan BKN 7/2021)."), blocking=False)]
    return []


# ---- kind-specific checks against the calendar and balance ------------------------------------
def check_tahunan(req: Request, working_days: int, available: int | None, config: CutiConfig) -> list[Problem]:
    if req.kind != "tahunan":
        return []
    if req.start.year != req.end.year and config.get("tahunan", "split_across_years", default=True):
        return [Problem("lintas-tahun", (
            "Cuti tahunan dihitung per tahun, jadi cuti yang melewati 31 Desember diajukan sebagai dua permohonan "
            "(PP 11/2017 Pasal 312; ketentuan BKPSDM Kota Bekasi)."))]
    if available is not None and working_days > available:
        return [Problem("saldo-kurang", (
            f"Sisa cuti tahunan {available} hari kerja, kurang dari {working_days} hari kerja yang diminta "
            "(PP 11/2017 Pasal 312; Peraturan BKN 24/2017 angka III.A)."))]
    return []


def check_bersama(req: Request, not_bersama: list[date]) -> list[Problem]:
    if req.kind != "bersama" or not not_bersama:
        return []
    shown = ", ".join(f"{d:%d-%m-%Y}" for d in not_bersama[:5])
    return [Problem("bukan-cuti-bersama", (
        f"Tanggal {shown} bukan cuti bersama yang ditetapkan Keputusan Presiden (PP 11/2017 Pasal 333)."))]


def besar_shortening(req: Request, tahunan_used_this_year: int) -> list[Problem]:
    if req.kind != "besar" or tahunan_used_this_year <= 0:
        return []
    return [Problem("besar-dikurangi-tahunan", (
        f"Cuti tahunan yang sudah diambil tahun ini ({tahunan_used_this_year} hari kerja) mengurangi lamanya cuti "
        "besar, dan cuti tahunan tahun ini tidak lagi tersedia (Peraturan BKN 24/2017)."), blocking=False)]
