"""Izin belajar eligibility from what the personnel database knows (status, years as PNS,
education, golongan). What it cannot know (performance rating, disciplinary record, accreditation,
schedule) is proven by the documents, whose list comes from the knowledge-base entry for SOP 62
and is passed in by the caller, so what the bot publishes and what it asks for never drift apart."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from services.agency import DEFAULT_AGENCY_DIR
from services.models import Employee, EmploymentStatus
from services.pangkat import PNS_GOLONGAN

LEVELS = ("SD", "SMP", "SMA", "D1", "D2", "D3", "D4", "S1", "S2", "S3")
BASIS = "SE MenPANRB 04/2013; SE MenPANRB 28/2021"


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass
class Check:
    eligible: bool
    problems: list[Problem] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "problems": [{"code": p.code, "message": p.message} for p in self.problems],
                "documents": list(self.documents)}


def load_config(agency_dir: Path | None = None) -> dict[str, Any]:
    path = (agency_dir or DEFAULT_AGENCY_DIR) / "izin-belajar.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _full_years(start: date, today: date) -> int:
    return today.year - start.year - ((today.month, today.day) < (start.month, start.day))


def check(emp: Employee, jenjang: str, *, today: date, documents: list[str], config: dict[str, Any]) -> Check:
    jenjang = jenjang.strip().upper()
    problems: list[Problem] = []
    if jenjang not in LEVELS:
        problems.append(Problem("jenjang-tidak-dikenal", f"Jenjang {jenjang} tidak dikenal (pilihan: D3, D4, S1, S2, S3)."))
    if emp.status == EmploymentStatus.PPPK and not config.get("pppk_allowed", False):
        problems.append(Problem("pppk", "Izin belajar bagi PPPK belum diatur jelas: perlu konfirmasi ke BKPSDM."))
    elif emp.status == EmploymentStatus.NON_PNS:
        problems.append(Problem("bukan-asn", f"Izin belajar diberikan kepada PNS ({BASIS})."))
    elif emp.status == EmploymentStatus.CPNS:
        problems.append(Problem("cpns", f"Izin belajar diberikan setelah diangkat sebagai PNS ({BASIS})."))
    if emp.status == EmploymentStatus.PNS:
        # Without TMT PNS: appointment as PNS follows the one-year CPNS probation (PP 11/2017 Pasal 34).
        since = emp.tmt_pns or (emp.tmt_cpns.replace(year=emp.tmt_cpns.year + 1) if emp.tmt_cpns else None)
        need = int(config.get("min_years_as_pns", 1))
        if since is None:
            problems.append(Problem("tmt-kosong", "TMT PNS Anda belum tercatat: perlu dilengkapi oleh pengelola kepegawaian."))
        elif _full_years(since, today) < need:
            problems.append(Problem("masa-kerja", f"Izin belajar paling cepat {need} tahun setelah diangkat sebagai PNS ({BASIS})."))
    if jenjang in LEVELS and emp.education:
        allowed = config.get("next_levels", {}).get(emp.education, [])
        if jenjang not in allowed:
            above = ", ".join(allowed) or "-"
            problems.append(Problem("jenjang", f"Izin belajar untuk satu jenjang di atas pendidikan terakhir "
                                               f"({emp.education}): {above}, bukan {jenjang} ({BASIS})."))
    floor = (config.get("min_golongan") or {}).get(jenjang)
    if floor and emp.golongan in PNS_GOLONGAN and PNS_GOLONGAN.index(emp.golongan) < PNS_GOLONGAN.index(floor):
        problems.append(Problem("golongan", f"Untuk {jenjang} paling rendah golongan {floor} (ketentuan BKPSDM)."))
    return Check(eligible=not problems, problems=problems, documents=list(documents))
