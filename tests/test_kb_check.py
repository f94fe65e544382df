"""`asnbot kb check`: every rule of knowledge/kb.py, each shown failing on a broken copy of a
small valid knowledge base (tests/kb_fixtures), plus the reloading KnowledgeStore.

Each rule test asserts the file name and field path in the message, so removing a rule fails it.
"""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from knowledge import kb as kbmod
from knowledge.kb import (
    KBError,
    KnowledgeBase,
    KnowledgeStore,
    Problem,
    check,
    load_catalog,
    load_kb,
)

FIXTURES = Path(__file__).resolve().parent / "kb_fixtures"
CATALOG = FIXTURES / "catalog.yaml"
VALID = FIXTURES / "valid" / "entries"
BROKEN = FIXTURES / "broken"

SOP01 = "sop-01-cuti-tahunan.yaml"
SOP04 = "sop-04-izin-cerai.yaml"
SOP39 = "sop-39-kp.yaml"
LAYANAN_CUTI = "layanan-cuti-ringkasan.yaml"
CUTI_BESAR = "cuti-besar.yaml"


@pytest.fixture
def entries(tmp_path: Path) -> Path:
    """A writable copy of the valid fixture entries."""
    target = tmp_path / "entries"
    shutil.copytree(VALID, target)
    return target


