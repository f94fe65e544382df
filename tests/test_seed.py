"""services.seed on a real database: determinism, valid NIPs, a sane chain of superiors, the
real Kota Bekasi units, idempotence, and NIK digits that verify against the stored hash."""
from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.db import make_engine, make_sessionmaker, migrate
from services.models import Employee, Unit
from services.nip import NipKind, check_nip_consistency, parse_nip, validate_nomor_non_pns
from services.pangkat import PNS_GOLONGAN, PPPK_GOLONGAN
from services.security import check_verification, nik_tail
from services.seed import SeedReport, demo_nik, demo_phone, generate_demo, load_unit_tree, seed_demo

TODAY = date(2026, 11, 27)  # fixed, since rows depend on (employees, seed, today)
KEY = b"seed-test-key"
N = 2000
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()

OPD = [
    "Sekretariat Daerah", "Sekretariat DPRD", "Inspektorat",
    "Badan Perencanaan Pembangunan, Penelitian dan Pengembangan Daerah",
    "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia", "Badan Pengelolaan Keuangan dan Aset Daerah",
    "Badan Pendapatan Daerah", "Badan Penanggulangan Bencana Daerah", "Badan Kesatuan Bangsa dan Politik",
    "Dinas Pendidikan", "Dinas Kesehatan", "RSUD dr. Chasbullah Abdulmadjid",
    "Dinas Bina Marga dan Sumber Daya Air", "Dinas Perumahan, Kawasan Permukiman dan Pertanahan",
    "Dinas Tata Ruang", "Dinas Sosial", "Dinas Tenaga Kerja", "Dinas Kependudukan dan Pencatatan Sipil",
    "Dinas Perhubungan", "Dinas Lingkungan Hidup", "Dinas Komunikasi, Informatika, Statistik dan Persandian",
    "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", "Dinas Koperasi dan Usaha Kecil dan Menengah",
    "Dinas Pariwisata dan Kebudayaan", "Dinas Pemuda dan Olahraga", "Dinas Perdagangan dan Perindustrian",
    "Dinas Ketahanan Pangan, Pertanian dan Perikanan", "Dinas Pemberdayaan Perempuan dan Perlindungan Anak",
    "Dinas Pengendalian Penduduk dan Keluarga Berencana", "Dinas Arsip dan Perpustakaan",
    "Satuan Polisi Pamong Praja", "Dinas Pemadam Kebakaran",
]
KELURAHAN = {
    "Bantargebang": ["Bantargebang", "Cikiwul", "Ciketingudik", "Sumurbatu"],
    "Bekasi Barat": ["Bintara", "Bintara Jaya", "Jakasampurna", "Kota Baru", "Kranji"],
    "Bekasi Selatan": ["Jakamulya", "Jakasetia", "Kayuringin Jaya", "Margajaya", "Pekayon Jaya"],
    "Bekasi Timur": ["Aren Jaya", "Bekasi Jaya", "Duren Jaya", "Margahayu"],
    "Bekasi Utara": ["Harapan Baru", "Harapan Jaya", "Kaliabang Tengah", "Marga Mulya", "Perwira", "Teluk Pucung"],
    "Jatiasih": ["Jatiasih", "Jatikramat", "Jatiluhur", "Jatimekar", "Jatirasa", "Jatisari"],
    "Jatisampurna": ["Jatikarya", "Jatiranggon", "Jatiraden", "Jatirangga", "Jatisampurna"],
    "Medan Satria": ["Harapan Mulya", "Kalibaru", "Medan Satria", "Pejuang"],
    "Mustikajaya": ["Cimuning", "Mustikajaya", "Mustikasari", "Padurenan"],
    "Pondokgede": ["Jatibening", "Jatibening Baru", "Jaticempaka", "Jatimakmur", "Jatiwaringin"],
    "Pondokmelati": ["Jatimelati", "Jatimurni", "Jatirahayu", "Jatiwarna"],
    "Rawalumbu": ["Bojong Menteng", "Bojong Rawalumbu", "Pengasinan", "Sepanjang Jaya"],
}
ESELON_RANK = {"II.a": 1, "II.b": 2, "III.a": 3, "III.b": 4, "IV.a": 5, "IV.b": 6}

MakeDb = Callable[[], Awaitable[async_sessionmaker[AsyncSession]]]


