"""Izin belajar eligibility (table-driven) and `asnbot izin-belajar check`, whose document list is
the knowledge base's syarat for SOP 62."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from knowledge.kb import ENTRIES_DIR
from services.importer import import_pegawai
from services.izin_belajar import check, load_config
from services.models import Employee
from tests.conftest import SAMPLE_CSV
from tests.test_cli import cli_env

TODAY = date(2026, 11, 27)
DOCS = ["Surat permohonan"]


def emp(**kw: object) -> Employee:
    base = dict(status="PNS", education="S1", golongan="III/a", tmt_cpns=date(2019, 3, 1), tmt_pns=date(2020, 3, 1))
    base.update(kw)
    return Employee(**base)


@pytest.mark.parametrize(("kw", "jenjang", "codes"), [
    ({}, "S2", []),
    ({}, "S3", ["jenjang"]),  # two levels up
    ({"education": "SMA"}, "S1", []),
    ({"education": "SMA"}, "S2", ["jenjang"]),
    ({"tmt_pns": date(2026, 3, 1)}, "S2", ["masa-kerja"]),  # under a year as PNS
    ({"tmt_pns": None, "tmt_cpns": date(2025, 3, 1)}, "S2", ["masa-kerja"]),  # estimated PNS 2026-03
    ({"tmt_pns": None, "tmt_cpns": date(2024, 3, 1)}, "S2", []),
    ({"status": "CPNS"}, "S2", ["cpns"]),
    ({"status": "PPPK"}, "S2", ["pppk"]),
    ({"status": "NON-PNS"}, "S2", ["bukan-asn"]),
    ({}, "S9", ["jenjang-tidak-dikenal"]),
])
def test_rules(kw: dict, jenjang: str, codes: list[str]) -> None:
    result = check(emp(**kw), jenjang, today=TODAY, documents=DOCS, config=load_config())
    assert [p.code for p in result.problems] == codes
    assert result.eligible is (not codes) and result.documents == DOCS


def test_rank_floor_applies_only_when_configured() -> None:
    config = load_config() | {"min_golongan": {"S2": "III/a"}}
    assert [p.code for p in check(emp(golongan="II/d"), "S2", today=TODAY, documents=[], config=config).problems] == ["golongan"]
    assert check(emp(golongan="II/d"), "S2", today=TODAY, documents=[], config=load_config()).eligible


async def test_cli_documents_follow_the_sop_62_entry(db_url: str, sessions, tmp_path: Path) -> None:  # noqa: ANN001
    await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries)

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "bot.cli", "izin-belajar", "check", "--nip", "199001092014121001",
             "--jenjang", "S1", "--json", "--today", "2026-11-27"],
            env=cli_env(db_url, tmp_path, KB_DIR=str(entries)), cwd=tmp_path, capture_output=True, text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)

    first = run()
    assert first["eligible"] is True and first["problems"] == []
    assert "Surat permohonan izin belajar dari pegawai" in first["documents"]
    victim = next(entries.glob("sop-62-*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8").replace(
        "Surat permohonan izin belajar dari pegawai", "Surat permohonan izin belajar bermeterai"), encoding="utf-8")
    second = run()
    assert "Surat permohonan izin belajar bermeterai" in second["documents"]
    assert "Surat permohonan izin belajar dari pegawai" not in second["documents"]