def edit(entries: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> None:
    path = entries / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run(entries: Path, catalog: Path = CATALOG) -> tuple[KnowledgeBase | None, list[Problem]]:
    return check(entries, catalog)


def find(problems: list[Problem], fragment: str, *, path: str | None = None,
         where: str | None = None, severity: str = "error") -> Problem:
    """The one problem whose text contains fragment (and path/where/severity match)."""
    hits = [p for p in problems
            if fragment in p.message and p.severity == severity
            and (path is None or p.path == path) and (where is None or p.where == where)]
    assert hits, f"no {severity} {path}: {where}: ...{fragment}... in:\n" + "\n".join(
        map(str, problems))
    return hits[0]


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


# ----------------------------------------------------------------------------- valid KB


def test_valid_fixture_passes_without_problems() -> None:
    kb, problems = run(VALID)
    assert problems == []
    assert kb is not None
    assert sorted(kb.entries) == ["cuti-besar", "layanan-cuti", "layanan-kenaikan-pangkat",
                                  "sop-01", "sop-04", "sop-39"]
    assert kb.source_dir == VALID
    assert kb.loaded_at.tzinfo is not None
    assert kb.get("sop-39").title == "Kenaikan Pangkat Golongan III/d ke Bawah"
    assert kb.get("sop-99") is None
    # The SOP's own entry first, the service overview last.
    assert [e.id for e in kb.by_sop(1)] == ["sop-01", "layanan-cuti"]
    assert kb.by_sop(2) == []
    # The overview first, then the others by id.
    assert [e.id for e in kb.by_service("cuti")] == ["layanan-cuti", "cuti-besar", "sop-01"]
    assert kb.service_overview("kenaikan-pangkat").id == "layanan-kenaikan-pangkat"
    assert kb.service_overview("pensiun") is None
    assert kb.catalog.services["cuti"].sop == [1]
    assert kb.catalog.services["cuti"].audience == ["pns", "non-pns"]


def test_knowledge_base_is_immutable() -> None:
    kb = load_kb(VALID, CATALOG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        kb.entries = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        kb.entries["x"] = kb.get("sop-01")  # type: ignore[index]
    with pytest.raises(TypeError):
        kb.catalog.sop[99] = kb.catalog.sop[1]  # type: ignore[index]


def test_load_catalog_reads_the_real_catalog() -> None:
    catalog = load_catalog()
    assert sorted(catalog.sop) == list(range(1, 63))
    assert len(catalog.services) == 17
    assert catalog.sop[39].bidang == "apka"
    assert catalog.services["kenaikan-pangkat"].sop == [37, 38, 39, 49]
    assert set(catalog.bidang) == {"pka", "apka", "pkom", "sekretariat"}


def test_problem_reads_like_a_compiler_message() -> None:
    p = Problem("entries/sop-39-kp.yaml", "requirements[2].copies", "harus bilangan bulat 1-20")
    assert str(p) == "entries/sop-39-kp.yaml: requirements[2].copies: harus bilangan bulat 1-20"
    w = Problem("entries/a.yaml", "cost", "isi", "warning", line=7)
    assert str(w) == "entries/a.yaml: cost: peringatan: isi (baris 7)"


# ----------------------------------------------------------------------------- YAML syntax


@pytest.mark.parametrize(("broken", "where", "fragment"), [
    ("sop-04-titik-dua.yaml", "baris 2, kolom 23", "tanda ':' tidak boleh di sini"),
    ("sop-04-tab.yaml", "baris 18, kolom 1", "karakter tab tidak boleh dipakai"),
    ("sop-04-kunci-ganda.yaml", "baris 23, kolom 1",
     "kunci 'duration' ditulis dua kali (pertama di baris 21)"),
])
def test_yaml_syntax_errors_name_line_and_column(entries: Path, broken: str, where: str,
                                                 fragment: str) -> None:
    (entries / SOP04).unlink()
    shutil.copy(BROKEN / broken, entries / broken)
    kb, problems = run(entries)
    assert kb is None
    p = find(problems, fragment, path=f"entries/{broken}", where=where)
    assert p.message.startswith("YAML tidak valid: ")
    assert str(p).startswith(f"entries/{broken}: {where}: YAML tidak valid")


@pytest.mark.parametrize(("content", "fragment"), [
    ("", "berkas kosong"),
    ("# hanya komentar\n", "berkas kosong"),
    ("- id: sop-04\n", "isi berkas harus berupa pasangan kunci: nilai"),
    ("id: sop-04\n---\nid: sop-05\n", "berkas hanya boleh berisi satu entri"),
])
def test_unusable_files_are_reported(entries: Path, content: str, fragment: str) -> None:
    (entries / SOP04).write_text(content, encoding="utf-8")
    kb, problems = run(entries)
    assert kb is None
    find(problems, fragment, path=f"entries/{SOP04}")


def test_non_utf8_file_is_a_problem_not_a_crash(entries: Path) -> None:
    (entries / SOP04).write_bytes(b"id: sop-04\ntitle: Izin \xff\xfe cerai\n")
    kb, problems = run(entries)
    assert kb is None
    find(problems, "UTF-8", path=f"entries/{SOP04}")


def test_yml_extension_is_not_silently_ignored(entries: Path) -> None:
    (entries / SOP04).rename(entries / "sop-04-izin-cerai.yml")
    kb, problems = run(entries)
    assert kb is None
    find(problems, "ekstensi harus .yaml", path="entries/sop-04-izin-cerai.yml")


def test_hidden_and_other_files_are_ignored(entries: Path) -> None:
    (entries / ".#sop-04-izin-cerai.yaml").write_text("{{{", encoding="utf-8")
    (entries / "CATATAN.md").write_text("catatan penulis", encoding="utf-8")
    kb, problems = run(entries)
    assert kb is not None and problems == []


def test_missing_entries_folder(tmp_path: Path) -> None:
    kb, problems = check(tmp_path / "entries", CATALOG)
    assert kb is None
    find(problems, "folder entri tidak ditemukan", path="entries")


# ----------------------------------------------------------------------------- schema


def test_schema_error_has_field_path_counted_from_one_and_line(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d["requirements"][1].update(copies=30))
    kb, problems = run(entries)
    assert kb is None
    p = find(problems, "harus bilangan bulat 1-20", path=f"entries/{SOP39}",
             where="requirements[2].copies")
    assert str(p).startswith("entries/sop-39-kp.yaml: requirements[2].copies: harus bilangan "
                             "bulat 1-20")
    lines = (entries / SOP39).read_text(encoding="utf-8").splitlines()
    assert lines[p.line - 1].strip() == "copies: 30"


@pytest.mark.parametrize(("change", "where", "fragment"), [
    (lambda d: d.pop("cost"), "cost", "wajib diisi"),
    (lambda d: d.update(catatan="x"), "catatan", "kolom 'catatan' tidak dikenal"),
    (lambda d: d["requirements"][0].update(legalised=True), "requirements[1].legalised",
     "kolom 'legalised' tidak dikenal (maksud Anda 'legalized'?)"),
    (lambda d: d["requirements"][0].update(legalized="mungkin"), "requirements[1].legalized",
     "harus true atau false"),
    (lambda d: d.update(reviewed="2026-13-01"), "reviewed", "harus tanggal yang sah"),
    (lambda d: d.update(audience=["PNS", "ASN"]), "audience[2]", "harus salah satu dari 'PNS'"),
    (lambda d: d.update(summary="Terlalu singkat."), "summary", "minimal 40 karakter"),
    (lambda d: d.update(questions=["a", "b"]), "questions", "minimal 5 butir (sekarang 2)"),
    (lambda d: d.update(cost=False), "cost", "harus berupa teks; YAML membaca yes/no"),
    (lambda d: d.update(id="Sop 39"), "id", "huruf kecil, angka dan tanda '-' saja"),
    (lambda d: d.update(requirements=["Fotokopi SK"]), "requirements[1]",
     "setiap butir harus berisi kolom item, copies, legalized, note"),
    (lambda d: d.update(sop=["tiga sembilan"]), "sop[1]", "harus nomor SOP"),
])
def test_schema_errors_are_translated(entries: Path, change: Callable[[dict[str, Any]], Any],
                                      where: str, fragment: str) -> None:
    edit(entries, SOP39, change)
    kb, problems = run(entries)
    assert kb is None
    p = find(problems, fragment, path=f"entries/{SOP39}", where=where)
    assert p.line is not None


def test_schema_broken_entry_does_not_cascade(entries: Path) -> None:
    """A broken layanan-cuti still exists for related ids and coverage: one error, not many."""
    edit(entries, LAYANAN_CUTI, lambda d: d.pop("cost"))
    kb, problems = run(entries)
    assert kb is None
    assert [str(p) for p in errors(problems)] == [
        str(find(problems, "wajib diisi", path=f"entries/{LAYANAN_CUTI}", where="cost"))]


# ----------------------------------------------------------------------------- identity rules


def test_duplicate_ids_name_both_files(entries: Path) -> None:
    shutil.copy(entries / SOP01, entries / "sop-01-salinan.yaml")
    kb, problems = run(entries)
    assert kb is None
    p = find(problems, "id 'sop-01' sudah dipakai di entries/sop-01-cuti-tahunan.yaml",
             path="entries/sop-01-salinan.yaml", where="id")
    assert p.line == 1


@pytest.mark.parametrize("new_name", ["izin-cerai.yaml", "sop-041-izin-cerai.yaml"])
def test_file_name_must_start_with_the_id(entries: Path, new_name: str) -> None:
    (entries / SOP04).rename(entries / new_name)
    kb, problems = run(entries)
    assert kb is None
    find(problems, f"nama berkas '{new_name}' harus diawali id 'sop-04'",
         path=f"entries/{new_name}", where="id")


def test_sop_id_must_include_its_number(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(sop=[4]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "entri sop-39 harus mencakup SOP 39", path=f"entries/{SOP39}", where="sop")


def test_sop_id_has_two_digits(entries: Path) -> None:
    (entries / SOP01).rename(entries / "sop-1-cuti-tahunan.yaml")
    edit(entries, "sop-1-cuti-tahunan.yaml", lambda d: d.update(id="sop-1"))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "ditulis dua angka: sop-01", path="entries/sop-1-cuti-tahunan.yaml",
         where="id")


def test_service_overview_must_name_its_service(entries: Path) -> None:
    edit(entries, LAYANAN_CUTI, lambda d: d.update(service="kenaikan-pangkat"))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "entri layanan-cuti harus service: cuti (sekarang: kenaikan-pangkat)",
         path=f"entries/{LAYANAN_CUTI}", where="service")


def test_service_overview_sop_equals_catalog_list(entries: Path) -> None:
    edit(entries, LAYANAN_CUTI, lambda d: d.update(sop=[1, 4]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "harus sama dengan daftar SOP layanan 'cuti' di katalog: [1] (kelebihan 4)",
         path=f"entries/{LAYANAN_CUTI}", where="sop")


def test_service_overview_of_unknown_service(entries: Path) -> None:
    shutil.copy(entries / LAYANAN_CUTI, entries / "layanan-cutii.yaml")
    edit(entries, "layanan-cutii.yaml", lambda d: d.update(id="layanan-cutii", questions=[
        "q satu lagi", "q dua lagi", "q tiga lagi", "q empat lagi", "q lima lagi"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "layanan 'cutii' tidak ada di katalog (maksud Anda 'cuti'?)",
         path="entries/layanan-cutii.yaml", where="id")


# ----------------------------------------------------------------------------- catalog refs


def test_sop_number_must_exist_in_catalog(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(sop=[39, 99]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "SOP 99 tidak ada di katalog", path=f"entries/{SOP39}", where="sop[2]")


def test_sop_number_listed_twice(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(sop=[39, 39]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "SOP 39 disebut dua kali", path=f"entries/{SOP39}", where="sop[2]")


def test_service_must_exist_in_catalog(entries: Path) -> None:
    edit(entries, CUTI_BESAR, lambda d: d.update(service="cutii", application=None))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "layanan 'cutii' tidak ada di katalog (maksud Anda 'cuti'?)",
         path=f"entries/{CUTI_BESAR}", where="service")


def test_bidang_must_exist_in_catalog(entries: Path) -> None:
    edit(entries, CUTI_BESAR, lambda d: d.update(bidang="bkd"))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "bidang 'bkd' tidak ada di katalog (yang sah: pka, apka)",
         path=f"entries/{CUTI_BESAR}", where="bidang")


def test_bidang_differing_from_catalog_is_a_warning(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(bidang="pka"))
    kb, problems = run(entries)
    assert kb is not None
    find(problems, "bidang 'pka' berbeda dengan bidang SOP-nya di katalog ('apka')",
         path=f"entries/{SOP39}", where="bidang", severity="warning")


def test_sop_outside_its_service_is_a_warning(entries: Path) -> None:
    edit(entries, SOP04, lambda d: d.update(service="cuti"))
    kb, problems = run(entries)
    assert kb is not None
    find(problems, "SOP 4 bukan bagian layanan 'cuti' di katalog ([1])",
         path=f"entries/{SOP04}", where="sop", severity="warning")


# ----------------------------------------------------------------------------- coverage


def test_every_catalog_sop_is_covered(tmp_path: Path, entries: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.read_text(encoding="utf-8").replace(
        "  39:", '  5:  {bidang: pka,  title: "Penerbitan Surat Keterangan Perceraian"}\n  39:'),
        encoding="utf-8")
    kb, problems = run(entries, catalog)
    assert kb is None
    p = find(problems, "SOP 5 'Penerbitan Surat Keterangan Perceraian' belum dicakup entri "
                       "mana pun (buat entries/sop-05-<nama-singkat>.yaml)", path="entries")
    assert problems[-1] == p  # folder-wide problems come after the files'


def test_every_catalog_service_has_an_overview(entries: Path) -> None:
    (entries / LAYANAN_CUTI).unlink()
    for name in (SOP01, CUTI_BESAR):
        edit(entries, name, lambda d: d.update(related=[r for r in d["related"]
                                                        if r != "layanan-cuti"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "layanan 'cuti' (Pelayanan Cuti) belum punya entri ringkasan layanan-cuti",
         path="entries")


# ----------------------------------------------------------------------------- references


def test_related_must_exist(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(related=["layanan-kenaikan-pangkat", "sop-77"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "id 'sop-77' tidak ditemukan", path=f"entries/{SOP39}", where="related[2]")


def test_related_typo_gets_a_suggestion(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(related=["layanan-kenaikan-pangkt"]))
    _, problems = run(entries)
    find(problems, "id 'layanan-kenaikan-pangkt' tidak ditemukan (maksud Anda "
                   "'layanan-kenaikan-pangkat'?)", path=f"entries/{SOP39}", where="related[1]")


def test_related_must_not_point_to_itself(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(related=["sop-39"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "'sop-39' menunjuk entri ini sendiri", path=f"entries/{SOP39}",
         where="related[1]")


def test_related_listed_twice_is_a_warning(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(related=["sop-01", "sop-01"]))
    kb, problems = run(entries)
    assert kb is not None
    find(problems, "'sop-01' disebut dua kali", path=f"entries/{SOP39}", where="related[2]",
         severity="warning")


def test_unconfirmed_must_name_real_fields(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(unconfirmed=["duration", "durasi", "keywords"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "kolom 'durasi' tidak ada (maksud Anda 'duration'?)",
         path=f"entries/{SOP39}", where="unconfirmed[2]")
    find(problems, "kolom 'keywords' bukan isi jawaban", path=f"entries/{SOP39}",
         where="unconfirmed[3]")


@pytest.mark.parametrize(("change", "where", "field"), [
    (lambda d: d.update(cost="Biaya perlu konfirmasi ke BKPSDM."), "cost", "cost"),
    (lambda d: d["requirements"][1].update(note="Perlu konfirmasi ke BKPSDM soal legalisir."),
     "requirements[2].note", "requirements"),
    (lambda d: d["steps"].append("Jadwal penyerahan SK perlu konfirmasi ke BKPSDM."),
     "steps[3]", "steps"),
])
def test_unconfirmed_text_not_listed_is_a_warning(entries: Path, change: Callable[..., Any],
                                                  where: str, field: str) -> None:
    edit(entries, SOP39, change)
    kb, problems = run(entries)
    assert kb is not None  # warnings do not fail the check
    find(problems, f"berisi \"perlu konfirmasi\" tetapi '{field}' tidak tercantum di unconfirmed",
         path=f"entries/{SOP39}", where=where, severity="warning")
    assert kb.warnings == tuple(problems)


def test_unconfirmed_text_listed_is_fine(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(duration="perlu konfirmasi ke BKPSDM"))  # listed
    kb, problems = run(entries)
    assert kb is not None and problems == []


def test_duplicate_questions_are_a_warning_naming_the_other_file(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d["questions"].append("Syarat cuti tahunan pejabat eselon II?"))
    kb, problems = run(entries)
    assert kb is not None
    find(problems, "sama dengan entries/sop-01-cuti-tahunan.yaml questions[2]",
         path=f"entries/{SOP39}", where="questions[6]", severity="warning")


def test_duplicate_questions_within_one_entry(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d["questions"].append("berkas  KP apa saja"))
    _, problems = run(entries)
    find(problems, "sama dengan questions[5]", path=f"entries/{SOP39}", where="questions[6]",
         severity="warning")


def test_application_only_on_its_service(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(application="cuti"))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "application 'cuti' hanya boleh pada entri layanan cuti (service: cuti); "
                   "entri ini service: kenaikan-pangkat", path=f"entries/{SOP39}",
         where="application")


def test_long_step_is_a_warning(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d["steps"].append("Pegawai " + "menunggu " * 40))
    kb, problems = run(entries)
    assert kb is not None
    find(problems, "terlalu panjang untuk dibaca di ponsel", path=f"entries/{SOP39}",
         where="steps[3]", severity="warning")


# ----------------------------------------------------------------------------- Telegram limits


def test_section_longer_than_a_telegram_message(entries: Path) -> None:
    item = {"item": "Fotokopi dokumen pendukung " + "x" * 200, "copies": 1, "legalized": True,
            "note": None}
    edit(entries, SOP39, lambda d: d.update(requirements=[item] * 20))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "pesan 'Syarat' terlalu panjang untuk Telegram", path=f"entries/{SOP39}",
         where="requirements")


def test_card_longer_than_a_telegram_message(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.update(eligibility="PNS golongan III. " * 250))
    kb, problems = run(entries)
    assert kb is None
    find(problems, "pesan 'kartu jawaban' terlalu panjang untuk Telegram", path=f"entries/{SOP39}",
         where="summary")


def test_length_counts_visible_text_not_html_entities(entries: Path) -> None:
    # 3,000 visible characters become 15,000 in HTML ("&amp;"), but Telegram counts 3,000.
    edit(entries, SOP39, lambda d: d.update(eligibility="&" * 3000))
    kb, problems = run(entries)
    assert kb is not None, "\n".join(map(str, problems))


def test_callback_data_fits_64_bytes(entries: Path) -> None:
    long_id = "cuti-" + "-".join(["panjang"] * 7)  # 60 characters
    name = f"{long_id}.yaml"
    shutil.copy(entries / CUTI_BESAR, entries / name)
    edit(entries, name, lambda d: d.update(id=long_id, questions=[
        "pertanyaan satu", "pertanyaan dua", "pertanyaan tiga", "pertanyaan empat",
        "pertanyaan lima"]))
    kb, problems = run(entries)
    assert kb is None
    find(problems, f"data tombol 'kb:s:{long_id}:syarat'", path=f"entries/{name}", where="id")


# ----------------------------------------------------------------------------- catalog


def test_broken_catalog_is_reported(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.read_text(encoding="utf-8").replace("sop: [39]", "sop: [39, 99]"),
                       encoding="utf-8")
    kb, problems = check(VALID, catalog)
    assert kb is None
    find(problems, "SOP 99 tidak ada di daftar sop", path="catalog.yaml",
         where="services.kenaikan-pangkat.sop")
    with pytest.raises(KBError) as info:
        load_catalog(catalog)
    assert "services.kenaikan-pangkat.sop" in str(info.value)


def test_load_kb_raises_listing_every_error(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.pop("cost"))
    edit(entries, SOP04, lambda d: d.update(related=["sop-04"]))
    edit(entries, SOP01, lambda d: d.update(cost="perlu konfirmasi ke BKPSDM"))  # warning only
    with pytest.raises(KBError) as info:
        load_kb(entries, CATALOG)
    assert [p.path for p in info.value.problems] == [f"entries/{SOP04}", f"entries/{SOP39}"]
    text = str(info.value)
    assert "2 kesalahan" in text
    assert "entries/sop-39-kp.yaml: cost: wajib diisi" in text
    assert "entries/sop-04-izin-cerai.yaml: related[1]:" in text
    assert "peringatan" not in text


def test_check_with_the_real_catalog_names_missing_sops(entries: Path) -> None:
    kb, problems = check(entries, kbmod.CATALOG_PATH)
    assert kb is None
    find(problems, "SOP 62 'Penerbitan Surat Izin Belajar' belum dicakup", path="entries")


# ----------------------------------------------------------------------------- the real content


def test_real_knowledge_base_passes_check() -> None:
    """Acceptance test of knowledge/entries/: passes once the content is complete and valid."""
    kb, problems = check()
    errs = errors(problems)
    assert not errs, f"{len(errs)} kesalahan:\n" + "\n".join(map(str, errs))
    assert kb is not None
    assert len(kb.entries) >= 62 + 17


# ----------------------------------------------------------------------------- KnowledgeStore


def test_store_keeps_the_old_kb_on_a_broken_edit_and_swaps_after_the_fix(entries: Path) -> None:
    store = KnowledgeStore(entries, CATALOG)
    first = store.current
    assert first.get("sop-39").cost == "Tidak dipungut biaya."

    edit(entries, SOP39, lambda d: d.update(cost=None))
    problems = store.reload()
    assert store.current is first
    find(problems, "harus berupa teks", path=f"entries/{SOP39}", where="cost")

    edit(entries, SOP39, lambda d: d.update(cost="Gratis, tidak dipungut biaya."))
    assert store.reload() == []
    assert store.current is not first
    assert store.current.get("sop-39").cost == "Gratis, tidak dipungut biaya."
    assert first.get("sop-39").cost == "Tidak dipungut biaya."  # old snapshot untouched


def test_store_reload_returns_warnings_after_a_swap(entries: Path) -> None:
    store = KnowledgeStore(entries, CATALOG)
    edit(entries, SOP39, lambda d: d.update(cost="perlu konfirmasi ke BKPSDM"))
    problems = store.reload()
    assert [p.severity for p in problems] == ["warning"]
    assert store.current.get("sop-39").cost == "perlu konfirmasi ke BKPSDM"


def test_store_on_load_runs_before_the_swap(entries: Path) -> None:
    calls: list[tuple[KnowledgeBase, KnowledgeBase | None]] = []
    store: KnowledgeStore | None = None

    def on_load(kb: KnowledgeBase) -> str:
        calls.append((kb, store.current if store is not None else None))
        return f"indeks-{len(calls)}"

    store = KnowledgeStore(entries, CATALOG, on_load=on_load)
    assert store.index == "indeks-1"
    assert calls[0][0] is store.current
    old = store.current

    edit(entries, SOP39, lambda d: d.update(duration="Setiap tanggal 1."))
    assert store.reload() == []
    new_kb, current_during_call = calls[1]
    assert current_during_call is old  # the bot still served the old KB while indexing
    assert store.current is new_kb
    assert store.snapshot() == (new_kb, "indeks-2")


def test_store_on_load_failure_keeps_the_old_kb(entries: Path) -> None:
    fail = False

    def on_load(kb: KnowledgeBase) -> str:
        if fail:
            raise RuntimeError("indeks rusak")
        return "indeks-lama"

    store = KnowledgeStore(entries, CATALOG, on_load=on_load)
    old = store.current
    edit(entries, SOP39, lambda d: d.update(duration="Setiap tanggal 1."))
    fail = True
    problems = store.reload()
    assert store.current is old
    assert store.index == "indeks-lama"
    p = find(problems, "RuntimeError: indeks rusak", path="entries")
    assert "tidak dipakai" in p.message

    fail = False
    assert store.reload() == []
    assert store.current.get("sop-39").duration == "Setiap tanggal 1."


def test_store_refuses_to_start_with_a_broken_kb(entries: Path) -> None:
    edit(entries, SOP39, lambda d: d.pop("cost"))
    with pytest.raises(KBError):
        KnowledgeStore(entries, CATALOG)