@pytest.fixture
async def make_db(tmp_path: Path) -> AsyncIterator[MakeDb]:
    """Factory of fresh, migrated databases: a new SQLite file each call, or (with
    TEST_DATABASE_URL) the PostgreSQL schema dropped and rebuilt, which ends the previous one."""
    engines: list[AsyncEngine] = []

    async def factory() -> async_sessionmaker[AsyncSession]:
        if PG_URL:
            for old in engines:
                await old.dispose()
            engine = make_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        else:
            engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/seed{len(engines)}.db")
        await migrate(engine)
        engines.append(engine)
        return make_sessionmaker(engine)

    yield factory
    for engine in engines:
        await engine.dispose()


async def seeded(make_db: MakeDb, employees: int = N, seed: int = 7) -> tuple[async_sessionmaker[AsyncSession], SeedReport]:
    sessions = await make_db()
    report = await seed_demo(sessions, employees=employees, seed=seed, verification_key=KEY, today=TODAY)
    return sessions, report


async def all_employees(sessions: async_sessionmaker[AsyncSession]) -> list[Employee]:
    async with sessions() as s:
        return list((await s.execute(select(Employee).order_by(Employee.id))).scalars())


async def all_units(sessions: async_sessionmaker[AsyncSession]) -> dict[int, Unit]:
    async with sessions() as s:
        return {u.id: u for u in (await s.execute(select(Unit))).scalars()}


async def fingerprint(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[object, ...]]:
    sup = aliased(Employee)
    async with sessions() as s:
        rows = await s.execute(
            select(Employee.nip, Employee.nomor_non_pns, Employee.name, Employee.phone, sup.nip,
                   sup.nomor_non_pns, Employee.verification_hash, Unit.code, Employee.birth_date, Employee.golongan)
            .join(Unit, Employee.unit_id == Unit.id)
            .outerjoin(sup, Employee.superior_id == sup.id)
            .order_by(Employee.phone)
        )
        return [tuple(r) for r in rows]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


# --------------------------------------------------------------------------------------------

async def test_same_arguments_give_identical_rows_and_another_seed_differs(make_db: MakeDb) -> None:
    first, report_a = await seeded(make_db, 1200, seed=7)
    a = await fingerprint(first)
    second, report_b = await seeded(make_db, 1200, seed=7)
    b = await fingerprint(second)
    assert len(a) == 1200
    assert a == b
    assert report_a.by_status == report_b.by_status
    third, _ = await seeded(make_db, 1200, seed=8)
    c = await fingerprint(third)
    assert len(c) == 1200
    assert [r[:3] for r in a] != [r[:3] for r in c]
    # Phones depend on the position only, so the two seeds share them.
    assert [r[3] for r in a] == [r[3] for r in c]


async def test_every_nip_parses_and_agrees_with_its_row(make_db: MakeDb) -> None:
    sessions, _ = await seeded(make_db)
    people = await all_employees(sessions)
    serials: dict[str, list[int]] = defaultdict(list)
    for e in people:
        if e.status == "NON-PNS":
            assert e.nip is None and e.golongan is None and e.tmt_cpns is None
            assert re.fullmatch(r"TKK-\d{4}-\d{6}", e.nomor_non_pns or "")
            assert validate_nomor_non_pns(e.nomor_non_pns) == e.nomor_non_pns
            continue
        assert e.nip and e.nomor_non_pns is None
        info = parse_nip(e.nip, today=TODAY)
        assert info.kind is (NipKind.PPPK if e.status == "PPPK" else NipKind.PNS), e.nip
        assert info.warnings == ()
        assert check_nip_consistency(info, birth_date=e.birth_date, sex=e.sex, tmt_cpns=e.tmt_cpns) == [], e.nip
        serials[e.nip[:15]].append(int(e.nip[15:]))
    # The serial counts up only among NIPs that share their first 15 digits.
    for prefix, numbers in serials.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), prefix


