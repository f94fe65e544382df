"""Personnel import (services.importer) against a real database: a temp SQLite file, or the
PostgreSQL database named by TEST_DATABASE_URL."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import JSON, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.importer import ImportFileError, ImportReport, format_report, import_pegawai
from services.models import AuditLog, Base, Employee, Unit
from services.security import check_verification
from tests.factories import sample_rows, synthetic_export, write_csv

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "contoh-import-pegawai.csv"
BAD = DATA / "contoh-import-pegawai-salah.csv"
DEMO = Path(__file__).resolve().parent.parent / "services" / "data" / "demo" / "pegawai.csv"
KEY = b"test-import-key"
BKPSDM = "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia"


# ---- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def factory(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """A freshly migrated, empty database for each test (tests/conftest.py)."""
    return sessions


async def run(factory: async_sessionmaker[AsyncSession], path: Path, **kw: object) -> ImportReport:
    return await import_pegawai(factory, path, verification_key=KEY, **kw)  # type: ignore[arg-type]


async def employees(factory: async_sessionmaker[AsyncSession]) -> dict[str, Employee]:
    async with factory() as s:
        return {e.nip or e.nomor_non_pns: e for e in (await s.scalars(select(Employee))).all()}


def errors_by_line(report: ImportReport) -> dict[int, str]:
    return {e.line: " | ".join(e.messages) for e in report.errors}


# ---- the sample ---------------------------------------------------------------------------------


def test_demo_copy_matches_sample() -> None:
    assert DEMO.read_bytes() == SAMPLE.read_bytes()


async def test_sample_imports_cleanly(factory: async_sessionmaker[AsyncSession]) -> None:
    report = await run(factory, SAMPLE)
    assert report.applied and not report.errors, format_report(report)
    assert (report.rows, report.added, report.updated, report.unchanged, report.skipped) == (12, 12, 0, 0, 0)
    assert report.units_created == 9

    emps = await employees(factory)
    assert len(emps) == 12
    assert sum(1 for e in emps.values() if e.nip) == 11
    joko = emps["TKK-2019-000123"]
    assert joko.nip is None and joko.status == "NON-PNS"

    by_id = {e.id: e for e in emps.values()}
    ahmad = emps["199001092014121001"]
    assert by_id[ahmad.superior_id].name == "Rina Marlina"
    assert by_id[joko.superior_id].name == "Rina Marlina"
    assert emps["197010051991101001"].superior_id is None
    assert by_id[emps["199204022024032001"].superior_id].name == "Yusuf Hidayat"

    hendra = emps["197010051991101001"]
    assert (hendra.gelar_depan, hendra.gelar_belakang, hendra.golongan, hendra.eselon) == ("Drs.", "M.Si", "IV/c", "II.a")
    assert hendra.birth_date == date(1970, 10, 5) and hendra.tmt_kgb == date(2025, 10, 1)
    assert hendra.phone == "6281210000001" and hendra.education == "S2"
    yusuf = emps["197609252000011001"]
    assert (yusuf.jenis_jabatan, yusuf.eselon) == ("struktural", None)
    fitri = emps["199312192023212001"]
    assert (fitri.status, fitri.golongan, fitri.tmt_cpns) == ("PPPK", "IX", date(2023, 8, 1))
    assert ahmad.education == "SMA" and ahmad.eselon is None

    # The unit tree: OPDs at the root, sub-units under them, employees on the right node.
    async with factory() as s:
        units = {u.id: u for u in (await s.scalars(select(Unit))).all()}
    roots = {u.name: u for u in units.values() if u.parent_id is None}
    assert set(roots) == {BKPSDM, "Dinas Pendidikan", "Dinas Kesehatan"}
    assert all(u.kind == "opd" for u in roots.values())
    children = {(units[u.parent_id].name, u.name) for u in units.values() if u.parent_id is not None}
    assert children == {
        (BKPSDM, "Sekretariat"),
        (BKPSDM, "Sub Bagian Tata Usaha"),
        (BKPSDM, "Bidang Penilaian Kinerja Aparatur"),
        (BKPSDM, "Bidang Administrasi dan Pengembangan Karir Aparatur"),
        ("Dinas Pendidikan", "SD Negeri Bekasi Jaya I"),
        ("Dinas Kesehatan", "UPTD Puskesmas Bekasi Jaya"),
    }
    assert units[hendra.unit_id].name == BKPSDM  # unit_kerja == unit_induk: the OPD itself
    assert units[ahmad.unit_id].name == "Sub Bagian Tata Usaha"
    assert units[ahmad.unit_id].code == "badan-kepegawaian-dan-pengembangan-sumber-daya-manusia/sub-bagian-tata-usaha"
    assert all(len(u.code) <= 120 for u in units.values())
    assert len({u.code for u in units.values()}) == len(units)


async def test_nik_is_never_stored_only_its_hash(factory: async_sessionmaker[AsyncSession]) -> None:
    await run(factory, SAMPLE)
    _, rows = sample_rows()
    niks = [r["nik"] for r in rows]
    async with factory() as s:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not cols:
                continue
            for record in (await s.execute(select(*cols))).all():
                blob = " ".join(str(v) for v in record if v is not None)
                for nik in niks:
                    assert nik not in blob and nik[-10:] not in blob, f"NIK digits found in {table.name}"
    emps = await employees(factory)
    for r in rows:
        ident = r["nip"] or r["nomor_non_pns"]
        stored = emps[ident].verification_hash
        assert check_verification(KEY, ident, r["nik"][-6:], stored)
        assert not check_verification(KEY, ident, "000000", stored)


async def test_reimport_is_idempotent(factory: async_sessionmaker[AsyncSession]) -> None:
    await run(factory, SAMPLE)
    before = {k: (e.updated_at, e.superior_id) for k, e in (await employees(factory)).items()}
    report = await run(factory, SAMPLE)
    assert (report.added, report.updated, report.unchanged, report.units_created) == (0, 0, 12, 0)
    after = {k: (e.updated_at, e.superior_id) for k, e in (await employees(factory)).items()}
    assert after == before
    async with factory() as s:
        audits = (await s.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    assert [a.action for a in audits] == ["import_pegawai", "import_pegawai"]
    assert audits[0].actor == "cli"
    assert audits[0].detail["added"] == 12 and audits[1].detail["unchanged"] == 12
    assert audits[0].detail["file"] == SAMPLE.name
    # Counts and the file name only: no names, NIPs or phone numbers.
    assert "Hendra" not in str(audits[0].detail) and "1970" not in str(audits[0].detail)


async def test_changed_row_is_updated(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    await run(factory, SAMPLE)
    before = await employees(factory)
    header, rows = sample_rows()
    rows[3]["jabatan"] = "Pengadministrasi Perkantoran"
    rows[3]["nip_atasan"] = "197503141999032001"  # Ahmad now reports to Sri Wahyuni
    report = await run(factory, write_csv(tmp_path / "ubah.csv", header, rows))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 11), format_report(report)
    after = await employees(factory)
    ahmad = after["199001092014121001"]
    assert ahmad.jabatan == "Pengadministrasi Perkantoran"
    assert ahmad.superior_id == after["197503141999032001"].id
    assert ahmad.updated_at > before["199001092014121001"].updated_at
    for k, e in after.items():
        if k != "199001092014121001":
            assert e.updated_at == before[k].updated_at


# ---- bad rows -------------------------------------------------------------------------------------


async def test_bad_rows_import_nothing(factory: async_sessionmaker[AsyncSession]) -> None:
    report = await run(factory, BAD)
    assert not report.applied
    assert (report.rows, report.added, report.updated, report.skipped) == (15, 0, 0, 15)
    errs = errors_by_line(report)
    assert set(errs) == {2, 5, 7, 8, 10, 11, 14, 15, 16}
    assert "Tanggal lahir 1990-01-10 tidak sama dengan tanggal lahir pada NIP (1990-01-09)" in errs[5]
    assert "golongan PPPK" in errs[7]
    assert "bukan nomor HP" in errs[8]
    assert "Atasan dengan NIP 196501011990031001 tidak ditemukan" in errs[10]
    assert "Digit 15" in errs[11] and "jenis kelamin" in errs[11]
    assert "muncul lebih dari sekali" in errs[2] and "baris 14" in errs[2]
    assert "muncul lebih dari sekali" in errs[14] and "baris 2" in errs[14]
    assert "Rantai atasan berputar" in errs[15] and "Rantai atasan berputar" in errs[16]
    keys = {e.line: e.key for e in report.errors}
    assert keys[5] == "199001092014121001" and keys[11] == "198002282008043001"

    assert await employees(factory) == {}
    async with factory() as s:
        assert (await s.scalar(select(func.count()).select_from(Unit))) == 0
        assert (await s.scalar(select(func.count()).select_from(AuditLog))) == 0

    out = format_report(report)
    assert "Baris 5 (199001092014121001): Tanggal lahir 1990-01-10" in out
    assert "15 baris: 0 ditambah, 0 diubah, 0 tidak berubah, 15 dilewati" in out
    assert out.rstrip().endswith(
        "Tidak ada yang diimpor: perbaiki baris di atas, atau jalankan dengan --partial untuk mengimpor "
        "baris yang benar saja."
    )


@pytest.mark.parametrize(
    ("row", "column", "value", "expected"),
    [
        (0, "tanggal_lahir", "1970-10-06", "tidak sama dengan tanggal lahir pada NIP"),
        (0, "jenis_kelamin", "P", "Jenis kelamin P tidak sama dengan NIP"),
        (0, "jenis_kelamin", "X", "Jenis kelamin 'X' tidak dikenal"),
        (0, "tmt_cpns", "1992-10-01", "TMT CPNS 1992-10-01 tidak sama"),
        (0, "status_kepegawaian", "PPPK", "bukan NI PPPK"),
        (0, "status_kepegawaian", "Honorer Daerah", "Status kepegawaian 'Honorer Daerah' tidak dikenal"),
        (0, "nama", "", "Nama wajib diisi"),
        (0, "unit_kerja", "", "Unit kerja wajib diisi"),
        (0, "unit_induk", "", "Unit induk (Perangkat Daerah) wajib diisi"),
        (0, "tanggal_lahir", "05/10/1970", "harus berformat TTTT-BB-HH"),
        (0, "tanggal_lahir", "1970-02-30", "bukan tanggal yang valid"),
        (0, "tmt_kgb", "2099-10-01", "TMT KGB 2099-10-01 berada di masa depan"),
        (0, "tmt_pangkat", "1990-04-01", "TMT pangkat 1990-04-01 lebih awal dari TMT CPNS"),
        (0, "golongan", "V/a", "Golongan 'V/a' tidak dikenal"),
        (0, "eselon", "VI.z", "Eselon 'VI.z' tidak dikenal"),
        (3, "eselon", "IV.a", "Eselon IV.a hanya untuk jabatan struktural"),
        (0, "jenis_jabatan", "manajerial", "Jenis jabatan 'manajerial' tidak dikenal"),
        (0, "pendidikan_terakhir", "S4", "Pendidikan terakhir 'S4' tidak dikenal"),
        (0, "telepon", "+1 202 555 0100", "luar negeri"),
        (0, "telepon", "081210000002", "juga dipakai di baris 3"),
        (0, "nik", "32750105107000", "NIK harus 16 digit"),
        (0, "nip", "19701005199110100", "18 digit"),
        (0, "nip_atasan", "197010051991101001", "NIP atasan sama dengan NIP pegawai itu sendiri"),
        (10, "golongan", "III/a", "golongan ruang PNS; PPPK memakai golongan I sampai XVII"),
        (11, "golongan", "I/a", "Non-PNS tidak memiliki golongan"),
        (11, "nip", "198905072015011001", "Non-PNS tidak memiliki NIP"),
        (11, "nomor_non_pns", "", "Nomor Non-PNS wajib diisi"),
        (11, "nomor_non_pns", "198207212006012001", "berformat NIP/NI PPPK"),
        (1, "nomor_non_pns", "TKK-2019-000123", "Nomor Non-PNS TKK-2019-000123 muncul lebih dari sekali"),
    ],
)
async def test_each_problem_is_reported_with_line_and_reason(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path, row: int, column: str, value: str, expected: str
) -> None:
    header, rows = sample_rows()
    rows[row][column] = value
    report = await run(factory, write_csv(tmp_path / "x.csv", header, rows))
    assert not report.applied and report.added == 0
    errs = errors_by_line(report)
    assert row + 2 in errs, format_report(report)
    assert expected in errs[row + 2], errs
    assert "3275" not in format_report(report)  # the NIK never appears in a message
    assert await employees(factory) == {}


async def test_partial_imports_the_good_rows(factory: async_sessionmaker[AsyncSession]) -> None:
    report = await run(factory, BAD, partial=True)
    assert report.applied
    assert (report.rows, report.added, report.skipped, len(report.errors)) == (15, 6, 9, 9)
    emps = await employees(factory)
    assert {e.name for e in emps.values()} == {
        "Sri Wahyuni", "Rina Marlina", "Dewi Lestari", "Yusuf Hidayat", "Fitri Handayani", "Joko Prasetyo",
    }
    # Sri and Dewi report to Hendra, whose row is bad: imported without a superior, with a warning.
    assert emps["197503141999032001"].superior_id is None
    assert emps["198811302011022001"].superior_id is None
    warned = {w.line: " ".join(w.messages) for w in report.warnings}
    assert "atasan pegawai ini dikosongkan" in warned[3] and "atasan pegawai ini dikosongkan" in warned[6]
    assert emps["198207212006012001"].superior_id == emps["197503141999032001"].id
    assert emps["TKK-2019-000123"].superior_id == emps["198207212006012001"].id
    out = format_report(report)
    assert "15 baris: 6 ditambah, 0 diubah, 0 tidak berubah, 9 dilewati" in out
    assert "Tidak ada yang diimpor" not in out

    # The fixed file then completes the import and links the superiors.
    report = await run(factory, SAMPLE)
    assert (report.added, report.updated, report.unchanged) == (6, 2, 4), format_report(report)
    emps = await employees(factory)
    assert emps["197503141999032001"].superior_id == emps["197010051991101001"].id


async def test_superior_may_already_be_in_the_database(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    header, rows = sample_rows()
    await run(factory, write_csv(tmp_path / "a.csv", header, rows[:3]))
    report = await run(factory, write_csv(tmp_path / "b.csv", header, rows[3:]))
    assert report.applied and report.added == 9, format_report(report)
    emps = await employees(factory)
    assert emps["199001092014121001"].superior_id == emps["198207212006012001"].id


async def test_cycle_through_the_database_is_rejected(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    await run(factory, SAMPLE)
    header, rows = sample_rows()
    # Hendra (top) would report to Ahmad, who is below him in the database: a loop.
    rows[0]["nip_atasan"] = "199001092014121001"
    report = await run(factory, write_csv(tmp_path / "c.csv", header, rows[:1]))
    assert not report.applied
    assert "Rantai atasan berputar" in errors_by_line(report)[2]


async def test_missing_nik_is_a_warning(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    header, rows = sample_rows()
    rows[2]["nik"] = ""
    report = await run(factory, write_csv(tmp_path / "n.csv", header, rows))
    assert report.applied and report.added == 12
    assert [w.line for w in report.warnings] == [4]
    assert "NIK kosong" in report.warnings[0].messages[0]
    assert (await employees(factory))["198207212006012001"].verification_hash is None


# ---- file formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["reordered_upper", "semicolon_bom", "spaces_dashes", "sep_line"])
async def test_header_and_delimiter_variants(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path, variant: str
) -> None:
    header, rows = sample_rows()
    path = tmp_path / f"{variant}.csv"
    if variant == "reordered_upper":
        order = list(reversed(header))
        write_csv(path, order, rows, header_names=[h.upper() for h in order])
    elif variant == "semicolon_bom":
        write_csv(path, header, rows, delimiter=";", bom=True)
    elif variant == "spaces_dashes":
        names = [f"  {h.replace('_', ' ').title()} " if i % 2 else h.replace("_", "-") for i, h in enumerate(header)]
        write_csv(path, header, rows, header_names=names)
    else:
        write_csv(path, header, rows, delimiter=";")
        path.write_text("sep=;\r\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    report = await run(factory, path)
    assert report.applied and report.added == 12 and not report.errors, format_report(report)
    # Same content as the canonical sample: re-importing it changes nothing.
    again = await run(factory, SAMPLE)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 12), format_report(again)


async def test_xlsx_with_the_same_columns(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    header, rows = sample_rows()
    wb = openpyxl.Workbook()
    ws = wb.active
    order = header[1:] + header[:1]  # any column order
    ws.append([h.replace("_", " ").title() for h in order])
    date_cols = {"tanggal_lahir", "tmt_cpns", "tmt_pangkat", "tmt_kgb"}
    for r in rows:
        values: list[object] = []
        for c in order:
            v = r[c]
            if c in date_cols and v:
                values.append(date.fromisoformat(v))  # a real date cell
            elif c == "telepon":
                values.append(int(v))  # typed as a number: the leading 0 is lost
            else:
                values.append(v or None)  # NIP and NIK as text
        ws.append(values)
    ws.append([None] * len(order))  # a trailing blank row is ignored
    path = tmp_path / "pegawai.xlsx"
    wb.save(path)

    report = await run(factory, path)
    assert report.applied and report.added == 12 and not report.errors, format_report(report)
    again = await run(factory, SAMPLE)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 12), format_report(again)


async def test_xlsx_nip_as_float_is_an_error(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    header, rows = sample_rows()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for i, r in enumerate(rows):
        values: list[object] = [r[c] or None for c in header]
        if i == 0:
            values[header.index("nip")] = float(r["nip"])  # what Excel does to an 18-digit number
        ws.append(values)
    path = tmp_path / "float.xlsx"
    wb.save(path)
    report = await run(factory, path)
    errs = errors_by_line(report)
    # Only the rounded cell is an error; rows naming it as superior are not blamed for it.
    assert set(errs) == {2}, errs
    assert "angka desimal" in errs[2] and "Teks" in errs[2]
    report = await run(factory, path, partial=True)
    assert report.added == 11
    warned = {w.line: " ".join(w.messages) for w in report.warnings}
    assert "dikosongkan" in warned[3]  # Sri's superior (row 2) was skipped


async def test_missing_required_column_names_it(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    header, rows = sample_rows()
    cut = [h for h in header if h not in ("tanggal_lahir", "unit_induk")]
    with pytest.raises(ImportFileError) as exc:
        await run(factory, write_csv(tmp_path / "m.csv", cut, rows))
    assert "tanggal_lahir" in str(exc.value) and "unit_induk" in str(exc.value)
    assert await employees(factory) == {}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("pegawai.pdf", b"%PDF", "tidak dikenali"),
        ("pegawai.xls", b"\xd0\xcf\x11\xe0", ".xls"),
        ("rusak.xlsx", b"bukan zip", "tidak dapat dibaca"),
        ("kosong.csv", b"", "kosong"),
        ("header.csv", ",".join(
            ["nip", "nama", "jenis_kelamin", "tanggal_lahir", "status_kepegawaian", "unit_kerja", "unit_induk"]
        ).encode() + b"\n", "tidak berisi data"),
    ],
)
async def test_unreadable_files(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=expected):
        await run(factory, path)


async def test_unquoted_comma_shifts_columns(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"S.E., M.M."', "S.E., M.M.")
    path = tmp_path / "koma.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await run(factory, path)
    assert "tanda kutip" in errors_by_line(report)[3]


# ---- existing data --------------------------------------------------------------------------------


async def test_existing_units_are_matched_by_name(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as s, s.begin():
        opd = Unit(code="bkpsdm", name="  BADAN Kepegawaian dan Pengembangan  Sumber Daya Manusia", kind="opd")
        s.add(opd)
        await s.flush()
        bidang = Unit(code="bkpsdm/bidang-pka", name="bidang penilaian kinerja aparatur", kind="bidang", parent_id=opd.id)
        s.add(bidang)
        await s.flush()
        opd_id, bidang_id = opd.id, bidang.id
    report = await run(factory, SAMPLE)
    assert report.applied and report.units_created == 7  # 2 OPDs + 5 sub-units are new
    emps = await employees(factory)
    assert emps["197010051991101001"].unit_id == opd_id
    assert emps["198506172019031001"].unit_id == bidang_id
    async with factory() as s:
        tu = (await s.scalars(select(Unit).where(Unit.name == "Sub Bagian Tata Usaha"))).one()
    assert tu.parent_id == opd_id and tu.code == "bkpsdm/sub-bagian-tata-usaha"


async def test_non_pns_who_became_pppk_keeps_the_record(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    await run(factory, SAMPLE)
    joko_id = (await employees(factory))["TKK-2019-000123"].id
    header, rows = sample_rows()
    joko = rows[11]
    joko.update(nip="198905072024211001", status_kepegawaian="PPPK", golongan="V", tmt_cpns="2024-03-01")
    report = await run(factory, write_csv(tmp_path / "pppk.csv", header, rows))
    assert (report.added, report.updated) == (0, 1), format_report(report)
    emp = (await employees(factory))["198905072024211001"]
    assert emp.id == joko_id and emp.status == "PPPK" and emp.nomor_non_pns == "TKK-2019-000123"
    assert check_verification(KEY, "198905072024211001", joko["nik"][-6:], emp.verification_hash)


# ---- scale ----------------------------------------------------------------------------------------


async def test_thousands_of_rows_import_and_reimport(factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    # Exercises the bulk paths; the speed for 15,000 rows is measured by benchmarks/import_15000.py.
    path = synthetic_export(tmp_path / "besar.csv", 3_000)
    report = await run(factory, path)
    assert report.applied and report.added == 3_000, format_report(report, limit=5)
    report = await run(factory, path)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3_000)
    async with factory() as s:
        linked = await s.scalar(select(func.count()).select_from(Employee).where(Employee.superior_id.is_not(None)))
    assert linked == 2_999
