"""Broadcasts (services/broadcast.py) on a real database: audience filters against the demo city,
counts, the snapshot and its outbox messages, scheduling, cancelling, acknowledgement, reports and
exports, and the `asnbot broadcast` command. Delivery itself is the outbox worker's (tests in
test_outbox.py and test_broadcast_e2e.py); here outcomes are recorded with the worker's own
functions (outbox.claim / mark_*)."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers import texts_broadcast as tb
from services import broadcast as bc
from services import outbox
from services.importer import import_pegawai
from services.models import (
    AuditLog,
    Broadcast,
    BroadcastRecipient,
    Employee,
    OutboxMessage,
    TelegramAccount,
    Unit,
    utcnow,
)
from services.seed import seed_demo
from tests.conftest import SAMPLE_CSV, TEST_KEY
from tests.test_cli import asnbot

JAKARTA = ZoneInfo("Asia/Jakarta")
TEXT = "<b>PP 94/2021</b> tentang Disiplin PNS: mohon dibaca &amp; dipahami."


# ---- helpers --------------------------------------------------------------------------------------
async def link(sessions: async_sessionmaker[AsyncSession], employee_ids: list[int], *, base: int = 10_000,
               blocked: set[int] = frozenset()) -> dict[int, int]:
    """Linked Telegram accounts (chat id = base + employee id); returns employee -> chat."""
    chats = {e: base + e for e in employee_ids}
    async with sessions() as s:
        await s.execute(TelegramAccount.__table__.insert(), [
            {"telegram_user_id": c, "chat_id": c, "employee_id": e, "linked_at": utcnow(), "created_at": utcnow(),
             "undeliverable_since": utcnow() if e in blocked else None}
            for e, c in chats.items()
        ])
        await s.commit()
    return chats


async def people(sessions: async_sessionmaker[AsyncSession]) -> tuple[list, dict[int, int | None]]:
    async with sessions() as s:
        emps = (await s.execute(select(Employee.id, Employee.unit_id, Employee.status, Employee.golongan,
                                       Employee.eselon, Employee.active))).all()
        parents = dict((await s.execute(select(Unit.id, Unit.parent_id))).all())
    return emps, parents


def under(unit_id: int, ancestor: int, parents: dict[int, int | None]) -> bool:
    while unit_id is not None:
        if unit_id == ancestor:
            return True
        unit_id = parents[unit_id]
    return False


async def send(sessions: async_sessionmaker[AsyncSession], audience: bc.Audience, **options) -> Broadcast:  # noqa: ANN003
    async with sessions() as s:
        b = await bc.create(s, text=options.pop("text", TEXT), audience=audience, created_by_label="test", **options)
        await bc.confirm(s, b.id, actor="test", at=options.get("scheduled_at"))
        await s.commit()
        return b


async def recipients(sessions: async_sessionmaker[AsyncSession], broadcast_id: int) -> set[int]:
    async with sessions() as s:
        return set((await s.scalars(select(BroadcastRecipient.employee_id)
                                    .where(BroadcastRecipient.broadcast_id == broadcast_id))).all())


async def messages(sessions: async_sessionmaker[AsyncSession], broadcast_id: int) -> list[OutboxMessage]:
    async with sessions() as s:
        return list((await s.scalars(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)
                                     .order_by(OutboxMessage.id))).all())


@pytest.fixture
async def city(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The synthetic Kota Bekasi (1,500 people), a third of them linked."""
    await seed_demo(sessions, employees=1500, seed=3, verification_key=TEST_KEY, today=date(2026, 6, 1))
    emps, _ = await people(sessions)
    rng = random.Random(5)
    await link(sessions, sorted(rng.sample([e.id for e in emps], len(emps) // 3)))
    return sessions


@pytest.fixture
async def sample(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The 12-person sample export (BKPSDM, Dinas Pendidikan, Dinas Kesehatan)."""
    report = await import_pegawai(sessions, SAMPLE_CSV, verification_key=TEST_KEY)
    assert report.added == 12
    return sessions


async def emp_id(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions() as s:
        return await s.scalar(select(Employee.id).where(Employee.name == name))


async def unit_id(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions() as s:
        return await s.scalar(select(Unit.id).where(Unit.name == name))


# ---- the audience -----------------------------------------------------------------------------------
def test_filters_are_normalised_and_unknown_values_refused() -> None:
    a = bc.Audience.build(units=["3", 3], statuses=["PNS", "Non PNS"], golongan=["iii", "iii/a", "ix"],
                          eselon=["iii", "iv.a", "II A"])
    assert a == bc.Audience(units=(3,), statuses=("pns", "non-pns"), golongan=("III", "III/a", "IX"),
                            eselon=("III", "IV.a", "II.a"))
    assert bc.Audience.from_json(a.to_json()) == a
    assert bc.Audience().everyone and not a.everyone
    for kind, value in (("statuses", "honorer"), ("golongan", "III/f"), ("eselon", "VI")):
        with pytest.raises(bc.BroadcastError):
            bc.Audience.build(**{kind: [value]})


async def test_audience_filters_match_the_personnel_data(city: async_sessionmaker[AsyncSession]) -> None:
    emps, parents = await people(city)
    async with city() as s:
        opds = await bc.opd_list(s)
        linked = set((await s.scalars(select(TelegramAccount.employee_id))).all())
    # An OPD with sub-units and staff in them, and a second one.
    by_opd = {o: [e for e in emps if under(e.unit_id, o, parents)] for o, _ in opds}
    big = max(by_opd, key=lambda o: sum(e.unit_id != o for e in by_opd[o]))
    other = next(o for o in by_opd if o != big and by_opd[o])
    statuses = {"pns": {"PNS", "CPNS"}, "cpns": {"CPNS"}, "pppk": {"PPPK"}, "non-pns": {"NON-PNS"}}

    def expected(a: bc.Audience) -> set[int]:
        def ok(e) -> bool:  # noqa: ANN001
            return (e.active
                    and (not a.units or any(under(e.unit_id, u, parents) for u in a.units))
                    and (not a.statuses or any(e.status in statuses[k] for k in a.statuses))
                    and (not a.golongan or any(e.golongan == g or (e.golongan or "").startswith(g + "/")
                                               for g in a.golongan))
                    and (not a.eselon or any(e.eselon == x or (e.eselon or "").startswith(x + ".") for x in a.eselon)))
        return {e.id for e in emps if ok(e)}

    cases = [
        bc.Audience(),
        bc.Audience(units=(big,)),
        bc.Audience(units=(big, other)),
        bc.Audience(statuses=("pns",)),
        bc.Audience(statuses=("pppk", "non-pns")),
        bc.Audience(golongan=("III",)),
        bc.Audience(golongan=("III/a", "IV")),
        bc.Audience(eselon=("III",)),
        bc.Audience(eselon=("IV.a",)),
        bc.Audience(units=(big,), statuses=("pns",), golongan=("III",)),
        bc.Audience(units=(big, other), eselon=("III", "IV")),
    ]
    for a in cases:
        want = expected(a)
        assert want, a  # every case selects someone, so a filter that selects nobody fails
        async with city() as s:
            n = await bc.count(s, a)
        assert (n.total, n.linked, n.not_linked) == (len(want), len(want & linked), len(want - linked)), a

    # The sub-units are really part of the OPD, and the PNS filter really takes CPNS along.
    assert any(e.unit_id != big for e in by_opd[big])
    assert any(e.status == "CPNS" for e in emps)
    pns = expected(bc.Audience(statuses=("pns",)))
    assert {e.id for e in emps if e.status == "CPNS"} <= pns

    # What is counted is what is snapshotted when the broadcast is released.
    a = bc.Audience(units=(big,), statuses=("pns",), golongan=("III",))
    b = await send(city, a)
    assert await recipients(city, b.id) == expected(a)
    assert {m.employee_id for m in await messages(city, b.id)} == expected(a) & linked


async def test_golongan_room_covers_pppk_golongan_of_the_same_name_and_inactive_people_are_left_out(
    sample: async_sessionmaker[AsyncSession]
) -> None:
    async with sample() as s:
        fitri = await s.scalar(select(Employee).where(Employee.name == "Fitri Handayani"))  # PPPK IX
        fitri.golongan = "III"
        await s.execute(update(Employee).where(Employee.name == "Joko Prasetyo").values(active=False))
        await s.commit()
        n = await bc.count(s, bc.Audience(golongan=("III",)))
        everyone = await bc.count(s, bc.Audience())
    # III/a, III/b, III/c, III/d x2 (Agus, Rina) in the sample, plus Fitri's PPPK golongan III.
    assert n.total == 6
    assert everyone.total == 11


async def test_unit_search_finds_sub_units_with_their_opd(sample: async_sessionmaker[AsyncSession]) -> None:
    async with sample() as s:
        found = await bc.find_units(s, "penilaian kinerja")
        assert [(name, opd) for _, name, opd in found] == [
            ("Bidang Penilaian Kinerja Aparatur", "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia")]
        assert await bc.find_units(s, "100%") == []


# ---- releasing ----------------------------------------------------------------------------------------
async def test_confirm_snapshots_recipients_and_queues_one_message_per_linked_person(
    sample: async_sessionmaker[AsyncSession]
) -> None:
    bkpsdm = await unit_id(sample, "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia")
    names = ["Hendra Gunawan", "Rina Marlina", "Ahmad Fauzi", "Joko Prasetyo"]
    ids = [await emp_id(sample, n) for n in names]
    blocked = await emp_id(sample, "Joko Prasetyo")
    chats = await link(sample, ids + [await emp_id(sample, "Nur Aisyah")], blocked={blocked})
    b = await send(sample, bc.Audience(units=(bkpsdm,)), ack=True)
    assert len(await recipients(sample, b.id)) == 8  # BKPSDM and its sub-units
    rows = await messages(sample, b.id)
    assert sorted(r.employee_id for r in rows) == sorted(ids)
    for r in rows:
        assert r.dedupe_key == f"bc:{b.id}:{r.employee_id}" and r.chat_id == chats[r.employee_id]
        assert r.method == "sendMessage" and r.urgent is False
        assert r.payload == {"text": TEXT, "reply_markup": {"inline_keyboard": [[
            {"text": bc.ACK_LABEL, "callback_data": f"ack:{b.id}"}]]}}
        # The account that blocked the bot is recorded, not sent to again until its owner writes.
        assert r.status == (outbox.BLOCKED if r.employee_id == blocked else outbox.PENDING)
    async with sample() as s:
        assert (await s.get(Broadcast, b.id)).status == bc.SENDING
        with pytest.raises(bc.BroadcastError):  # a second tap on "Kirim" sends nothing twice
            await bc.confirm(s, b.id, actor="test")
    assert len(await messages(sample, b.id)) == 4


async def test_confirming_20000_recipients(sessions: async_sessionmaker[AsyncSession]) -> None:
    """20,000 linked recipients: rows written with executemany in chunks. Prints the time."""
    async with sessions() as s:
        s.add_all([Unit(code=f"opd-{i}", name=f"OPD {i}") for i in range(40)])
        await s.commit()
        units = list((await s.scalars(select(Unit.id))).all())
        now = utcnow()
        await s.execute(Employee.__table__.insert(), [
            {"nip": f"1990010120140{i:05d}", "status": "PNS", "name": f"Pegawai {i}", "sex": "L",
             "birth_date": date(1990, 1, 1), "unit_id": units[i % len(units)], "active": True,
             "created_at": now, "updated_at": now}
            for i in range(20_000)
        ])
        await s.commit()
        ids = list((await s.scalars(select(Employee.id))).all())
    await link(sessions, ids)
    started = time.perf_counter()
    b = await send(sessions, bc.Audience())
    took = time.perf_counter() - started
    print(f"\nconfirm of 20,000 recipients: {took:.2f} s")
    async with sessions() as s:
        n_msg = await s.scalar(select(func.count(func.distinct(OutboxMessage.dedupe_key)))
                               .where(OutboxMessage.broadcast_id == b.id))
        n_rec = await s.scalar(select(func.count()).select_from(BroadcastRecipient)
                               .where(BroadcastRecipient.broadcast_id == b.id, BroadcastRecipient.outbox_id.is_not(None)))
        t = await bc.tally(s, b.id)
    assert (n_msg, n_rec) == (20_000, 20_000)
    assert (t.recipients, t.pending, t.not_linked) == (20_000, 20_000, 0)


async def test_document_broadcast_payload_and_stored_file(sample: async_sessionmaker[AsyncSession],
                                                          tmp_path: Path) -> None:
    pdf = b"%PDF-1.4 PP 94/2021" * 50
    path, shown = bc.store_file(tmp_path, pdf, "../PP 94 2021 <final>.pdf", media="document")
    assert path.startswith("broadcasts/") and path.endswith(".pdf") and (tmp_path / path).read_bytes() == pdf
    assert shown == "PP 94 2021 _final_.pdf"
    assert bc.store_file(tmp_path, pdf, "lain.pdf", media="document")[0] == path  # same content, same file
    await link(sample, [await emp_id(sample, "Ahmad Fauzi")])
    b = await send(sample, bc.Audience(), text="Salinan <i>PP 94/2021</i>", media="document", document_path=path,
                   document_name=shown)
    [m] = await messages(sample, b.id)
    assert (m.method, m.payload) == ("sendDocument", {"document_path": path, "file_name": shown,
                                                      "caption": "Salinan <i>PP 94/2021</i>"})


def test_message_limits() -> None:
    bc.check_message("x" * 4096, None)
    bc.check_message("<b>" + "x" * 1024 + "</b>", "document")  # tags do not count
    with pytest.raises(bc.BroadcastError, match="terlalu panjang"):
        bc.check_message("x" * 1025, "photo")
    with pytest.raises(bc.BroadcastError, match="kosong"):
        bc.check_message("  <b></b>", None)
    bc.check_message("", "document")  # a document needs no caption


# ---- scheduling ----------------------------------------------------------------------------------------
async def test_scheduled_broadcast_is_released_once_when_due(sample: async_sessionmaker[AsyncSession]) -> None:
    ids = [await emp_id(sample, n) for n in ("Ahmad Fauzi", "Dewi Lestari", "Nur Aisyah")]
    await link(sample, ids)
    at = utcnow() + timedelta(hours=2)
    b = await send(sample, bc.Audience(), scheduled_at=at)
    async with sample() as s:
        assert (await s.get(Broadcast, b.id)).status == bc.SCHEDULED
    assert await messages(sample, b.id) == [] and await recipients(sample, b.id) == set()
    assert await bc.start_due(sample, at - timedelta(minutes=1)) == []
    # Someone links between scheduling and sending: the audience is taken when it is sent.
    await link(sample, [await emp_id(sample, "Siti Rahmawati")])
    # Several instances wake at the same moment: one releases it.
    results = await asyncio.gather(*(bc.start_due(sample, at + timedelta(seconds=1)) for _ in range(3)))
    released = [r for batch in results for r in batch]
    assert [(r.broadcast_id, r.recipients, r.queued) for r in released] == [(b.id, 12, 4)]
    assert len(await messages(sample, b.id)) == 4
    assert await bc.start_due(sample, at + timedelta(minutes=5)) == []


def test_parse_when() -> None:
    now = datetime(2026, 11, 20, 10, 0, tzinfo=JAKARTA)  # a Friday
    assert bc.parse_when("besok 08:00", now) == datetime(2026, 11, 21, 8, 0, tzinfo=JAKARTA)
    assert bc.parse_when("27/11 14:00", now) == datetime(2026, 11, 27, 14, 0, tzinfo=JAKARTA)
    assert bc.parse_when("senin depan jam 9", now) == datetime(2026, 11, 23, 9, 0, tzinfo=JAKARTA)
    assert bc.parse_when("pukul 16.30 WIB", now) == datetime(2026, 11, 20, 16, 30, tzinfo=JAKARTA)
    assert bc.parse_when("2/1 07:15", now) == datetime(2027, 1, 2, 7, 15, tzinfo=JAKARTA)
    for nothing in ("besok", "27/11", "jam 25", "besok 8", "kapan saja 10:00"):
        assert bc.parse_when(nothing, now) is None, nothing


# ---- cancelling ---------------------------------------------------------------------------------------
async def test_cancel_while_running_stops_what_is_not_on_its_way(sample: async_sessionmaker[AsyncSession]) -> None:
    ids = [await emp_id(sample, n) for n in ("Hendra Gunawan", "Sri Wahyuni", "Rina Marlina", "Ahmad Fauzi",
                                             "Dewi Lestari", "Bambang Sutrisno")]
    await link(sample, ids)
    b = await send(sample, bc.Audience())
    # A worker took three (one message per chat, oldest first), sent two; the third is on the wire.
    claimed = await outbox.claim(sample, worker_id="w1", limit=3)
    assert len(claimed) == 3
    for m in claimed[:2]:
        assert await outbox.mark_sent(sample, m.id, worker_id="w1", telegram_message_id=1)
    async with sample() as s:
        c = await bc.cancel(s, b.id, actor="test")
        await s.commit()
    assert (c.previous_status, c.messages_cancelled) == (bc.SENDING, 3)
    assert await outbox.claim(sample, worker_id="w2", limit=10) == []  # nothing more goes out
    async with sample() as s:
        assert await bc.finish_due(s) == []  # the one on the wire is still out
        with pytest.raises(bc.BroadcastError, match="dibatalkan"):
            await bc.cancel(s, b.id, actor="test")
    # The send on the wire fails transiently and comes back to the queue: cancelled, not retried.
    assert await outbox.mark_retry(sample, claimed[2].id, worker_id="w1", not_before=utcnow(), error="502")
    async with sample() as s:
        assert await bc.finish_due(s) == [b.id]
        await s.commit()
        t = await bc.tally(s, b.id)
        assert (await s.get(Broadcast, b.id)).finished_at is not None
    assert (t.delivered, t.cancelled, t.pending, t.not_linked) == (2, 4, 0, 6)
    async with sample() as s:
        assert await bc.finish_due(s) == []  # the final report is due once


async def test_cancel_a_scheduled_broadcast_sends_nothing(sample: async_sessionmaker[AsyncSession]) -> None:
    await link(sample, [await emp_id(sample, "Ahmad Fauzi")])
    at = utcnow() + timedelta(hours=1)
    b = await send(sample, bc.Audience(), scheduled_at=at)
    async with sample() as s:
        await bc.cancel(s, b.id, actor="test")
        await s.commit()
    assert await bc.start_due(sample, at + timedelta(hours=1)) == []
    assert await messages(sample, b.id) == []
    async with sample() as s:
        assert await bc.finish_due(s) == []  # nothing was sent, so there is no report to send


# ---- acknowledgement, report, export ----------------------------------------------------------------
async def test_ack_is_recorded_once(sample: async_sessionmaker[AsyncSession]) -> None:
    ahmad, aisyah = await emp_id(sample, "Ahmad Fauzi"), await emp_id(sample, "Nur Aisyah")
    await link(sample, [ahmad])
    b = await send(sample, bc.Audience(units=(await unit_id(sample, "Sub Bagian Tata Usaha"),)), ack=True)
    async with sample() as s:
        assert await bc.ack(s, b.id, ahmad) is True
        await s.commit()
        first = await s.scalar(select(BroadcastRecipient.acked_at).where(BroadcastRecipient.employee_id == ahmad))
        assert await bc.ack(s, b.id, ahmad) is False
        await s.commit()
        with pytest.raises(bc.NotRecipient):
            await bc.ack(s, b.id, aisyah)
        assert await s.scalar(select(BroadcastRecipient.acked_at).where(BroadcastRecipient.employee_id == ahmad)) == first
        assert (await bc.tally(s, b.id)).acked == 1


async def outcomes(sessions: async_sessionmaker[AsyncSession], broadcast_id: int, plan: dict[int, str]) -> None:
    """Record outcomes as the worker would: claim, then mark each message per employee."""
    while True:
        claimed = await outbox.claim(sessions, worker_id="w", limit=50)
        if not claimed:
            return
        for m in claimed:
            what = plan.get(m.employee_id, "sent")
            if what == "sent":
                await outbox.mark_sent(sessions, m.id, worker_id="w", telegram_message_id=m.id)
            elif what == "blocked":
                await outbox.mark_blocked(sessions, m.id, worker_id="w", chat_id=m.chat_id, error="403")
            elif what == "failed":
                await outbox.mark_failed(sessions, m.id, worker_id="w", error="400")
            elif what == "in_doubt":  # the worker died while the request was on the wire
                assert await outbox.mark_started(sessions, m.id, worker_id="w")
                later = utcnow() + timedelta(minutes=5)  # its lease has run out
                assert await outbox.settle_in_doubt(sessions, now=later) == outbox.Settled(uncertain=1, resent=0)
            else:
                await outbox.release(sessions, [m.id], worker_id="w")
                return


async def test_report_per_opd_and_exports(sample: async_sessionmaker[AsyncSession]) -> None:
    names = ["Hendra Gunawan", "Rina Marlina", "Ahmad Fauzi", "Dewi Lestari", "Joko Prasetyo", "Nur Aisyah",
             "Yusuf Hidayat", "Siti Rahmawati"]
    ids = {n: await emp_id(sample, n) for n in names}
    await link(sample, list(ids.values()))
    b = await send(sample, bc.Audience(), ack=True)
    await outcomes(sample, b.id, {ids["Joko Prasetyo"]: "blocked", ids["Yusuf Hidayat"]: "failed",
                                  ids["Siti Rahmawati"]: "in_doubt"})
    async with sample() as s:
        for n in ("Ahmad Fauzi", "Dewi Lestari", "Nur Aisyah"):
            assert await bc.ack(s, b.id, ids[n])
        await s.commit()
        r = await bc.report(s, b.id)
    per = {o.opd: (o.recipients, o.delivered, o.blocked, o.failed, o.not_linked, o.acked) for o in r.per_opd}
    assert per == {
        # Hendra, Sri (not linked), Rina, Ahmad, Dewi, Bambang (not linked), Fitri (not linked), Joko (blocked)
        "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia": (8, 4, 1, 0, 3, 2),
        "Dinas Kesehatan": (2, 0, 0, 0, 1, 0),  # Siti in doubt; dr. Agus not linked
        "Dinas Pendidikan": (2, 1, 0, 1, 0, 1),  # Aisyah; Yusuf failed
    }
    assert r.total.as_json() == {"recipients": 12, "linked": 8, "delivered": 5, "blocked": 1, "failed": 1,
                                 "pending": 0, "cancelled": 0, "uncertain": 1, "not_linked": 4, "acked": 3}
    assert r.total.complete
    assert "tidak pasti terkirim (pengiriman terputus): 1" in tb.report(r, JAKARTA)
    assert json.loads(json.dumps(r.as_json()))["per_opd"][0]["opd_id"] is not None

    async with sample() as s:
        rows = await bc.recipient_rows(s, b.id)
    by_name = {row.name: row for row in rows}
    assert len(rows) == 12
    assert by_name["Ahmad Fauzi"].unit == "Sub Bagian Tata Usaha"
    assert by_name["Drs. Hendra Gunawan, M.Si"].identifier == "197010051991101001"

    parsed = list(csv.reader(io.StringIO(bc.export_csv(rows, JAKARTA).decode("utf-8-sig")), delimiter=";"))
    assert parsed[0] == list(bc.EXPORT_HEADER)
    table = {line[2]: line for line in parsed[1:]}
    assert len(table) == 12
    assert table["Ahmad Fauzi"][:5] == ["Badan Kepegawaian dan Pengembangan Sumber Daya Manusia",
                                        "Sub Bagian Tata Usaha", "Ahmad Fauzi", "199001092014121001", "terkirim"]
    acked_local = by_name["Ahmad Fauzi"].acked_at.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M")
    assert table["Ahmad Fauzi"][5] == acked_local
    assert table["Joko Prasetyo"][3:] == ["TKK-2019-000123", "diblokir", ""]
    assert table["Sri Wahyuni, S.E., M.M."][4:] == ["belum tertaut", ""]
    assert table["Yusuf Hidayat, S.Pd., M.Pd."][4:] == ["gagal", ""]
    assert table["Siti Rahmawati, A.Md.Kep."][4:] == ["tidak pasti", ""]

    book = load_workbook(io.BytesIO(bc.export_xlsx(rows, JAKARTA)))
    sheet = book.active
    values = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(bc.EXPORT_HEADER)
    assert values[1:] == parsed[1:]


async def test_audit_says_who_sent_to_whom_without_the_text(sample: async_sessionmaker[AsyncSession]) -> None:
    await link(sample, [await emp_id(sample, "Ahmad Fauzi")])
    b = await send(sample, bc.Audience.build(statuses=["pns"], golongan=["II"]), ack=True)
    async with sample() as s:
        await bc.record_export(s, b.id, "csv", 3, actor="test")
        await s.commit()
        entries = (await s.execute(select(AuditLog.action, AuditLog.actor, AuditLog.detail)
                                   .where(AuditLog.action.like("broadcast%")).order_by(AuditLog.id))).all()
    assert [(a, who) for a, who, _ in entries] == [("broadcast_sent", "test"), ("broadcast_exported", "test")]
    sent = entries[0][2]
    assert sent["audience"] == {"units": [], "statuses": ["pns"], "golongan": ["II"], "eselon": []}
    assert (sent["recipients"], sent["queued"], sent["not_linked"]) == (2, 1, 1)  # Ahmad II/c, Siti II/c
    assert "PP 94" not in json.dumps([e[2] for e in entries])


async def test_staff_can_send_the_uncertain_ones_again(sample: async_sessionmaker[AsyncSession], db_url: str,
                                                        tmp_path: Path) -> None:
    """Messages left in doubt by a crash are not resent by themselves; an operator may decide
    that a possible second copy is better than a possible miss (from the terminal, audited)."""
    ahmad, dewi = await emp_id(sample, "Ahmad Fauzi"), await emp_id(sample, "Dewi Lestari")
    await link(sample, [ahmad, dewi])
    b = await send(sample, bc.Audience(units=(await unit_id(sample, "Sub Bagian Tata Usaha"),)))
    await outcomes(sample, b.id, {ahmad: "in_doubt"})
    async with sample() as s:
        t = await bc.tally(s, b.id)
        delivered = t.delivered
        assert t.uncertain == 1
        assert "resend-uncertain" in tb.report(await bc.report(s, b.id), JAKARTA)

    asked = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "resend-uncertain", str(b.id))
    assert asked.returncode == 0 and "1 pesan tidak pasti" in asked.stdout and "--yes" in asked.stdout
    async with sample() as s:
        assert (await bc.tally(s, b.id)).uncertain == 1  # nothing changed without --yes
    done = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "resend-uncertain", str(b.id), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 pesan" in done.stdout

    [again] = await outbox.claim(sample, worker_id="w2", limit=10)  # the worker sends it once more
    assert again.employee_id == ahmad
    assert await outbox.mark_sent(sample, again.id, worker_id="w2", telegram_message_id=99)
    async with sample() as s:
        t = await bc.tally(s, b.id)
        assert (t.delivered, t.uncertain, t.pending) == (delivered + 1, 0, 0)
        assert await bc.resend_uncertain(s, b.id, actor="test") == 0  # nothing left in doubt
        entries = (await s.execute(select(AuditLog.actor, AuditLog.detail)
                                   .where(AuditLog.action == "broadcast_uncertain_resent"))).all()
    assert len(entries) == 1 and entries[0][0].startswith("cli:") and entries[0][1]["messages"] == 1


# ---- the command line ----------------------------------------------------------------------------------
async def test_cli_send_report_export_cancel(sample: async_sessionmaker[AsyncSession], db_url: str,
                                             tmp_path: Path) -> None:
    await link(sample, [await emp_id(sample, n) for n in ("Ahmad Fauzi", "Dewi Lestari", "Nur Aisyah")])
    text_file = tmp_path / "pesan.html"
    text_file.write_text("<b>Apel pagi</b> Senin pukul 07.30.\n", encoding="utf-8")
    bkpsdm = await unit_id(sample, "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia")
    args = ["broadcast", "send", "--text-file", str(text_file), "--unit", str(bkpsdm), "--status", "pns", "--ack"]

    preview = await asyncio.to_thread(asnbot, db_url, tmp_path, *args)
    assert preview.returncode != 0
    assert "6 pegawai" in preview.stdout and "2 tertaut" in preview.stdout and "--yes" in preview.stdout
    async with sample() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0

    sent = await asyncio.to_thread(asnbot, db_url, tmp_path, *args, "--yes")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    async with sample() as s:
        b = await s.scalar(select(Broadcast))
        assert (b.status, b.ack, b.text) == (bc.SENDING, True, "<b>Apel pagi</b> Senin pukul 07.30.")
        assert b.created_by_label.startswith("cli:")
    assert len(await messages(sample, b.id)) == 2
    assert f"#{b.id}" in sent.stdout

    report = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "report", str(b.id), "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["total"]["recipients"] == 6 and data["total"]["pending"] == 2 and data["total"]["not_linked"] == 4

    out = tmp_path / "penerima.xlsx"
    exported = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "export", str(b.id), "--format", "xlsx",
                                       "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert load_workbook(out).active.max_row == 7

    cancelled = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "cancel", str(b.id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert {m.status for m in await messages(sample, b.id)} == {bc.MSG_CANCELLED}

    bad = tmp_path / "rusak.html"
    bad.write_text("<b>tidak ditutup", encoding="utf-8")
    refused = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "send", "--text-file", str(bad), "--yes")
    assert refused.returncode != 0 and "HTML" in refused.stderr

    later = await asyncio.to_thread(asnbot, db_url, tmp_path, "broadcast", "send", "--text-file", str(text_file),
                                    "--at", "2099-01-02 08:00", "--yes")
    assert later.returncode == 0, later.stderr
    async with sample() as s:
        scheduled = await s.scalar(select(Broadcast).where(Broadcast.status == bc.SCHEDULED))
    assert scheduled.scheduled_at == datetime(2099, 1, 2, 1, 0, tzinfo=timezone.utc)  # 08:00 WIB