async def test_superiors_form_a_tree_within_each_opd(make_db: MakeDb) -> None:
    sessions, _ = await seeded(make_db)
    people = {e.id: e for e in await all_employees(sessions)}
    units = await all_units(sessions)

    def ancestors(unit_id: int) -> list[int]:
        chain = [unit_id]
        while units[chain[-1]].parent_id is not None:
            chain.append(units[chain[-1]].parent_id)  # type: ignore[arg-type]
        return chain

    for e in people.values():
        seen = {e.id}
        current = e
        while current.superior_id is not None:
            boss = people[current.superior_id]
            assert boss.id not in seen, f"cycle through {boss.id}"
            seen.add(boss.id)
            # The superior sits in the same unit or an ancestor unit, and outranks by eselon.
            assert boss.unit_id in ancestors(current.unit_id), (current.jabatan, boss.jabatan)
            if current.eselon:
                assert boss.eselon and ESELON_RANK[boss.eselon] < ESELON_RANK[current.eselon]
            current = boss

    top = {uid for uid, u in units.items() if u.parent_id is None}
    without_superior = [e for e in people.values() if e.superior_id is None]
    assert sorted(e.unit_id for e in without_superior) == sorted(top)  # one per OPD, in the OPD itself
    for head in without_superior:
        unit = units[head.unit_id]
        assert head.jenis_jabatan == "struktural"
        assert head.eselon == ("III.a" if unit.kind == "kecamatan" else ("II.a" if unit.code == "setda" else "II.b"))
    for e in people.values():
        assert (e.eselon is not None) == (e.jenis_jabatan == "struktural"), e.jabatan
    # Staff report to their own unit's head: a teacher to the kepala sekolah, nakes to the kepala puskesmas.
    bekasi_jaya_1 = next(u for u in units.values() if u.name == "SD Negeri Bekasi Jaya I")
    school = [e for e in people.values() if e.unit_id == bekasi_jaya_1.id]
    heads = [e for e in school if e.jabatan == "Kepala SD Negeri Bekasi Jaya I"]
    assert len(heads) == 1
    assert all(e.superior_id == heads[0].id for e in school if e is not heads[0])
    kelurahan = next(u for u in units.values() if u.name == "Kelurahan Cikiwul")
    lurah = next(e for e in people.values() if e.unit_id == kelurahan.id and e.jabatan == "Lurah Cikiwul")
    assert people[lurah.superior_id].jabatan == "Camat Bantargebang"  # type: ignore[index]


async def test_status_shares_and_careers_are_plausible(make_db: MakeDb) -> None:
    sessions, report = await seeded(make_db)
    people = await all_employees(sessions)
    counts = Counter(e.status for e in people)
    assert report.by_status == dict(counts) and report.employees == N == len(people)
    assert abs((counts["PNS"] + counts["CPNS"]) / N - 0.75) < 0.02
    assert abs(counts["PPPK"] / N - 0.15) < 0.02
    assert abs(counts["NON-PNS"] / N - 0.10) < 0.02
    start = {"SMA": "II/a", "D3": "II/c", "S1": "III/a", "S2": "III/b", "S3": "III/c"}
    phones = set()
    for e in people:
        assert e.active
        bup = 60 if (e.eselon or "").startswith("II.") else 58
        assert 20 <= age_on(e.birth_date, TODAY) < bup, (e.birth_date, e.jabatan)
        assert e.phone and re.fullmatch(r"62813\d{8}", e.phone) and e.phone not in phones
        phones.add(e.phone)
        if e.education == "SMA":
            assert e.gelar_depan is None and e.gelar_belakang is None
        elif e.education == "D3":
            assert e.gelar_belakang and e.gelar_belakang.startswith("A.Md")
        elif e.education in ("S2", "S3"):  # a master's or specialist title
            assert re.search(r"(^|, )(M\.|Sp\.|MARS)", e.gelar_belakang or ""), (e.gelar_depan, e.gelar_belakang)
        if e.status in ("PNS", "CPNS"):
            assert e.golongan in PNS_GOLONGAN
            assert PNS_GOLONGAN.index(e.golongan) >= PNS_GOLONGAN.index(start[e.education])
            assert e.tmt_cpns and e.tmt_cpns.day == 1 and e.tmt_cpns <= TODAY
            if e.status == "PNS":
                assert e.tmt_pns == add_years(e.tmt_cpns, 1) <= TODAY
            else:
                assert e.tmt_pns is None and add_years(e.tmt_cpns, 1) > TODAY
            assert e.tmt_cpns <= e.tmt_pangkat <= TODAY  # type: ignore[operator]
        elif e.status == "PPPK":
            assert e.golongan in PPPK_GOLONGAN
            assert e.tmt_cpns and e.tmt_cpns.year >= 2019 and e.tmt_pns is None
        if e.tmt_cpns:
            # KGB every two years from the first appointment; the latest is past, the next is not.
            assert e.tmt_kgb and e.tmt_kgb <= TODAY < add_years(e.tmt_kgb, 2)
            assert (e.tmt_kgb.year - e.tmt_cpns.year) % 2 == 0 and e.tmt_kgb.month == e.tmt_cpns.month
        else:
            assert e.tmt_kgb is None and e.tmt_pangkat is None
    assert counts["CPNS"] > 0 and len({e.jabatan for e in people}) > 50


async def test_second_run_adds_nothing(make_db: MakeDb) -> None:
    sessions, first = await seeded(make_db, 800)
    assert first.employees == 800 and first.units == len(load_unit_tree().units)
    before = await fingerprint(sessions)
    again = await seed_demo(sessions, employees=800, seed=7, verification_key=KEY, today=TODAY)
    assert (again.employees, again.units, again.by_status) == (0, 0, {})
    another_seed = await seed_demo(sessions, employees=50, seed=99, verification_key=KEY, today=TODAY)
    assert another_seed.employees == 0
    assert await fingerprint(sessions) == before


