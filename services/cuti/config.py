"""The agency's cuti data: city choices (cuti.yaml), cuti bersama dates (cuti-bersama.yaml)
and national-holiday corrections (hari-libur.yaml), all under the agency data folder."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.agency import DEFAULT_AGENCY_DIR


@dataclass(frozen=True)
class HolidayFix:
    added: dict[date, str] = field(default_factory=dict)  # date -> name (with its source)
    removed: frozenset[date] = frozenset()


@dataclass(frozen=True)
class CutiConfig:
    raw: dict[str, Any]
    cuti_bersama: dict[date, str]  # date -> decree
    holiday_fix: HolidayFix

    def get(self, *path: str, default: Any = None) -> Any:
        node: Any = self.raw
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def per_kind(self, section: str, kind: str) -> int:
        """A value from a {default: .., <kind>: ..} map under apply_window."""
        table = self.get("apply_window", section, default={}) or {}
        return int(table.get(kind, table.get("default", 0)))


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as e:
        raise ValueError(f"{where}: tanggal tidak valid: {value!r}") from e


def parse_config(raw: dict[str, Any] | None, bersama: dict[Any, Any] | None,
                 libur: dict[str, Any] | None) -> CutiConfig:
    dates: dict[date, str] = {}
    for year, groups in (bersama or {}).items():
        for group in groups or []:
            source = str(group.get("source") or "Keppres cuti bersama")
            for d in group.get("dates") or []:
                d = _as_date(d, "cuti-bersama.yaml")
                if d.year != int(year):
                    raise ValueError(f"cuti-bersama.yaml: {d} tercatat di bawah tahun {year}")
                dates[d] = source
    libur = libur or {}
    added = {}
    for item in libur.get("add") or []:
        name = str(item.get("name") or "hari libur nasional")
        if item.get("source"):
            name = f"{name} ({item['source']})"
        added[_as_date(item["date"], "hari-libur.yaml")] = name
    removed = frozenset(_as_date(item["date"], "hari-libur.yaml") for item in libur.get("remove") or [])
    return CutiConfig(raw=raw or {}, cuti_bersama=dates, holiday_fix=HolidayFix(added, removed))


@lru_cache(maxsize=8)
def load_config(agency_dir: Path | None = None) -> CutiConfig:
    base = agency_dir or DEFAULT_AGENCY_DIR
    return parse_config(_read(base / "cuti.yaml"), _read(base / "cuti-bersama.yaml"), _read(base / "hari-libur.yaml"))
