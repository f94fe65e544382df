"""The application workflow against a real database: routing from the personnel data, every
transition, authorisation, races, withdrawal, stand-ins, the ledger and the letter."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from services import roles
from services.applications import engine, letter_issue
from services.applications.engine import Context, Status, WorkflowError
from services.cuti.quote import annual_balance
from services.importer import import_pegawai
from services.models import (
    Application, ApplicationEvent, CutiLedgerEntry, Delegation, Employee, Letter, OutboxMessage, TelegramAccount,
)
from tests.conftest import SAMPLE_CSV

AHMAD = "199001092014121001"  # pelaksana, Sub Bagian TU BKPSDM; atasan Rina, kepala OPD Hendra
RINA = "198207212006012001"
SRI = "197503141999032001"  # Sekretaris (eselon III.a)
HENDRA = "197010051991101001"
DEWI = "198811302011022001"  # Kepala Bidang PKA
BAMBANG = "198506172019031001"
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)  # Monday 5 January 2026, 10:00 WIB


@pytest.fixture
async def loaded(sessions):
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=b"k")
    assert report.applied
    return sessions


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(data_dir=tmp_path, now_fn=lambda: NOW, bot_username="asnbot_test")


async def emp_id(sessions, nip: str) -> int:
    async with sessions() as s:
        return (await s.execute(select(Employee.id).where(Employee.nip == nip))).scalar_one()


async def link(sessions, nip: str, user_id: int) -> None:
    async with sessions() as s:
        s.add(TelegramAccount(telegram_user_id=user_id, chat_id=user_id, employee_id=await emp_id(sessions, nip)))
        await s.commit()


def form(**kw) -> dict:
    base = {"kind": "tahunan", "start": "2026-01-12", "end": "2026-01-14", "alasan": "Keperluan keluarga",
            "alamat": "Jl. Melati 1, Bekasi", "telepon": "081234567890"}
    base.update(kw)
    return base


async def submit(sessions, ctx, nip=AHMAD, key="k1", **kw) -> Application:
    async with sessions() as s:
        r = await engine.submit(s, ctx, await emp_id(sessions, nip), "cuti", form(**kw), submit_key=key)
        return r.application


async def act(sessions, ctx, app: Application, nip: str, action: str, **kw):
    async with sessions() as s:
        fresh = await s.get(Application, app.id)
        version = kw.pop("version", fresh.version)
        return await engine.act(s, ctx, app.id, await emp_id(sessions, nip), action, version=version, **kw)


async def outbox_rows(sessions) -> list[OutboxMessage]:
    async with sessions() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_route_follows_the_personnel_data(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    assert app.number == f"CUTI-2026-{app.id:06d}"
    assert app.status == Status.PENDING and app.step == "atasan"
    assert app.approver_id == await emp_id(loaded, RINA)
    assert app.data["route"] == [["atasan", await emp_id(loaded, RINA)], ["pejabat", await emp_id(loaded, HENDRA)]]
    assert app.data["working_days"] == 3 and app.data["sop"] == "sop-03"


async def test_submitting_the_same_form_twice_files_one(loaded, ctx) -> None:
    a = await submit(loaded, ctx, key="same")
    b = await submit(loaded, ctx, key="same")
    assert a.id == b.id
    async with loaded() as s:
        assert len((await s.execute(select(Application))).scalars().all()) == 1


async def test_concurrent_double_submit_files_one(loaded, ctx) -> None:
    results = await asyncio.gather(*(submit(loaded, ctx, key="race") for _ in range(4)), return_exceptions=True)
    ids = {r.id for r in results if isinstance(r, Application)}
    assert len(ids) == 1, results


async def test_refusal_names_the_rule(loaded, ctx) -> None:
    with pytest.raises(WorkflowError) as e:
        await submit(loaded, ctx, kind="besar", start="2026-02-02", end="2026-02-27", nip="199204022024032001")
    assert "5 tahun" in e.value.message and "PP 11/2017" in e.value.message


async def test_overlap_with_a_pending_request_is_refused(loaded, ctx) -> None:
    await submit(loaded, ctx, key="a")
    with pytest.raises(WorkflowError) as e:
        await submit(loaded, ctx, key="b", start="2026-01-13", end="2026-01-16")
    assert e.value.code == "tumpang-tindih"


async def test_missing_attachment_is_refused(loaded, ctx) -> None:
    with pytest.raises(WorkflowError) as e:
        await submit(loaded, ctx, kind="sakit", start="2026-01-05", end="2026-01-06")
    assert e.value.code == "lampiran-kurang" and "surat keterangan dokter" in e.value.message


async def test_full_chain_to_the_letter(loaded, ctx) -> None:
    for nip, uid in ((AHMAD, 11), (RINA, 12), (HENDRA, 13)):
        await link(loaded, nip, uid)
    app = await submit(loaded, ctx)
    rows = await outbox_rows(loaded)
    assert {r.chat_id for r in rows} == {11, 12}  # applicant told, atasan asked with buttons
    button_msg = next(r for r in rows if r.chat_id == 12)
    assert "apv:" in str(button_msg.payload["reply_markup"])

    await act(loaded, ctx, app, RINA, "setuju", comment="Silakan")
    async with loaded() as s:
        a = await s.get(Application, app.id)
        assert a.step == "pejabat" and a.approver_id == await emp_id(loaded, HENDRA)
    out = await act(loaded, ctx, app, HENDRA, "setuju")
    assert out.application.status == Status.APPROVED

    async with loaded() as s:
        letter = (await s.execute(select(Letter))).scalar_one()
        events = [e.action for e in await engine.history(s, app.id)]
        assert events == ["ajukan", "setuju", "setuju"]
        used = (await s.execute(select(CutiLedgerEntry).where(CutiLedgerEntry.kind == "pakai"))).scalars().all()
        assert sum(x.days for x in used) == -3
        emp = await s.get(Employee, app.employee_id)
        bal = await annual_balance(s, emp, today=date(2026, 1, 20))
        assert bal.balance.total == app.data["balance_before"] - 3
    pdf = (ctx.data_dir / "letters" / letter.path).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(__import__("io").BytesIO(pdf)).pages)
    assert "Ahmad Fauzi" in text and letter.code in text and "12 Januari 2026" in text
    rows = await outbox_rows(loaded)
    doc = [r for r in rows if r.method == "sendDocument"]
    assert len(doc) == 1 and doc[0].chat_id == 11

    async with loaded() as s:
        v = await letter_issue.verify(s, ctx, letter.code.lower().replace("-", " "))
    assert v.found and v.valid and v.number == app.number and "•" in v.holder_id


async def test_stale_forged_and_repeated_actions_change_nothing(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    with pytest.raises(WorkflowError) as e:  # not this application's approver
        await act(loaded, ctx, app, BAMBANG, "setuju")
    assert e.value.code == "bukan-wewenang"
    with pytest.raises(WorkflowError) as e:  # the applicant cannot approve their own request
        await act(loaded, ctx, app, AHMAD, "setuju")
    assert e.value.code == "bukan-wewenang"
    with pytest.raises(WorkflowError) as e:  # the pejabat may not skip the atasan's step
        await act(loaded, ctx, app, HENDRA, "setuju")
    assert e.value.code == "bukan-wewenang"
    await act(loaded, ctx, app, RINA, "setuju", version=1)
    with pytest.raises(WorkflowError) as e:  # the same button pressed again
        await act(loaded, ctx, app, RINA, "setuju", version=1)
    assert e.value.code == "kedaluwarsa"
    with pytest.raises(WorkflowError) as e:
        await act(loaded, ctx, app, HENDRA, "tolak")  # no reason given
    assert e.value.code == "perlu-alasan"
    async with loaded() as s:
        assert len(await engine.history(s, app.id)) == 2


async def test_two_approvers_at_once_one_wins(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    # Dewi (Kepala Bidang PKA) stands in for Rina: both may act at the atasan step.
    async with loaded() as s:
        s.add(Delegation(principal_id=await emp_id(loaded, RINA), acting_id=await emp_id(loaded, DEWI), kind="Plh",
                         starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 31), created_by="test"))
        await s.commit()
    results = await asyncio.gather(act(loaded, ctx, app, RINA, "setuju", version=1),
                                   act(loaded, ctx, app, DEWI, "tolak", version=1, comment="Tugas"),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, WorkflowError)]
    assert len(errors) == 1 and errors[0].code in ("sudah-diproses", "kedaluwarsa")
    async with loaded() as s:
        assert len(await engine.history(s, app.id)) == 2


async def test_plh_acts_and_the_record_says_for_whom(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    async with loaded() as s:
        s.add(Delegation(principal_id=await emp_id(loaded, RINA), acting_id=await emp_id(loaded, SRI), kind="Plh",
                         starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 10), created_by="test"))
        await s.commit()
    await act(loaded, ctx, app, SRI, "ubah", comment="Geser sehari", change={"start": "2026-01-13", "end": "2026-01-14"})
    async with loaded() as s:
        ev = (await engine.history(s, app.id))[-1]
        assert ev.on_behalf_of_id == await emp_id(loaded, RINA) and ev.actor_label.startswith("Plh.")
        a = await s.get(Application, app.id)
        assert a.data["start"] == "2026-01-13" and a.data["working_days"] == 2
        assert ev.data["before"] == {"start": "2026-01-12", "end": "2026-01-14"}


async def test_expired_delegation_gives_no_power(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    async with loaded() as s:
        s.add(Delegation(principal_id=await emp_id(loaded, RINA), acting_id=await emp_id(loaded, SRI), kind="Plt",
                         starts_on=date(2025, 12, 1), ends_on=date(2026, 1, 4), created_by="test"))
        await s.commit()
    with pytest.raises(WorkflowError):
        await act(loaded, ctx, app, SRI, "setuju")


async def test_withdraw_before_decision_only(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    async with loaded() as s:
        with pytest.raises(WorkflowError):  # somebody else's application
            await engine.withdraw(s, ctx, app.id, await emp_id(loaded, RINA))
        await engine.withdraw(s, ctx, app.id, await emp_id(loaded, AHMAD))
    with pytest.raises(WorkflowError) as e:
        await act(loaded, ctx, app, RINA, "setuju", version=2)
    assert e.value.code == "sudah-selesai"
    # The withdrawn dates are free again.
    await submit(loaded, ctx, key="again")


async def test_deferral_moves_the_days_to_next_year(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    await act(loaded, ctx, app, RINA, "setuju")
    await act(loaded, ctx, app, HENDRA, "tangguh", comment="Kebutuhan dinas", change={"until": "2027-01-31"})
    async with loaded() as s:
        a = await s.get(Application, app.id)
        assert a.status == Status.DEFERRED and a.data["tangguh_sampai"] == "2027-01-31"
        rows = (await s.execute(select(CutiLedgerEntry).where(CutiLedgerEntry.kind == "tangguh"))).scalars().all()
        assert sorted((r.year, r.days) for r in rows) == [(2026, -3), (2027, 3)]
        assert (await s.execute(select(Letter))).first() is None


async def test_eselon_iii_goes_to_the_bkpsdm_queue_without_a_configured_official(loaded, ctx) -> None:
    # Sri (Sekretaris, eselon III) -> atasan Hendra -> pejabat role:cuti-pimpinan (nobody yet)
    app = await submit(loaded, ctx, nip=SRI)
    await act(loaded, ctx, app, HENDRA, "setuju")
    async with loaded() as s:
        a = await s.get(Application, app.id)
        assert a.step == "pejabat" and a.approver_id is None
    with pytest.raises(WorkflowError):
        await act(loaded, ctx, app, BAMBANG, "setuju")
    async with loaded() as s:
        await roles.grant(s, BAMBANG, "verifier", "pka", granted_by="test")
    out = await act(loaded, ctx, app, BAMBANG, "setuju")
    assert out.application.status == Status.APPROVED


async def test_configured_official_decides_for_eselon_iii(loaded, ctx) -> None:
    async with loaded() as s:
        await roles.grant(s, DEWI, "approver", "cuti-pimpinan", granted_by="test")
    app = await submit(loaded, ctx, nip=SRI)
    assert app.data["route"][-1] == ["pejabat", await emp_id(loaded, DEWI)]


async def test_only_people_on_the_route_can_view(loaded, ctx) -> None:
    app = await submit(loaded, ctx)
    async with loaded() as s:
        assert await engine.can_view(s, ctx, app, await emp_id(loaded, RINA))
        assert await engine.can_view(s, ctx, app, await emp_id(loaded, HENDRA))
        assert not await engine.can_view(s, ctx, app, await emp_id(loaded, BAMBANG))
