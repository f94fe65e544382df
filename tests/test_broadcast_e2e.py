"""Broadcasts end to end: a broadcaster composes in Telegram, the real bot (dispatcher, outbox
worker, progress loop) runs against the local Bot API over HTTP, recipients receive and press
"Sudah saya baca dan pahami"."""
from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.local_api import BotMessage, ChatClient, LocalBotAPI
from handlers import texts
from handlers import texts_broadcast as tb
from services import broadcast as bc
from services import roles
from services.models import Broadcast, BroadcastRecipient, Employee, TelegramAccount, utcnow
from tests.conftest import SAMPLE_CSV
from tests.harness import Running, make_settings, start_bot

DEWI_NIP = "198811302011022001"  # Bidang PKA, BKPSDM: the broadcaster
BKPSDM = "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia"
LINKED = ["Hendra Gunawan", "Rina Marlina", "Ahmad Fauzi", "Dewi Lestari", "Bambang Sutrisno", "Fitri Handayani",
          "Joko Prasetyo", "Nur Aisyah", "Siti Rahmawati"]
MESSAGE = "Mohon dibaca: PP 94/2021 tentang Disiplin PNS & tata tertib apel <pagi>."
CHAT_BASE = 7000  # chat id = CHAT_BASE + employee id


async def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def setup_people(r: Running, linked: list[str] = LINKED) -> dict[str, ChatClient]:
    """Link the named employees (as if they had shared their contact) and make Dewi a broadcaster."""
    async with r.app.sessions() as s:
        ids = dict((await s.execute(select(Employee.name, Employee.id))).all())
        for name in linked:
            s.add(TelegramAccount(telegram_user_id=CHAT_BASE + ids[name], chat_id=CHAT_BASE + ids[name],
                                  employee_id=ids[name], linked_at=utcnow()))
        await s.commit()
        await roles.grant(s, DEWI_NIP, "broadcaster", "", granted_by="test")
    chats = r.api.open_chats([CHAT_BASE + ids[n] for n in linked])
    return dict(zip(linked, chats))


async def add_linked_in_bkpsdm(sessions, n: int, *, chat_base: int) -> None:  # noqa: ANN001
    """``n`` more linked employees in Ahmad Fauzi's unit, chats chat_base, chat_base + 1, ..."""
    async with sessions() as s:
        unit = await s.scalar(select(Employee.unit_id).where(Employee.name == "Ahmad Fauzi"))
        for i in range(n):
            e = Employee(nip=f"1990010120{chat_base // 1000:02d}01{i:04d}", status="PNS", name=f"Pegawai {i}",
                         sex="L", birth_date=date(1990, 1, 1), unit_id=unit)
            s.add(e)
            await s.flush()
            s.add(TelegramAccount(telegram_user_id=chat_base + i, chat_id=chat_base + i, employee_id=e.id,
                                  linked_at=utcnow()))
        await s.commit()


def copies(chat: ChatClient) -> list[BotMessage]:
    return [m for m in chat.messages if m.text == MESSAGE]


async def compose_to_bkpsdm(dewi: ChatClient) -> None:
    replies = await dewi.send("/broadcast")
    assert "Siaran baru" in replies[-1].text
    replies = await dewi.send(MESSAGE)
    assert "Jumlah penerima: <b>12</b>" in replies[-1].html and "tertaut Telegram: <b>9</b>" in replies[-1].html
    replies = await dewi.press(tb.BTN_OPD)
    assert [BKPSDM] in replies[-1].buttons
    replies = await dewi.press(BKPSDM)
    screen = replies[-1]
    assert [f"✓ {BKPSDM}"] in screen.buttons
    # BKPSDM with its sub-units: 8 people, Sri Wahyuni not linked.
    assert "Jumlah penerima: 8" in screen.text and "tertaut Telegram: 7" in screen.text
    assert "belum tertaut (tidak menerima): 1" in screen.text
    replies = await dewi.press(tb.BTN_BACK)
    assert "OPD/unit: " + BKPSDM in replies[-1].text
    await dewi.press(tb.BTN_NEXT)