async def test_units_are_upserted_by_code(make_db: MakeDb) -> None:
    sessions = await make_db()
    only_units = await seed_demo(sessions, employees=0, seed=1, verification_key=KEY, today=TODAY)
    assert only_units.employees == 0 and only_units.units > 700
    async with sessions() as s, s.begin():
        await s.execute(update(Unit).where(Unit.code == "bkpsdm/bidang-pka").values(name="Bidang Lama"))
    report = await seed_demo(sessions, employees=300, seed=1, verification_key=KEY, today=TODAY)
    assert report.units == 1 and report.employees == 300  # only the renamed unit was written
    async with sessions() as s:
        assert (await s.execute(select(Unit.name).where(Unit.code == "bkpsdm/bidang-pka"))).scalar_one() == (
            "Bidang Penilaian Kinerja Aparatur")
        assert (await s.execute(select(func.count()).select_from(Unit))).scalar_one() == only_units.units


async def test_real_kota_bekasi_units_are_present(make_db: MakeDb) -> None:
    sessions = await make_db()
    await seed_demo(sessions, employees=0, seed=1, verification_key=KEY, today=TODAY)
    units = await all_units(sessions)
    by_code = {u.code: u for u in units.values()}
    top = {u.name: u for u in units.values() if u.parent_id is None}
    for name in OPD:
        assert name in top, name
        assert top[name].work_days == "1-5"
    kecamatan = {u.name: u for u in units.values() if u.kind == "kecamatan"}
    assert sorted(kecamatan) == sorted(f"Kecamatan {k}" for k in KELURAHAN)
    kelurahan = [u for u in units.values() if u.kind == "kelurahan"]
    assert len(kelurahan) == 56
    for kec, names in KELURAHAN.items():
        under = {u.name for u in kelurahan if u.parent_id == kecamatan[f"Kecamatan {kec}"].id}
        assert under == {f"Kelurahan {n}" for n in names}, kec
    bkpsdm = by_code["bkpsdm"]
    assert bkpsdm.name == "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia"
    for code, name in [("bkpsdm/bidang-pka", "Bidang Penilaian Kinerja Aparatur"),
                       ("bkpsdm/bidang-apka", "Bidang Administrasi dan Pengembangan Karir Aparatur"),
                       ("bkpsdm/bidang-pkom", "Bidang Pengembangan Kompetensi Aparatur")]:
        assert by_code[code].name == name and by_code[code].parent_id == bkpsdm.id
    sekretariat = by_code["bkpsdm/sekretariat"]
    assert any(u.name == "Sub Bagian Tata Usaha" and u.parent_id == sekretariat.id for u in units.values())
    disdik, dinkes = by_code["disdik"], by_code["dinkes"]
    schools = {u.name: u for u in units.values() if u.kind == "sekolah"}
    for n in range(1, 51):
        assert schools[f"SMP Negeri {n} Kota Bekasi"].parent_id == disdik.id
    assert schools["SD Negeri Bekasi Jaya I"].parent_id == disdik.id
    assert sum(1 for name in schools if name.startswith("SD Negeri ")) > 300
    assert all(u.work_days == "1-6" for u in schools.values())
    puskesmas = {u.name: u for u in units.values() if u.kind == "puskesmas"}
    assert puskesmas["UPTD Puskesmas Bekasi Jaya"].parent_id == dinkes.id
    assert puskesmas["UPTD Puskesmas Bekasi Jaya"].work_days == "1-6"
    assert len(puskesmas) > 40
    # Names are unique within an OPD, so an import can find a unit by (unit induk, unit kerja).
    def opd_of(u: Unit) -> int:
        while u.parent_id is not None:
            u = units[u.parent_id]
        return u.id
    per_opd = Counter((opd_of(u), u.name) for u in units.values())
    assert not [k for k, v in per_opd.items() if v > 1]


