"""Agency facts (name, contacts) loaded from the agency data folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_AGENCY_DIR = Path(__file__).parent / "data" / "kota-bekasi"


@dataclass(frozen=True)
class Agency:
    name: str
    short_name: str
    government: str
    contact: dict[str, str] = field(default_factory=dict)
    link_code_issuer: str = "BKPSDM"

    def contact_lines(self) -> list[str]:
        labels = {"office": "Alamat", "hours": "Layanan", "phone": "Telepon", "email": "Email", "website": "Situs"}
        return [f"{labels.get(k, k)}: {v}" for k, v in self.contact.items() if v]


def load_agency(agency_dir: Path | None = None) -> Agency:
    path = (agency_dir or DEFAULT_AGENCY_DIR) / "agency.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    contact = {k: str(v or "").strip() for k, v in (raw.get("contact") or {}).items()}
    return Agency(
        name=raw["name"],
        short_name=raw.get("short_name") or raw["name"],
        government=raw.get("government", ""),
        contact=contact,
        link_code_issuer=raw.get("link_code_issuer") or "BKPSDM",
    )