async def test_broadcast_to_a_unit_with_acknowledgement(running: Running) -> None:
    chats = await setup_people(running)
    dewi = chats["Dewi Lestari"]
    await compose_to_bkpsdm(dewi)
    replies = await dewi.press(tb.BTN_ACK_YES)
    assert replies[-1].buttons == [[tb.BTN_NOW, tb.BTN_LATER]]
    replies = await dewi.press(tb.BTN_NOW)

    # The preview is the message exactly as recipients get it, then the counts and the confirm.
    intro, preview, summary = replies[-3:]
    assert "Pratinjau" in intro.text
    assert preview.text == MESSAGE and preview.buttons == [[tb.BTN_ACK]]
    assert preview.html == "Mohon dibaca: PP 94/2021 tentang Disiplin PNS &amp; tata tertib apel &lt;pagi&gt;."
    assert "tertaut Telegram: 7" in summary.text and "belum tertaut (tidak menerima): 1" in summary.text
    assert summary.buttons == [[tb.BTN_CONFIRM_NOW, tb.BTN_DISCARD]]

    chats["Joko Prasetyo"].block()  # Joko has blocked the bot
    replies = await dewi.press(tb.BTN_CONFIRM_NOW)
    # (Her own copy may already be delivered too: she works in BKPSDM.)
    confirmed = next(m for m in replies if m.edited)
    assert "mulai dikirim ke 7 pegawai" in confirmed.text and confirmed.buttons == [[tb.BTN_STOP]]

    # Every linked recipient in BKPSDM gets it exactly once; nobody else gets anything.
    recipients = ["Hendra Gunawan", "Rina Marlina", "Ahmad Fauzi", "Bambang Sutrisno", "Fitri Handayani"]
    for name in recipients:
        await chats[name].wait_for(lambda m: m.text == MESSAGE, timeout=20)
    await dewi.wait_for(lambda m: "Laporan siaran" in m.text, timeout=30)
    for name in recipients:
        [got] = copies(chats[name])
        assert (got.text, got.buttons) == (MESSAGE, [[tb.BTN_ACK]]), name
    assert len(copies(dewi)) == 2  # her preview, and her own copy as a BKPSDM employee
    assert chats["Joko Prasetyo"].messages == []
    assert chats["Nur Aisyah"].messages == [] and chats["Siti Rahmawati"].messages == []

    # Progress in Dewi's chat, edited to the final count; then the report.
    def final_progress() -> BotMessage | None:
        return next((m for m in dewi.messages if m.text.startswith("✅ Siaran #1 selesai")), None)

    await wait_until(final_progress, what="the progress message edited to the end")
    progress = final_progress()
    assert "Terkirim 6 dari 7" in progress.text and "Memblokir bot 1" in progress.text and progress.buttons == []
    report = next(m for m in dewi.messages if "Laporan siaran" in m.text)
    assert "terkirim: 6" in report.text and "memblokir bot: 1" in report.text
    assert "belum tertaut Telegram: 1" in report.text and f"{BKPSDM}: 6/8, 0" in report.text
    assert report.buttons == [[tb.BTN_CSV, tb.BTN_XLSX]]
    async with running.app.sessions() as s:  # the blocked account is marked
        joko = await s.scalar(select(TelegramAccount).where(TelegramAccount.chat_id == chats["Joko Prasetyo"].user_id))
        assert joko.undeliverable_since is not None

    # Ahmad acknowledges; a second press is answered, not recorded again.
    ahmad = chats["Ahmad Fauzi"]
    [message] = copies(ahmad)
    await ahmad.press(tb.BTN_ACK, message=message)
    assert ahmad.callback_answers[-1]["text"] == tb.ack_thanks()
    assert copies(ahmad)[0].buttons == [[bc.ACK_DONE_LABEL]]
    await ahmad.press(bc.ACK_DONE_LABEL, message=message)
    assert ahmad.callback_answers[-1]["text"] == tb.ack_again()
    async with running.app.sessions() as s:
        acked = (await s.scalars(select(BroadcastRecipient.employee_id).where(
            BroadcastRecipient.acked_at.is_not(None)))).all()
        b = await s.scalar(select(Broadcast))
    assert len(acked) == 1 and b.status == bc.DONE

    # The report again, now with the acknowledgement, and the list for the unit head.
    replies = await dewi.send(f"/laporan {b.id}")
    assert "sudah membaca dan memahami: <b>1</b> dari 6" in replies[-1].html
    assert f"{BKPSDM}: 6/8, 1" in replies[-1].text
    replies = await dewi.press(tb.BTN_CSV, message=replies[-1])
    document = replies[-1]
    assert document.kind == "document" and document.document["file_name"] == f"siaran-{b.id}.csv"
    rows = list(csv.reader(io.StringIO(document.document["content"].decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(bc.EXPORT_HEADER) and len(rows) == 9
    status = {row[2]: (row[4], bool(row[5])) for row in rows[1:]}
    assert status["Ahmad Fauzi"] == ("terkirim", True)
    assert status["Joko Prasetyo"] == ("diblokir", False)
    assert status["Sri Wahyuni, S.E., M.M."] == ("belum tertaut", False)
    assert status["Rina Marlina, S.Sos."] == ("terkirim", False)


async def test_only_broadcasters_may_broadcast(running: Running) -> None:
    chats = await setup_people(running)
    ahmad = chats["Ahmad Fauzi"]
    for command in ("/broadcast", "/laporan 1", "/broadcast_batal 1"):
        replies = await ahmad.send(command)
        assert replies[-1].text == texts.unknown_command(command.split()[0])
    unlinked = running.api.user(9999)
    replies = await unlinked.send("/broadcast")
    assert "tidak dikenal" in replies[-1].text
    # A recipient's button does nothing for someone who was not sent the broadcast.
    async with running.app.sessions() as s:
        assert await s.scalar(select(Broadcast)) is None


async def test_schedule_then_cancel(running: Running) -> None:
    chats = await setup_people(running)
    dewi = chats["Dewi Lestari"]
    await compose_to_bkpsdm(dewi)
    await dewi.press(tb.BTN_ACK_NO)
    replies = await dewi.press(tb.BTN_LATER)
    assert "besok 08:00" in replies[-1].text
    replies = await dewi.send("kemarin 08:00")
    assert replies[-1].text == tb.bad_time().replace("<code>", "").replace("</code>", "")
    replies = await dewi.send("besok 08:00")
    summary = replies[-1]
    assert "Waktu kirim:" in summary.text and "pukul 08.00 WIB" in summary.text
    assert summary.buttons == [[tb.BTN_CONFIRM_LATER, tb.BTN_DISCARD]]
    replies = await dewi.press(tb.BTN_CONFIRM_LATER)
    assert "dijadwalkan" in replies[-1].text
    async with running.app.sessions() as s:
        b = await s.scalar(select(Broadcast))
        assert b.status == bc.SCHEDULED and b.scheduled_at > utcnow()
    replies = await dewi.send(f"/broadcast_batal {b.id}")
    assert "dibatalkan sebelum dikirim" in replies[-1].text
    await asyncio.sleep(1.5)  # a round of the progress loop
    assert all(c.messages == [] for name, c in chats.items() if name != "Dewi Lestari")


async def test_document_to_a_sub_unit_found_by_name(running: Running) -> None:
    chats = await setup_people(running)
    dewi = chats["Dewi Lestari"]
    pdf = b"%PDF-1.4 Peraturan Pemerintah 94/2021 " * 200
    await dewi.send("/broadcast")
    replies = await dewi.send_document(pdf, "PP 94 Tahun 2021.pdf", "application/pdf", caption="Salinan PP 94/2021")
    assert "Penerima siaran" in replies[-1].text
    replies = await dewi.send("penilaian kinerja")
    label = f"Bidang Penilaian Kinerja Aparatur · {BKPSDM}"
    assert [label] in replies[-1].buttons
    replies = await dewi.press(label)
    assert "Jumlah penerima: 2" in replies[-1].text  # Dewi and Bambang
    await dewi.press(tb.BTN_BACK)
    await dewi.press(tb.BTN_NEXT)
    await dewi.press(tb.BTN_ACK_NO)
    replies = await dewi.press(tb.BTN_NOW)
    preview = replies[-2]
    assert (preview.kind, preview.text, preview.buttons) == ("document", "Salinan PP 94/2021", [])
    assert preview.document["file_name"] == "PP 94 Tahun 2021.pdf" and preview.document["content"] == pdf
    await dewi.press(tb.BTN_CONFIRM_NOW)
    bambang = chats["Bambang Sutrisno"]
    got = await bambang.wait_for(lambda m: m.kind == "document", timeout=20)
    assert (got.text, got.document["file_name"], got.document["content"]) == ("Salinan PP 94/2021",
                                                                            "PP 94 Tahun 2021.pdf", pdf)
    await dewi.wait_for(lambda m: "Laporan siaran" in m.text, timeout=30)
    assert len([m for m in bambang.messages if m.kind == "document"]) == 1
    assert chats["Ahmad Fauzi"].messages == []


async def test_stopping_the_bot_mid_broadcast_and_starting_again_sends_everyone_one_copy(
    db_url: str, tmp_path, api  # noqa: ANN001
) -> None:
    """The bot stops (deploy, SIGTERM) in the middle of a broadcast and a new process starts:
    every recipient still gets the message exactly once."""
    from services.importer import import_pegawai

    settings = make_settings(db_url, tmp_path, send_rate_global=8, send_rate_margin=1)
    first = await start_bot(settings, api)
    await import_pegawai(first.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    await add_linked_in_bkpsdm(first.app.sessions, 60, chat_base=20_000)
    async with first.app.sessions() as s:
        b = await bc.create(s, text="Apel pagi <b>Senin</b>", audience=bc.Audience(), created_by_label="test")
        await bc.confirm(s, b.id, actor="test")
        await s.commit()
    chats = api.open_chats(range(20_000, 20_060))
    await wait_until(lambda: sum(bool(c.messages) for c in chats) >= 15, what="a first part delivered")
    await first.stop()
    delivered_before = sum(bool(c.messages) for c in chats)
    assert delivered_before < 60
    second = await start_bot(settings, api)
    try:
        await wait_until(lambda: all(c.messages for c in chats), timeout=30, what="the rest delivered")
        await asyncio.sleep(0.5)
        assert [len(c.messages) for c in chats] == [1] * 60
        async with second.app.sessions() as s:
            t = await bc.tally(s, b.id)
        assert (t.delivered, t.pending) == (60, 0)
    finally:
        await second.stop()


async def test_killing_the_sender_mid_broadcast_and_starting_again_sends_nobody_two_copies(
    db_url: str, sessions, tmp_path: Path  # noqa: ANN001
) -> None:
    """The bot process is killed hard (SIGKILL: no clean-up) while requests are on the wire, and
    a new process takes over: every recipient gets the broadcast, nobody gets it twice. What was
    on the wire at the kill is left in doubt (Telegram had it), not sent again."""
    from services.importer import import_pegawai
    from services import outbox
    from services.models import OutboxMessage
    from tests.conftest import TEST_KEY
    from tests.webhook_harness import BotProcess, process_env

    await import_pegawai(sessions, SAMPLE_CSV, verification_key=TEST_KEY)
    await add_linked_in_bkpsdm(sessions, 60, chat_base=30_000)
    async with LocalBotAPI(deliver_webhooks=True) as api:
        api.answer_delay = 0.4  # about three requests on the wire at any moment
        chats = api.open_chats(range(30_000, 30_060))
        env = process_env(api, db_url, tmp_path / "var", SEND_RATE_GLOBAL="8", SEND_RATE_MARGIN="1",
                          REMINDER_TIME="")
        first = BotProcess(env, tmp_path / "first", name="first")
        first.start()
        await first.wait_ready()
        async with sessions() as s:
            b = await bc.create(s, text="Apel pagi <b>Senin</b>", audience=bc.Audience(), created_by_label="test")
            await bc.confirm(s, b.id, actor="test")
            await s.commit()
        await wait_until(lambda: sum(bool(c.messages) for c in chats) >= 15, timeout=30, what="a first part")
        first.proc.kill()  # SIGKILL
        first.proc.wait(10)
        second = BotProcess(env, tmp_path / "second", name="second")
        second.start()
        try:
            await second.wait_ready()

            async def settled() -> tuple[list[int], set[int]]:
                async with sessions() as s:
                    rows = (await s.execute(select(OutboxMessage.chat_id, OutboxMessage.status,
                                                   OutboxMessage.send_started_at)
                                            .where(OutboxMessage.broadcast_id == b.id))).all()
                in_doubt = {c for c, status, started in rows if status == outbox.PENDING and started is not None}
                waiting = [c for c, status, started in rows if status == outbox.PENDING and started is None]
                return waiting, in_doubt

            deadline = time.monotonic() + 60
            while (await settled())[0]:
                assert time.monotonic() < deadline, f"not delivered: {(await settled())[0]}"
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
            _, in_doubt = await settled()
        finally:
            assert second.stop() == 0, second.output()[-3000:]
    assert [len(c.messages) for c in chats] == [1] * 60
    # Requests were on the wire at the kill; they reached "Telegram" and stayed sent once.
    assert in_doubt and in_doubt <= {c.user_id for c in chats}


async def test_filters_on_buttons_with_a_running_count_and_discarding_the_draft(running: Running) -> None:
    chats = await setup_people(running)
    dewi = chats["Dewi Lestari"]
    await dewi.send("/broadcast")
    await dewi.send(MESSAGE)
    replies = await dewi.press(tb.BTN_STATUS)
    assert replies[-1].buttons[0] == ["PNS", "PPPK", "Non-PNS"]
    replies = await dewi.press("PNS")
    assert replies[-1].buttons[0][0] == "✓ PNS" and "Jumlah penerima: 10" in replies[-1].text  # CPNS included
    replies = await dewi.press(tb.BTN_BACK)
    assert "Status: PNS (termasuk CPNS)" in replies[-1].text and [f"{tb.BTN_OPD}", f"{tb.BTN_STATUS} (1)"] \
        in replies[-1].buttons
    await dewi.press(tb.BTN_GOLONGAN)
    replies = await dewi.press("III")
    assert "Jumlah penerima: 5" in replies[-1].text  # Rina, Dewi, Bambang, Aisyah, dr. Agus
    replies = await dewi.send("IV/a")  # a typed golongan: Yusuf Hidayat
    assert "Jumlah penerima: 6" in replies[-1].text and "✓ IV/a" in replies[-1].buttons[1]
    await dewi.press(tb.BTN_BACK)
    await dewi.press(tb.BTN_ESELON)
    replies = await dewi.press("IV")
    assert "Jumlah penerima: 2" in replies[-1].text  # Rina and dr. Agus (IV.a)
    replies = await dewi.press(tb.BTN_BACK)
    assert "Golongan: III, IV/a" in replies[-1].text and "Eselon: IV" in replies[-1].text
    replies = await dewi.press(tb.BTN_EVERYONE)
    assert "Semua pegawai aktif" in replies[-1].text and "Jumlah penerima: <b>12</b>" in replies[-1].html
    await dewi.press(tb.BTN_NEXT)
    await dewi.press(tb.BTN_ACK_NO)
    replies = await dewi.press(tb.BTN_NOW)
    assert replies[-2].buttons == []  # no acknowledgement button
    replies = await dewi.press(tb.BTN_DISCARD)
    assert "tidak dikirim" in replies[-1].text
    async with running.app.sessions() as s:
        b = await s.scalar(select(Broadcast))
        assert b.status == bc.CANCELLED and await bc.tally(s, b.id) == bc.Tally()
    await asyncio.sleep(1.5)
    assert all(c.messages == [] for name, c in chats.items() if name != "Dewi Lestari")


async def test_stop_button_halts_a_running_broadcast(db_url: str, tmp_path, api) -> None:  # noqa: ANN001
    from services.importer import import_pegawai

    settings = make_settings(db_url, tmp_path, send_rate_global=4, send_rate_margin=1)
    r = await start_bot(settings, api)
    try:
        await import_pegawai(r.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
        chats = await setup_people(r, ["Dewi Lestari"])
        dewi = chats["Dewi Lestari"]
        async with r.app.sessions() as s:
            unit = await s.scalar(select(Employee.unit_id).where(Employee.name == "Ahmad Fauzi"))
            for i in range(40):
                e = Employee(nip=f"19900101201501{i:04d}", status="PNS", name=f"Pegawai {i}", sex="L",
                             birth_date=date(1990, 1, 1), unit_id=unit)
                s.add(e)
                await s.flush()
                s.add(TelegramAccount(telegram_user_id=20_000 + i, chat_id=20_000 + i, employee_id=e.id,
                                      linked_at=utcnow()))
            b = await bc.create(s, text="Apel pagi <b>Senin</b>", audience=bc.Audience.build(statuses=["pns"]),
                                created_by_label=f"telegram:{dewi.user_id}", report_chat_id=dewi.user_id)
            await bc.confirm(s, b.id, actor="test")
            await s.commit()
        others = api.open_chats(range(20_000, 20_040))
        progress = await dewi.wait_for(lambda m: m.text.startswith(f"📤 Siaran #{b.id}"), timeout=15)
        assert progress.buttons == [[tb.BTN_STOP]]
        await wait_until(lambda: sum(bool(c.messages) for c in others) >= 4, what="some deliveries")
        replies = await dewi.press(tb.BTN_STOP, message=progress)
        assert "dihentikan" in replies[-1].text
        report = await dewi.wait_for(lambda m: "Laporan siaran" in m.text, timeout=20)
        assert "(dihentikan)" in report.text and "dibatalkan:" in report.text
        delivered = sum(len(c.messages) for c in others)
        await asyncio.sleep(2)
        assert sum(len(c.messages) for c in others) == delivered < 40  # nothing more after the stop
        async with r.app.sessions() as s:
            t = await bc.tally(s, b.id)
        assert t.pending == 0 and t.cancelled > 0 and t.delivered + t.cancelled == t.linked
        await wait_until(lambda: dewi.messages[dewi.messages.index(progress)].text.startswith("⛔"),
                         what="the progress message showing the stop")
    finally:
        await r.stop()