async def test_demo_nik_digits_verify_against_the_stored_hash(make_db: MakeDb) -> None:
    sessions, _ = await seeded(make_db, 600, seed=11)
    people = await all_employees(sessions)
    kecamatan_codes = {f"{i:02d}" for i in range(1, 13)}
    for e in people:
        identifier = e.nip or e.nomor_non_pns
        assert identifier
        nik = demo_nik(identifier, 11)
        assert re.fullmatch(r"3275\d{12}", nik), nik
        assert nik[4:6] in kecamatan_codes
        day = int(nik[6:8])
        assert (day > 40) == (e.sex == "P")
        assert (day - 40 if day > 40 else day, nik[8:10], nik[10:12]) == (
            e.birth_date.day, f"{e.birth_date:%m}", f"{e.birth_date:%y}")
        assert check_verification(KEY, identifier, nik_tail(nik), e.verification_hash)
        wrong = f"{(int(nik_tail(nik)) + 1) % 1_000_000:06d}"
        assert not check_verification(KEY, identifier, wrong, e.verification_hash)
        assert not check_verification(b"another-key", identifier, nik_tail(nik), e.verification_hash)
    assert demo_nik(people[0].nip or "", 11) != demo_nik(people[0].nip or "", 12)


def test_demo_phone_is_deterministic_and_clear_of_the_sample_file() -> None:
    assert demo_phone(1) == "6281300000001"
    assert demo_phone(15_000) == "6281300015000"
    reserved = {f"62812100000{i:02d}" for i in range(1, 100)}
    assert not reserved & {demo_phone(i) for i in range(1, 20_001)}
    for bad in (0, -1, 10**8):
        with pytest.raises(ValueError):
            demo_phone(bad)


async def test_a_small_total_fills_the_top_of_every_opd_first(make_db: MakeDb) -> None:
    sessions, report = await seeded(make_db, 150)
    people = await all_employees(sessions)
    units = await all_units(sessions)
    top = {uid for uid, u in units.items() if u.parent_id is None}
    assert report.employees == 150 and len(top) < 60
    assert {e.unit_id for e in people if e.superior_id is None} == top
    # Every OPD head, then the first sub-unit of each OPD (its sekretariat, first bidang, ...).
    heads = [e for e in people if e.eselon or (e.jabatan or "").startswith("Kepala SD")]
    assert len(heads) == 60
    sekretaris = {e.jabatan for e in heads if (e.jabatan or "").startswith("Sekretaris ")}
    assert "Sekretaris Badan Kepegawaian dan Pengembangan Sumber Daya Manusia" in sekretaris
    assert report.by_status["PPPK"] == 22 and report.by_status["NON-PNS"] == 15  # staff of every status
    tiny, tiny_report = await seeded(make_db, 10)
    assert tiny_report.by_status == {"PNS": 10}
    assert all(e.superior_id is None for e in await all_employees(tiny))  # ten OPD heads


async def test_another_region_brings_its_own_units(make_db: MakeDb, tmp_path: Path) -> None:
    region = tmp_path / "kab-contoh"
    region.mkdir()
    (region / "units.yaml").write_text(
        """
region_code: "3216"
work_days: "1-5"
kinds:
  opd: {head: "Kepala {name}", eselon: II.b, staff: 5}
  bidang: {head: "Kepala {name}", eselon: III.b, staff: 5, prefix: "Bidang "}
  kecamatan: {head: "Camat {place}", eselon: III.a, staff: 5}
  kelurahan: {head: "Kepala Desa {place}", eselon: IV.a, staff: 2}
units:
  - {name: Badan Kepegawaian dan Pengembangan Sumber Daya Manusia, slug: bkpsdm, children: [Bidang Mutasi]}
kecamatan:
  - {name: Cikarang Utara, nik: "05", kelurahan: [Karangasih]}
""",
        encoding="utf-8",
    )
    sessions = await make_db()
    report = await seed_demo(sessions, employees=40, seed=3, verification_key=KEY, agency_dir=region, today=TODAY)
    assert report.units == 4 and report.employees == 40
    units = {u.code: u for u in (await all_units(sessions)).values()}
    assert set(units) == {"bkpsdm", "bkpsdm/bidang-mutasi", "kec-cikarang-utara", "kec-cikarang-utara/kel-karangasih"}
    people = await all_employees(sessions)
    assert {e.jabatan for e in people} >= {"Camat Cikarang Utara", "Kepala Desa Karangasih", "Kepala Bidang Mutasi"}
    e = people[0]
    nik = demo_nik(e.nip or "", 3, agency_dir=region)
    assert nik.startswith("321605")
    assert check_verification(KEY, e.nip or "", nik_tail(nik), e.verification_hash)


def test_mistakes_in_the_unit_data_are_reported(tmp_path: Path) -> None:
    region = tmp_path / "broken"
    region.mkdir()
    (region / "units.yaml").write_text(
        "kinds: {opd: {head: 'Kepala {name}', eselon: II.b}}\nunits:\n  - {name: Dinas A, children: [Seksi X]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="cannot tell the kind of 'Seksi X'"):
        generate_demo(10, seed=1, verification_key=KEY, agency_dir=region, today=TODAY)
