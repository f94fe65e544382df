"""Izin belajar on the application engine, against a real database: every eligibility rule as
the engine refuses it (naming rule and basis), accreditation, the lecture schedule against the
unit's working hours, the documents, and the whole chain to the Surat Izin Belajar."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from sqlalchemy import select, update

from services import files, roles
from services.agency import DEFAULT_AGENCY_DIR
from services.applications import engine, letter_issue, uploads
from services.applications import izin_belajar as ib
from services.applications.engine import Context, Status, WorkflowError
from services.importer import import_pegawai
from services.izin_belajar import load_config
from services.models import (
    Application, ApplicationFile, Employee, Letter, OutboxMessage, TelegramAccount, Unit,
)
from tests.conftest import SAMPLE_CSV

AHMAD = "199001092014121001"  # PNS since 2014, SMA, II/c; atasan Rina
RINA = "198207212006012001"
DEWI = "198811302011022001"
BAMBANG = "198506172019031001"
AISYAH = "199204022024032001"  # S1, CPNS 2024
FITRI = "199312192023212001"  # PPPK
JOKO = "TKK-2019-000123"  # Non-PNS
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)  # Friday 27 November 2026, 10:00 WIB
DOCS = ["Surat permohonan izin belajar dari pegawai", "Fotokopi SK pangkat terakhir",
        "Surat keterangan diterima/terdaftar dari perguruan tinggi dan bukti akreditasi program studi"]
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


@pytest.fixture
async def loaded(sessions):
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    assert report.applied
    return sessions


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(data_dir=tmp_path, now_fn=lambda: NOW, bot_username="asnbot_test")


async def emp_of(sessions, ident: str) -> Employee:
    async with sessions() as s:
        return (await s.execute(select(Employee).where(
            (Employee.nip == ident) | (Employee.nomor_non_pns == ident)))).scalar_one()


async def upload(sessions, ctx: Context, employee_id: int, key: str, label: str, content: bytes = PDF) -> int:
    blob = files.store(content + key.encode(), root=ctx.data_dir / "files", claimed_name=f"{key}.pdf")
    async with sessions() as s:
        row = await uploads.record_upload(s, employee_id=employee_id, doc_key=key, label=label, blob=blob,
                                          file_name=f"{key}.pdf", telegram_file_id=None)
        return row.id


async def form(sessions, ctx: Context, ident: str = AHMAD, *, documents=DOCS, skip: int = 0, **kw) -> dict:
    emp = await emp_of(sessions, ident)
    data = {"jenjang": "S1", "program_studi": "Administrasi Publik", "perguruan_tinggi": "Universitas Terbuka",
            "akreditasi": "A", "jadwal": [{"days": [6], "start": "08:00", "end": "16:00"}],
            "documents": list(documents), "files": {}}
    for key, label in ib.document_keys(list(documents))[skip:]:
        data["files"][key] = await upload(sessions, ctx, emp.id, key, label)
    data.update(kw)
    return data


async def submit(sessions, ctx: Context, ident: str = AHMAD, key: str = "ib1", data: dict | None = None, **kw):
    data = data if data is not None else await form(sessions, ctx, ident, **kw)
    emp = await emp_of(sessions, ident)
    async with sessions() as s:
        r = await engine.submit(s, ctx, emp.id, "izin-belajar", data, submit_key=key)
        await uploads.attach_files(s, r.application, r.application.data["files"].values())
        return r.application


async def refused(sessions, ctx: Context, ident: str = AHMAD, **kw) -> WorkflowError:
    with pytest.raises(WorkflowError) as e:
        await submit(sessions, ctx, ident, **kw)
    return e.value


async def act(sessions, ctx: Context, app: Application, ident: str, action: str, **kw):
    emp = await emp_of(sessions, ident)
    async with sessions() as s:
        fresh = await s.get(Application, app.id)
        return await engine.act(s, ctx, app.id, emp.id, action, version=kw.pop("version", fresh.version), **kw)


async def reload(sessions, app_id: int) -> Application:
    async with sessions() as s:
        return await s.get(Application, app_id)


# ---- eligibility from the personnel data ---------------------------------------------------
async def test_eligible_application_is_filed_on_the_izin_belajar_chain(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    assert app.number == f"IB-2026-{app.id:06d}" and app.status == Status.PENDING
    rina, ahmad = await emp_of(loaded, RINA), await emp_of(loaded, AHMAD)
    assert app.step == "atasan" and app.approver_id == rina.id
    assert [s for s, _ in app.data["route"]] == ["atasan", "verifikasi", "pejabat"]
    assert app.data["sop"] == "sop-62" and app.data["jadwal_text"] == "Sabtu pukul 08.00-16.00"
    async with loaded() as s:
        rows = (await s.execute(select(ApplicationFile))).scalars().all()
    assert {f.application_id for f in rows} == {app.id} and {f.employee_id for f in rows} == {ahmad.id}
    lines = engine.type_of(app).describe(app)
    assert "Program studi: Administrasi Publik" in lines and "Lampiran: 3 dari 3 dokumen" in lines


@pytest.mark.parametrize(("ident", "change", "code", "says"), [
    (FITRI, {}, "pppk", "PPPK"),
    (JOKO, {}, "bukan-asn", "diberikan kepada PNS"),
    (AHMAD, {"status": "CPNS"}, "cpns", "setelah diangkat sebagai PNS"),
    (AISYAH, {"tmt_pns": datetime(2026, 3, 1).date()}, "masa-kerja", "1 tahun setelah diangkat"),
    (AHMAD, {"tmt_pns": None, "tmt_cpns": None}, "tmt-kosong", "TMT PNS"),
    (AHMAD, {"education": "D3"}, "jenjang", "satu jenjang di atas"),  # D3 -> S2 is two levels
])
async def test_each_personnel_rule_refuses_naming_it(loaded, ctx, ident, change, code, says) -> None:
    emp = await emp_of(loaded, ident)
    if change:
        async with loaded() as s:
            await s.execute(update(Employee).where(Employee.id == emp.id).values(**change))
            await s.commit()
    jenjang = "S2" if ident == AISYAH or code == "jenjang" else "S1"
    err = await refused(loaded, ctx, ident, jenjang=jenjang)
    assert err.code == code and says in err.message
    if code not in ("tmt-kosong", "pppk"):
        assert "SE MenPANRB 04/2013" in err.message  # the basis is named
    async with loaded() as s:
        assert (await s.execute(select(Application))).first() is None


async def test_jenjang_one_level_above(loaded, ctx) -> None:
    err = await refused(loaded, ctx, AHMAD, jenjang="S2")  # SMA -> S2
    assert err.code == "jenjang" and "D3, D4, S1" in err.message
    assert (await submit(loaded, ctx, AHMAD, jenjang="D3")).status == Status.PENDING


async def city_config(tmp_path: Path, **changes) -> Path:
    agency = tmp_path / "agency"
    shutil.copytree(DEFAULT_AGENCY_DIR, agency)
    path = agency / "izin-belajar.yaml"
    path.write_text(yaml.safe_dump(load_config() | changes), encoding="utf-8")
    return agency


async def test_city_rules_are_configuration(loaded, tmp_path) -> None:
    strict = Context(data_dir=tmp_path, now_fn=lambda: NOW,
                     agency_dir=await city_config(tmp_path, min_golongan={"S1": "III/a"}, pppk_allowed=True))
    err = await refused(loaded, strict, AHMAD)  # II/c
    assert err.code == "golongan" and "III/a" in err.message
    # PPPK allowed by the city: Fitri (S1) may ask for S2.
    assert (await submit(loaded, strict, FITRI, key="f", jenjang="S2")).status == Status.PENDING


async def test_precheck_says_what_blocks_before_the_form(loaded, ctx) -> None:
    async with loaded() as s:
        ahmad = await ib.precheck(s, ctx, await emp_of(loaded, AHMAD))
        fitri = await ib.precheck(s, ctx, await emp_of(loaded, FITRI))
        joko = await ib.precheck(s, ctx, await emp_of(loaded, JOKO))
    assert ahmad.ok and ahmad.jenjang == ["D3", "D4", "S1"]
    assert not fitri.ok and [p.code for p in fitri.blocking] == ["pppk"] and fitri.jenjang == []
    assert [p.code for p in joko.blocking] == ["bukan-asn"]
    await submit(loaded, ctx)
    async with loaded() as s:
        again = await ib.precheck(s, ctx, await emp_of(loaded, AHMAD))
    assert not again.ok and again.open_application is not None


async def test_one_open_application_at_a_time(loaded, ctx) -> None:
    first = await submit(loaded, ctx, key="a")
    err = await refused(loaded, ctx, key="b")
    assert err.code == "masih-diproses" and first.number in err.message
    async with loaded() as s:
        await engine.withdraw(s, ctx, first.id, first.employee_id)
    assert (await submit(loaded, ctx, key="c")).status == Status.PENDING


async def test_double_submit_files_one(loaded, ctx) -> None:
    data = await form(loaded, ctx)
    a = await submit(loaded, ctx, key="same", data=data)
    b = await submit(loaded, ctx, key="same", data=data)
    assert a.id == b.id


# ---- accreditation -------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "code"), [
    ("A", None), ("B", None), ("unggul", None), ("Baik Sekali", None),
    ("C", "akreditasi-rendah"), ("Baik", "akreditasi-rendah"),
    ("Belum terakreditasi", "akreditasi-belum"), ("belum", "akreditasi-belum"), ("Z", "akreditasi-tidak-dikenal"),
])
def test_accreditation(value: str, code: str | None) -> None:
    p = ib.check_akreditasi(value, load_config())
    assert (p.code if p else None) == code
    if code in ("akreditasi-rendah", "akreditasi-belum"):
        assert "paling rendah B" in p.message and "SE MenPANRB 04/2013" in p.message
    if value == "Baik":
        assert "setara C" in p.message


def test_accreditation_minimum_is_city_data() -> None:
    assert ib.check_akreditasi("C", load_config() | {"min_akreditasi": "C"}) is None
    lenient = load_config() | {"min_akreditasi": "C"}
    assert ib.check_akreditasi("Belum terakreditasi", lenient).code == "akreditasi-belum"


async def test_unaccredited_programme_is_refused_by_the_engine(loaded, ctx) -> None:
    err = await refused(loaded, ctx, akreditasi="Belum terakreditasi")
    assert err.code == "akreditasi-belum" and "belum terakreditasi" in err.message


# ---- schedule ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "shown"), [
    ("Sabtu-Minggu 08.00-16.00", "Sabtu dan Minggu pukul 08.00-16.00"),
    ("Senin-Jumat 18.30-21.00; Sabtu 08.00-12.00", "Senin-Jumat pukul 18.30-21.00; Sabtu pukul 08.00-12.00"),
    ("senin, rabu dan kamis pukul 19.00 s.d. 21.30", "Senin, Rabu dan Kamis pukul 19.00-21.30"),
    ("akhir pekan jam 8-15", "Sabtu dan Minggu pukul 08.00-15.00"),
    ("Jum'at 19:00 sampai 21:00", "Jumat pukul 19.00-21.00"),
    ("08.00-12.00 Sabtu", "Sabtu pukul 08.00-12.00"),
    ("Kamis s/d Sabtu 18.00 - 20.00", "Kamis-Sabtu pukul 18.00-20.00"),
])
def test_schedule_is_read_the_indonesian_way(text: str, shown: str) -> None:
    assert ib.format_jadwal(ib.parse_jadwal(text)) == shown


@pytest.mark.parametrize("text", ["Sabtu", "08.00-12.00", "kapan saja", "Senin 21.00-19.00", "Sabtu 25.00-26.00"])
def test_unreadable_schedule_is_asked_again(text: str) -> None:
    with pytest.raises(ib.JadwalError):
        ib.parse_jadwal(text)


FIVE_DAYS = frozenset(range(1, 6))


@pytest.mark.parametrize(("text", "days", "clash"), [
    ("Sabtu 08.00-16.00", FIVE_DAYS, False),
    ("Senin-Jumat 18.30-21.00", FIVE_DAYS, False),
    ("Senin 16.00-18.00", FIVE_DAYS, False),  # starts as work ends
    ("Senin 06.00-07.30", FIVE_DAYS, False),
    ("Senin 13.00-17.00", FIVE_DAYS, True),
    ("Rabu 07.00-08.00", FIVE_DAYS, True),
    ("Jumat 16.00-18.00", FIVE_DAYS, True),  # Friday works until 16.30 (longer break)
    ("Jumat 16.30-18.00", FIVE_DAYS, False),
    ("Sabtu 08.00-12.00", frozenset(range(1, 7)), True),  # a unit on a six-day week
])
def test_schedule_outside_working_hours(text: str, days: frozenset[int], clash: bool) -> None:
    problems = ib.check_jadwal(ib.parse_jadwal(text), days, load_config())
    assert bool(problems) is clash
    if clash:
        assert problems[0].code == "jadwal-jam-kerja"
        assert "di luar jam kerja" in problems[0].message and "SE MenPANRB 04/2013" in problems[0].message


async def test_working_days_come_from_the_unit(loaded, ctx) -> None:
    saturday = [{"days": [6], "start": "08:00", "end": "12:00"}]
    ahmad = await emp_of(loaded, AHMAD)
    async with loaded() as s:  # the unit (or a parent: NULL inherits) works six days
        await s.execute(update(Unit).where(Unit.id == ahmad.unit_id).values(work_days="1-6"))
        await s.commit()
    err = await refused(loaded, ctx, jadwal=saturday)
    assert err.code == "jadwal-jam-kerja" and "Sabtu pukul 08.00-12.00" in err.message


async def test_working_hours_are_city_data(loaded, tmp_path) -> None:
    late = Context(data_dir=tmp_path, now_fn=lambda: NOW,
                   agency_dir=await city_config(tmp_path, working_hours="08:00-17:00", working_hours_by_day={}))
    evening = [{"days": [1], "start": "16:30", "end": "19:00"}]
    assert (await refused(loaded, late, jadwal=evening)).code == "jadwal-jam-kerja"
    ctx = Context(data_dir=tmp_path, now_fn=lambda: NOW)
    assert (await submit(loaded, ctx, jadwal=evening)).status == Status.PENDING


# ---- documents -----------------------------------------------------------------------------
def test_document_keys_are_stable_short_and_unique() -> None:
    keys = ib.document_keys(DOCS + [DOCS[0]])
    assert [k for k, _ in keys] == [
        "surat-permohonan-izin-belajar-dari", "fotokopi-sk-pangkat-terakhir",
        "surat-keterangan-diterima-terdaftar-dari", "surat-permohonan-izin-belajar-dari-2"]
    assert all(len(f"x:{k}") < 64 for k, _ in keys)
    assert ib.document_keys(DOCS) == ib.document_keys(list(DOCS))


async def test_missing_document_is_refused_by_name(loaded, ctx) -> None:
    err = await refused(loaded, ctx, skip=1)
    assert err.code == "lampiran-kurang" and DOCS[0] in err.message


async def test_the_required_list_is_what_the_caller_publishes(loaded, ctx) -> None:
    err = await refused(loaded, ctx, documents=[])
    assert err.code == "syarat-kosong"
    # A different published list: the form must answer exactly that one.
    other = ["Surat pernyataan bermeterai"]
    assert (await submit(loaded, ctx, documents=other)).data["documents"] == other


async def test_someone_elses_or_replaced_file_is_refused(loaded, ctx) -> None:
    data = await form(loaded, ctx)
    rina = await emp_of(loaded, RINA)
    key, label = ib.document_keys(DOCS)[0]
    data["files"][key] = await upload(loaded, ctx, rina.id, key, label, b"%PDF-1.4 rina")
    assert (await refused(loaded, ctx, data=data)).code == "lampiran-tidak-sah"
    data = await form(loaded, ctx)
    async with loaded() as s:
        await s.execute(update(ApplicationFile).where(ApplicationFile.id == data["files"][key]).values(superseded=True))
        await s.commit()
    assert (await refused(loaded, ctx, data=data)).code == "lampiran-tidak-sah"
    data = await form(loaded, ctx)
    data["files"]["tidak-diminta"] = data["files"][key]
    assert (await refused(loaded, ctx, data=data)).code == "lampiran-tidak-sah"


# ---- the chain to the letter ---------------------------------------------------------------
async def link(sessions, ident: str, user_id: int) -> None:
    emp = await emp_of(sessions, ident)
    async with sessions() as s:
        s.add(TelegramAccount(telegram_user_id=user_id, chat_id=user_id, employee_id=emp.id))
        await s.commit()


async def staff(sessions) -> None:
    async with sessions() as s:
        await roles.grant(s, BAMBANG, "verifier", "pkom", granted_by="test")
        await roles.grant(s, DEWI, "approver", "izin-belajar", granted_by="test")


async def test_full_chain_with_a_return_for_revision_to_the_letter(loaded, ctx) -> None:
    await staff(loaded)
    for ident, uid in ((AHMAD, 21), (RINA, 22), (BAMBANG, 23), (DEWI, 24)):
        await link(loaded, ident, uid)
    app = await submit(loaded, ctx)
    dewi, ahmad = await emp_of(loaded, DEWI), await emp_of(loaded, AHMAD)
    assert app.data["route"][-1] == ["pejabat", dewi.id]

    await act(loaded, ctx, app, RINA, "setuju", comment="Relevan dengan tugas")
    a = await reload(loaded, app.id)
    assert a.step == "verifikasi" and a.approver_id is None
    with pytest.raises(WorkflowError) as e:  # not a verifier of Bidang PKom
        await act(loaded, ctx, app, RINA, "teruskan")
    assert e.value.code == "bukan-wewenang"

    key, label = ib.document_keys(DOCS)[1]
    await act(loaded, ctx, app, BAMBANG, "revisi", comment="SK pangkat tidak terbaca",
              change={key: "Scan buram, mohon unggah ulang"})
    a = await reload(loaded, app.id)
    assert a.status == Status.REVISION and a.data["revisi"] == {key: "Scan buram, mohon unggah ulang"}
    async with loaded() as s:
        notice = [r.payload.get("text", "") for r in (await s.execute(select(OutboxMessage))).scalars()
                  if r.chat_id == 21]
    assert any("Scan buram" in t for t in notice)

    # The applicant replaces only that document and resubmits: back to the verifier.
    old_id = a.data["files"][key]
    new_id = await upload(loaded, ctx, ahmad.id, key, label, PDF + b"jelas")
    async with loaded() as s:
        await s.execute(update(ApplicationFile).where(ApplicationFile.id == old_id).values(superseded=True))
        await s.execute(update(ApplicationFile).where(ApplicationFile.id == new_id).values(application_id=app.id))
        await s.commit()
        await engine.resubmit(s, ctx, app.id, ahmad.id, {"files": {**a.data["files"], key: new_id}})
    a = await reload(loaded, app.id)
    assert a.status == Status.PENDING and a.step == "verifikasi" and "revisi" not in a.data
    assert a.data["files"][key] == new_id

    await act(loaded, ctx, app, BAMBANG, "teruskan")
    a = await reload(loaded, app.id)
    assert a.step == "pejabat" and a.approver_id == dewi.id
    out = await act(loaded, ctx, app, DEWI, "setuju")
    assert out.application.status == Status.APPROVED

    async with loaded() as s:
        letter = (await s.execute(select(Letter))).scalar_one()
        events = [ev.action for ev in await engine.history(s, app.id)]
        sent = (await s.execute(select(OutboxMessage).where(OutboxMessage.method == "sendDocument"))).scalar_one()
        check = await letter_issue.verify(s, ctx, letter.code)
    assert events == ["ajukan", "setuju", "revisi", "perbaiki", "teruskan", "setuju"]
    assert sent.chat_id == 21 and sent.payload["document_path"] == f"letters/{app.number}.pdf"
    assert check.valid and check.title == "permohonan izin belajar"
    pdf = letter_issue.read_letter(ctx, letter)
    text = " ".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages)
    for expected in ("SURAT IZIN BELAJAR", app.number, "Ahmad Fauzi", "Administrasi Publik", "Universitas Terbuka",
                     "Sabtu pukul 08.00-16.00", "Dewi Lestari"):
        assert expected in text, expected


async def test_atasan_refusal_ends_it_without_a_letter(loaded, ctx) -> None:
    await staff(loaded)
    app = await submit(loaded, ctx)
    with pytest.raises(WorkflowError):
        await act(loaded, ctx, app, RINA, "tolak")  # a reason is required
    out = await act(loaded, ctx, app, RINA, "tolak", comment="Beban kerja unit sedang tinggi")
    assert out.application.status == Status.REJECTED and out.application.step is None
    async with loaded() as s:
        assert (await s.execute(select(Letter))).first() is None


async def test_pejabat_refusal_and_forged_actions(loaded, ctx) -> None:
    await staff(loaded)
    app = await submit(loaded, ctx)
    await act(loaded, ctx, app, RINA, "setuju")
    with pytest.raises(WorkflowError) as e:  # the verifier's step cannot be approved outright
        await act(loaded, ctx, app, BAMBANG, "setuju")
    assert e.value.code == "aksi-tidak-dikenal"
    with pytest.raises(WorkflowError) as e:  # the official cannot skip the verification
        await act(loaded, ctx, app, DEWI, "teruskan")
    assert e.value.code == "bukan-wewenang"
    await act(loaded, ctx, app, BAMBANG, "teruskan")
    with pytest.raises(WorkflowError) as e:
        await act(loaded, ctx, app, AHMAD, "setuju")  # nobody decides their own request
    assert e.value.code == "bukan-wewenang"
    out = await act(loaded, ctx, app, DEWI, "tolak", comment="Program studi tidak relevan dengan jabatan")
    assert out.application.status == Status.REJECTED
    async with loaded() as s:
        assert (await s.execute(select(Letter))).first() is None
