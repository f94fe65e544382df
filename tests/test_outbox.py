"""The transactional outbox (services/outbox.py) and its delivery worker (bot/sender.py), sending
through the real aiogram Bot to the local Bot API over HTTP. Runs on SQLite, and on PostgreSQL
with TEST_DATABASE_URL."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import ReachableAgain, build_bot
from bot.local_api import BotMessage, ChatClient, LocalBotAPI, TelegramLimits
from bot.sender import OutboxWorker
from services import outbox
from services.db import make_engine, make_sessionmaker
from services.models import Employee, OutboxMessage, TelegramAccount, Unit, utcnow
from tests.harness import Running, make_settings

JAKARTA = ZoneInfo("Asia/Jakarta")
FAST = {"send_rate_global": 1000, "send_rate_per_chat": 100, "send_rate_per_group": 6000, "send_rate_margin": 1}


# ---- helpers --------------------------------------------------------------------------------
@dataclass
class Worker:
    worker: OutboxWorker
    bot: Bot
    task: asyncio.Task[None] = field(init=False)

    def start(self) -> Worker:
        self.task = asyncio.create_task(self.worker.run())
        return self

    async def stop(self) -> None:
        await self.worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.bot.session.close()


@pytest.fixture
async def workers(db_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Worker]]:
    """Start delivery workers: ``workers(api, sessions, **settings)``; all stopped at the end."""
    started: list[Worker] = []

    def start(api: LocalBotAPI, sessions: async_sessionmaker[AsyncSession], *, worker_id: str | None = None,
              options: dict | None = None, **settings: object) -> Worker:
        s = make_settings(db_url, tmp_path, **settings)
        bot = build_bot(api.token, api.base_url)
        w = Worker(OutboxWorker(sessions, bot, s, worker_id=worker_id, **(options or {})), bot).start()
        started.append(w)
        return w

    yield start
    for w in started:
        await w.stop()


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def wait_settled(sessions: async_sessionmaker[AsyncSession], timeout: float = 15.0) -> list[OutboxMessage]:
    """Wait until no message is pending; returns all rows."""
    deadline = time.monotonic() + timeout
    while True:
        current = await rows(sessions)
        if all(r.status != outbox.PENDING for r in current):
            return current
        if time.monotonic() > deadline:
            pending = [(r.id, r.chat_id, r.not_before, r.locked_by) for r in current if r.status == outbox.PENDING]
            raise AssertionError(f"still pending: {pending}")
        await asyncio.sleep(0.05)


async def enqueue_texts(sessions: async_sessionmaker[AsyncSession], messages: list[tuple[int, str]],
                        **options: object) -> None:
    async with sessions() as s:
        for chat_id, text in messages:
            assert await outbox.enqueue(s, chat_id=chat_id, text=text, dedupe_key=f"t:{chat_id}:{text}", **options)
        await s.commit()


async def add_employee(s: AsyncSession, n: int, *, chat_id: int | None = None) -> Employee:
    unit = await s.scalar(select(Unit).where(Unit.code == "test"))
    if unit is None:
        unit = Unit(code="test", name="Unit Uji")
        s.add(unit)
        await s.flush()
    emp = Employee(nip=f"19900101201401{n:04d}", status="pns", name=f"Pegawai {n}", sex="L",
                   birth_date=date(1990, 1, 1), unit_id=unit.id)
    s.add(emp)
    await s.flush()
    if chat_id is not None:
        s.add(TelegramAccount(telegram_user_id=chat_id, chat_id=chat_id, employee_id=emp.id, linked_at=utcnow()))
        await s.flush()
    return emp


def texts_of(chat: ChatClient) -> list[str]:
    return [m.text for m in chat.messages]


# ---- writing: the caller's transaction, dedupe ----------------------------------------------
async def test_enqueue_is_part_of_the_callers_transaction(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat = api.open_chats([501])[0]
    # A long poll interval: only the wake-up after the commit can deliver within the test.
    workers(api, sessions, options={"poll_interval": 30})
    await asyncio.sleep(0.2)  # the worker has polled once and is now idle
    async with sessions() as s:
        emp = await add_employee(s, 1)
        assert await outbox.enqueue(s, chat_id=501, text="Tidak jadi", dedupe_key="rolled-back", employee_id=emp.id)
        await s.rollback()  # the change failed: its message must not exist either
    async with sessions() as s:
        emp = await add_employee(s, 2)
        assert await outbox.enqueue(s, chat_id=501, text="Pengajuan <b>diterima</b>", dedupe_key="committed",
                                    employee_id=emp.id)
        await s.commit()
    await wait_until(lambda: chat.messages, timeout=3, what="the committed message")
    assert texts_of(chat) == ["Pengajuan diterima"]
    assert chat.messages[0].entities[0]["type"] == "bold"  # HTML, the bot's parse mode
    [row] = await wait_settled(sessions)
    assert (row.dedupe_key, row.status, row.attempts) == ("committed", outbox.SENT, 1)
    assert row.telegram_message_id == chat.messages[0].message_id and row.sent_at is not None
    assert row.locked_by is None and row.locked_until is None
    assert [c["text"] for c in api.calls_of("sendMessage")] == ["Pengajuan <b>diterima</b>"]


async def test_dedupe_key_makes_a_message_exist_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        assert await outbox.enqueue(s, chat_id=1, text="a", dedupe_key="kgb:7:2026")
        assert not await outbox.enqueue(s, chat_id=1, text="a again", dedupe_key="kgb:7:2026")  # same session
        await s.commit()
    async with sessions() as s:
        assert not await outbox.enqueue(s, chat_id=1, text="next day", dedupe_key="kgb:7:2026")
        await s.commit()
    # Two transactions racing past the check: the unique constraint keeps one.
    async with sessions() as a, sessions() as b:
        assert await outbox.enqueue(a, chat_id=1, text="x", dedupe_key="race")
        assert await outbox.enqueue(b, chat_id=1, text="x", dedupe_key="race")
        await a.commit()
        with pytest.raises(IntegrityError):
            await b.commit()
    assert sorted(r.dedupe_key for r in await rows(sessions)) == ["kgb:7:2026", "race"]


async def test_enqueue_many_for_a_broadcast_skips_existing_keys(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chats = api.open_chats(range(301, 306))
    async with sessions() as s:
        assert await outbox.enqueue(s, chat_id=301, text="Pengumuman", dedupe_key="b:9:301", urgent=False)
        await s.commit()
    workers(api, sessions, options={"poll_interval": 30}, **FAST)  # woken by the commit only
    await wait_until(lambda: chats[0].messages, what="the single message")
    messages = [dict(chat_id=c.user_id, text="Pengumuman", dedupe_key=f"b:9:{c.user_id}", broadcast_id=9, urgent=False)
                for c in chats]
    async with sessions() as s:
        assert await outbox.enqueue_many(s, messages + messages[-1:]) == 4  # 301 exists, 305 repeats
        await s.commit()
    await wait_until(lambda: all(c.messages for c in chats), timeout=3, what="the broadcast")
    async with sessions() as s:
        assert await outbox.enqueue_many(s, messages) == 0
        await s.commit()
    settled = await wait_settled(sessions)
    assert len(settled) == 5 and {r.broadcast_id for r in settled[1:]} == {9}
    assert all(texts_of(c) == ["Pengumuman"] for c in chats)


async def test_enqueue_for_employee_needs_a_linked_account(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        linked = await add_employee(s, 1, chat_id=777)
        unlinked = await add_employee(s, 2)
        assert await outbox.enqueue_for_employee(s, linked.id, text="Halo", dedupe_key="a", urgent=False)
        assert not await outbox.enqueue_for_employee(s, unlinked.id, text="Halo", dedupe_key="b")
        await s.commit()
    [row] = await rows(sessions)
    assert (row.chat_id, row.employee_id, row.urgent, row.payload) == (777, linked.id, False, {"text": "Halo"})


def test_enqueue_rejects_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="needs a text"):
        asyncio.run(outbox.enqueue(None, chat_id=1, dedupe_key="k"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="document_path"):
        asyncio.run(outbox.enqueue(None, chat_id=1, dedupe_key="k", method="sendDocument"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported"):
        asyncio.run(outbox.enqueue(None, chat_id=1, text="x", dedupe_key="k", method="sendSticker"))  # type: ignore[arg-type]


# ---- sending ---------------------------------------------------------------------------------
async def test_messages_keyboards_and_documents_reach_the_user(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    first, second = api.open_chats([601, 602])
    (tmp_path / "broadcast").mkdir()
    pdf = b"%PDF-1.4 PP 94/2021 " * 100
    (tmp_path / "broadcast" / "pp-94-2021.pdf").write_bytes(pdf)
    keyboard = {"inline_keyboard": [[{"text": "Sudah saya baca dan pahami", "callback_data": "b:ack:1"}]]}
    async with sessions() as s:
        for chat_id in (601, 602):
            await outbox.enqueue(s, chat_id=chat_id, method="sendDocument", text="PP 94/2021 tentang Disiplin PNS",
                                 payload={"document_path": "broadcast/pp-94-2021.pdf", "file_name": "PP-94-2021.pdf"},
                                 reply_markup=keyboard, dedupe_key=f"b:1:{chat_id}", broadcast_id=1, urgent=False)
        await outbox.enqueue(s, chat_id=601, text="Cek tombol", reply_markup=keyboard, dedupe_key="k")
        await s.commit()
    workers(api, sessions, **FAST)
    settled = await wait_settled(sessions)
    assert [r.status for r in settled] == [outbox.SENT] * 3
    for chat in (first, second):
        [doc] = [m for m in chat.messages if m.kind == "document"]
        assert (doc.kind, doc.text, doc.buttons) == ("document", "PP 94/2021 tentang Disiplin PNS",
                                                     [["Sudah saya baca dan pahami"]])
        assert api.file_content(doc.document["file_id"]) == pdf
    assert [m.kind for m in first.messages] == ["text", "document"]  # urgent before the broadcast
    assert first.messages[1].document["file_name"] == "PP-94-2021.pdf"
    assert first.messages[0].buttons == [["Sudah saya baca dan pahami"]]
    # The PDF is uploaded once; the second recipient gets it by Telegram's file_id.
    uploads = api.calls_of("sendDocument")
    assert [isinstance(c["document"], str) for c in uploads] == [False, True]


async def test_a_missing_document_or_a_path_outside_data_dir_fails_without_retry(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    api.open_chats([603])
    async with sessions() as s:
        await outbox.enqueue(s, chat_id=603, method="sendDocument", payload={"document_path": "nope.pdf"}, dedupe_key="a")
        await outbox.enqueue(s, chat_id=603, method="sendDocument", payload={"document_path": "../../etc/passwd"},
                             dedupe_key="b")
        await s.commit()
    workers(api, sessions, **FAST)
    a, b = await wait_settled(sessions)
    assert (a.status, b.status) == (outbox.FAILED, outbox.FAILED)
    assert "FileNotFoundError" in a.last_error and "outside DATA_DIR" in b.last_error
    assert api.calls_of("sendDocument") == []


async def test_messages_to_one_chat_keep_their_order_and_spacing(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat = api.open_chats([604])[0]
    arrivals: list[float] = []
    chat.on_message = lambda m, edited: arrivals.append(time.monotonic())
    await enqueue_texts(sessions, [(604, f"Pesan {i}") for i in range(4)])
    workers(api, sessions, send_rate_per_chat=5, send_rate_margin=1)  # one per 0.2 s
    await wait_settled(sessions)
    assert texts_of(chat) == [f"Pesan {i}" for i in range(4)]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 0.19, gaps


# ---- Telegram's answers: 429, 403, 400, 5xx ----------------------------------------------------
async def test_429_no_send_to_that_chat_before_retry_after(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat, other = api.open_chats([701, 702])
    arrivals: dict[str, float] = {}
    chat.on_message = lambda m, edited: arrivals.setdefault(m.text, time.monotonic())
    workers(api, sessions, **FAST)
    await enqueue_texts(sessions, [(701, "nol")])
    await wait_until(lambda: chat.messages, what="the first message")
    # The worker wrote to this chat a moment ago, so a 429 now is this chat's limit.
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    started = time.monotonic()
    await enqueue_texts(sessions, [(701, "satu"), (701, "dua")])
    await wait_until(lambda: len(api.calls_of("sendMessage")) == 2, what="the refused attempt")
    await enqueue_texts(sessions, [(702, "chat lain")])
    await wait_until(lambda: other.messages, timeout=1.5, what="another chat served meanwhile")
    assert texts_of(chat) == ["nol"]
    await wait_settled(sessions)
    assert texts_of(chat) == ["nol", "satu", "dua"]  # the order is kept across the wait
    assert arrivals["satu"] - started >= 2.0
    assert [c["chat_id"] for c in api.calls_of("sendMessage")].count("701") == 4  # one refused
    satu = (await rows(sessions))[1]
    assert (satu.status, satu.attempts) == (outbox.SENT, 1)  # waiting for Telegram is not a failed attempt


async def test_403_marks_the_account_undeliverable_until_the_user_writes_again(running: Running) -> None:
    r = running
    user = r.api.user(7001, first_name="Fauzi")
    await user.send("/start")
    async with r.app.sessions() as s:
        emp = await add_employee(s, 9, chat_id=7001)
        await s.commit()
    user.block()
    async with r.app.sessions() as s:
        assert await outbox.enqueue_for_employee(s, emp.id, text="Pengajuan disetujui", dedupe_key="app:1:approved")
        await s.commit()
    [row] = await wait_settled(r.app.sessions)  # the app's own worker delivers
    assert row.status == outbox.BLOCKED and "blocked" in row.last_error
    async with r.app.sessions() as s:
        account = await s.scalar(select(TelegramAccount).where(TelegramAccount.chat_id == 7001))
        assert account.undeliverable_since is not None
    await user.send("/start")  # unblocks and writes again
    # The bot clears the mark in batches (bot/app.py ReachableAgain): within about a second.
    deadline = time.monotonic() + 3.0
    while True:
        async with r.app.sessions() as s:
            account = await s.scalar(select(TelegramAccount).where(TelegramAccount.chat_id == 7001))
        if account.undeliverable_since is None:
            break
        assert time.monotonic() < deadline, "the account is still marked undeliverable"
        await asyncio.sleep(0.05)
    async with r.app.sessions() as s:
        assert await outbox.enqueue_for_employee(s, emp.id, text="Surat siap", dedupe_key="app:1:letter")
        await s.commit()
    await wait_until(lambda: user.last_text == "Surat siap", what="delivery after the user came back")


async def test_writers_are_cleared_in_batches_and_on_stop(sessions: async_sessionmaker[AsyncSession]) -> None:
    """bot/app.py ReachableAgain: the first writer after a quiet spell at once, later ones with
    the next batch (here only the final flush on stop, the interval being long)."""
    async with sessions() as s:
        for n in (1, 2, 3, 4):
            await add_employee(s, n, chat_id=7100 + n)
        await s.execute(update(TelegramAccount).values(undeliverable_since=utcnow()))
        await s.commit()

    async def marked() -> set[int]:
        async with sessions() as s:
            return set((await s.scalars(select(TelegramAccount.telegram_user_id).where(
                TelegramAccount.undeliverable_since.is_not(None)))).all())

    reachable = ReachableAgain(sessions, interval=60)
    await reachable.start()
    reachable.add(7101)
    deadline = time.monotonic() + 3
    while 7101 in await marked():
        assert time.monotonic() < deadline, "the first writer was not cleared"
        await asyncio.sleep(0.02)
    reachable.add(7102)
    reachable.add(7103)
    await asyncio.sleep(0.2)
    assert await marked() == {7102, 7103, 7104}  # waiting for the next batch
    await reachable.stop()
    assert await marked() == {7104}  # never wrote: still undeliverable


async def test_400_is_recorded_and_not_retried(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    api.open_chats([703])
    await enqueue_texts(sessions, [(703, "Nilai <b>tidak ditutup"), (703, "berikutnya")])
    workers(api, sessions, **FAST)
    bad, good = await wait_settled(sessions)
    assert bad.status == outbox.FAILED and "can't parse entities" in bad.last_error and bad.attempts == 1
    assert good.status == outbox.SENT  # a refused message does not hold up the chat
    await asyncio.sleep(0.3)
    assert len(api.calls_of("sendMessage")) == 2


async def test_5xx_is_retried_with_backoff_then_given_up(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat = api.open_chats([704])[0]
    api.fail_next("sendMessage", 502, "Bad Gateway", count=2)
    await enqueue_texts(sessions, [(704, "akhirnya sampai")])
    workers(api, sessions, options={"retry_base": 0.1, "max_attempts": 3}, **FAST)
    [row] = await wait_settled(sessions)
    assert (row.status, row.attempts) == (outbox.SENT, 3)
    assert texts_of(chat) == ["akhirnya sampai"]

    api.fail_next("sendMessage", 500, "Internal Server Error", count=5)
    await enqueue_texts(sessions, [(704, "tidak pernah sampai")])
    settled = await wait_settled(sessions)
    assert (settled[1].status, settled[1].attempts) == (outbox.FAILED, 3)
    assert settled[1].last_error.startswith("gave up after 3 attempts")
    assert texts_of(chat) == ["akhirnya sampai"]


async def test_a_429_storm_is_obeyed(db_url: str, sessions: async_sessionmaker[AsyncSession],
                                     workers: Callable[..., Worker]) -> None:
    """Against a Bot API enforcing Telegram's limits, a worker configured too fast for one chat
    gets 429s and never sends before retry_after; everything arrives once, in order."""
    async with LocalBotAPI(enforce_limits=True) as api:
        chats = api.open_chats([801, 802, 803])
        await enqueue_texts(sessions, [(c.user_id, f"Pesan {i}") for i in range(3) for c in chats])
        workers(api, sessions, send_rate_per_chat=20, send_rate_margin=1)
        await wait_settled(sessions, timeout=20)
        stats = api.limits.stats
        assert stats.too_many_requests > 0 and stats.early_sends == 0 and stats.duplicates == 0
        for c in chats:
            assert texts_of(c) == ["Pesan 0", "Pesan 1", "Pesan 2"]


async def test_a_bot_wide_429_pauses_every_chat(sessions: async_sessionmaker[AsyncSession],
                                                workers: Callable[..., Worker]) -> None:
    async with LocalBotAPI(enforce_limits=TelegramLimits(per_second=3)) as api:
        chats = api.open_chats(range(900, 912))
        await enqueue_texts(sessions, [(c.user_id, "Pengumuman") for c in chats])
        # Configured for 100/s against 3/s; one request at a time, so none is already on the wire
        # when the 429 comes back.
        workers(api, sessions, options={"concurrency": 1}, send_rate_global=100, send_rate_margin=1)
        await wait_settled(sessions, timeout=20)
        stats = api.limits.stats
        assert stats.too_many_requests > 0 and stats.early_sends == 0 and stats.duplicates == 0
        assert all(texts_of(c) == ["Pengumuman"] for c in chats)


async def test_default_limits_cause_no_429(sessions: async_sessionmaker[AsyncSession],
                                           workers: Callable[..., Worker]) -> None:
    async with LocalBotAPI(enforce_limits=True) as api:
        chats = api.open_chats(range(1000, 1060))
        await enqueue_texts(sessions, [(c.user_id, "Pengumuman") for c in chats], urgent=False)
        started = time.monotonic()
        workers(api, sessions)  # SEND_RATE_GLOBAL=30, margin 0.93: 27.9 per second
        await wait_settled(sessions, timeout=20)
        elapsed = time.monotonic() - started
        stats = api.limits.stats
        assert (stats.delivered, stats.duplicates) == (60, 0)
        assert all(texts_of(c) == ["Pengumuman"] for c in chats)
        # The fake runs on the worker's event loop, so on a loaded machine its arrival times
        # jitter by tens of milliseconds and a rare 429 is possible; sending without the limit
        # gets about thirty.
        assert stats.too_many_requests <= 2, stats
        assert elapsed >= (60 - 29) / 27.9


async def test_no_second_holds_more_sends_than_the_margined_rate(
    db_url: str, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # 27.9 per second: the two-deep bucket alone lets 29 into one second (its burst plus the
    # steady rate), which a little network jitter turns into Telegram's 30.
    worker = OutboxWorker(sessions, build_bot("1:x", "http://127.0.0.1:9"), make_settings(db_url, tmp_path))
    try:
        assert worker.window_cap == 28
        times: list[float] = []

        async def one() -> None:
            assert await worker._global_slot()
            times.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(70)))
        busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert busiest <= 28
        assert times[-1] - times[0] < 70 / 27.9 + 0.5  # and the steady rate is kept
    finally:
        await worker.bot.session.close()


async def test_a_send_whose_marker_outlasted_a_429_goes_back_unstarted(
    db_url: str, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A bot-wide 429 that comes back while a send's start marker is being written: that send
    would reach Telegram inside the wait, so it is queued again, not in doubt, due after it."""
    await enqueue_texts(sessions, [(4100, "Pengumuman")])
    worker = OutboxWorker(sessions, build_bot("1:x", "http://127.0.0.1:9"), make_settings(db_url, tmp_path),
                          worker_id="w-held")
    try:
        [m] = await outbox.claim(sessions, worker_id="w-held", limit=5, lease_seconds=60)
        assert await outbox.mark_started(sessions, m.id, worker_id="w-held")
        assert not await worker._held_back(m)  # no wait asked: it goes
        worker._paused_until = time.monotonic() + 3  # what a 429 for another chat sets meanwhile
        assert await worker._held_back(m)
    finally:
        await worker.bot.session.close()
    [row] = await rows(sessions)
    assert (row.status, row.send_started_at, row.locked_by, row.attempts) == (outbox.PENDING, None, None, 0)
    assert 2 <= (row.not_before.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).total_seconds() <= 3.5
    assert await outbox.settle_in_doubt(sessions) == outbox.Settled(0, 0)  # not in doubt


# ---- several workers, crashes ----------------------------------------------------------------
async def test_two_claims_at_once_take_disjoint_rows(db_url: str, sessions: async_sessionmaker[AsyncSession]) -> None:
    await enqueue_texts(sessions, [(2000 + i, "x") for i in range(40)])
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        makers = [make_sessionmaker(e) for e in engines]
        a, b = await asyncio.gather(*(outbox.claim(m, worker_id=f"w{i}", limit=25) for i, m in enumerate(makers)))
    finally:
        for e in engines:
            await e.dispose()
    ids_a, ids_b = {m.id for m in a}, {m.id for m in b}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 40
    leased = {r.id: r.locked_by for r in await rows(sessions)}
    assert all(leased[i] == "w0" for i in ids_a) and all(leased[i] == "w1" for i in ids_b)


async def test_two_workers_on_one_database_send_nothing_twice(
    db_url: str, sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chats = api.open_chats(range(3000, 3040))
    await enqueue_texts(sessions, [(c.user_id, f"Pesan {i}") for i in range(2) for c in chats])
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        pair = [workers(api, make_sessionmaker(e), worker_id=f"w{i}", send_rate_per_chat=20, send_rate_global=1000,
                        send_rate_margin=1) for i, e in enumerate(engines)]
        await wait_settled(sessions, timeout=30)
        for w in pair:
            await w.stop()
    finally:
        for e in engines:
            await e.dispose()
    for c in chats:
        assert texts_of(c) == ["Pesan 0", "Pesan 1"]
    assert len(api.calls_of("sendMessage")) == 80
    assert sum(w.worker.stats["sent"] for w in pair) == 80


async def test_cancelled_worker_restarted_sends_every_message_once(
    sessions: async_sessionmaker[AsyncSession], workers: Callable[..., Worker]
) -> None:
    async with LocalBotAPI(enforce_limits=True) as api:
        chats = api.open_chats(range(4000, 4060))
        await enqueue_texts(sessions, [(c.user_id, "Peraturan baru") for c in chats], urgent=False)
        first = workers(api, sessions)  # 27.9 per second: about two seconds of work
        await wait_until(lambda: api.limits.stats.delivered >= 15, what="the first sends")
        first.task.cancel()  # the "crash"
        with contextlib.suppress(asyncio.CancelledError):
            await first.task
        half = await rows(sessions)
        sent = sum(r.status == outbox.SENT for r in half)
        assert 15 <= sent < 60
        # Nothing is left leased: the restart does not wait for a lease to expire.
        assert all(r.locked_by is None for r in half)
        workers(api, sessions)
        await wait_settled(sessions)
        assert api.limits.stats.duplicates == 0 and api.limits.stats.early_sends == 0
        assert all(texts_of(c) == ["Peraturan baru"] for c in chats)


async def test_a_new_sender_sends_what_a_dead_one_never_started_and_settles_what_was_in_doubt(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    # The claims' lease: long enough that a slow moment of a busy machine (CI) cannot blur
    # "sent at takeover" into "sent when the lease ran out".
    LEASE = 5.0
    chats = api.open_chats([5001, 5002, 5003, 5004])
    await enqueue_texts(sessions, [(5001, "a"), (5002, "b")])
    await enqueue_texts(sessions, [(5003, "c"), (5004, "d")], urgent=False)
    # A sender that claimed all four, had the requests of b and d on the wire, and was killed hard.
    assert await outbox.acquire_lease(sessions, holder="dead", ttl=0.5)
    dead = {m.chat_id: m for m in await outbox.claim(sessions, worker_id="dead", limit=10, lease_seconds=LEASE)}
    assert len(dead) == 4
    for chat in (5002, 5004):
        assert await outbox.mark_started(sessions, dead[chat].id, worker_id="dead")
    started = time.monotonic()
    alive = workers(api, sessions, options={"settle_every": 0.2, "standby_interval": 0.1}, **FAST)
    await wait_until(lambda: texts_of(chats[0]) == ["a"] and texts_of(chats[2]) == ["c"], what="a and c")
    # Not started: sent as soon as the new sender took over, not after their leases ran out.
    assert time.monotonic() - started < LEASE - 1.5
    assert texts_of(chats[1]) == [] and texts_of(chats[3]) == []
    final = {r.chat_id: r for r in await wait_settled(sessions)}
    assert time.monotonic() - started >= LEASE - 0.5  # in doubt: nothing decided before its lease ran out
    # In doubt: the person's own notice is sent again; the broadcast-like one is not, and says so.
    assert texts_of(chats[1]) == ["b"] and texts_of(chats[3]) == []
    assert final[5002].status == outbox.SENT and final[5004].status == outbox.UNCERTAIN
    assert "in doubt" in final[5004].last_error
    # The dead worker coming back cannot overwrite what the live one recorded, nor start a send.
    assert not await outbox.mark_failed(sessions, dead[5001].id, worker_id="dead", error="late")
    assert not await outbox.mark_sent(sessions, dead[5001].id, worker_id="dead", telegram_message_id=99)
    assert not await outbox.mark_started(sessions, dead[5001].id, worker_id="dead")
    assert alive.worker.stats["sent"] == 3


async def test_one_sender_at_a_time_and_another_takes_over_when_it_stops(
    db_url: str, sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chats = api.open_chats(range(5100, 5110))
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        pair = [workers(api, make_sessionmaker(e), worker_id=f"w{i}", options={"standby_interval": 0.1}, **FAST)
                for i, e in enumerate(engines)]
        await enqueue_texts(sessions, [(c.user_id, "satu") for c in chats])
        await wait_settled(sessions)
        sender, standby = sorted(pair, key=lambda w: -w.worker.stats["sent"])
        # Telegram's overall limit is per bot: one process sends, the other stands by.
        assert (sender.worker.stats["sent"], standby.worker.stats["sent"]) == (10, 0)
        assert sender.worker.is_sender and not standby.worker.is_sender
        await sender.stop()
        stopped = time.monotonic()
        await enqueue_texts(sessions, [(c.user_id, "dua") for c in chats])
        await wait_settled(sessions)
        # A stopping sender gives the lease back: no wait for it to run out (10 s).
        assert time.monotonic() - stopped < 5
        assert standby.worker.is_sender and standby.worker.stats["sent"] == 10
        await standby.stop()
    finally:
        for e in engines:
            await e.dispose()
    assert all(texts_of(c) == ["satu", "dua"] for c in chats)


async def test_a_new_sender_waits_out_the_last_second_of_the_old_one(
    sessions: async_sessionmaker[AsyncSession], workers: Callable[..., Worker]
) -> None:
    async with LocalBotAPI(enforce_limits=True) as api:
        chats = api.open_chats(range(5200, 5260))
        await enqueue_texts(sessions, [(c.user_id, "Peraturan baru") for c in chats], urgent=False)
        first = workers(api, sessions)
        await wait_until(lambda: api.limits.stats.delivered >= 20, what="the first sends")
        await first.stop()  # a deploy: SIGTERM
        last = first.worker._last_send_utc
        assert last is not None
        workers(api, sessions, options={"standby_interval": 0.1})
        final = await wait_settled(sessions)
        successor_starts = sorted(r.send_started_at for r in final if r.send_started_at > last)
        assert successor_starts and (successor_starts[0] - last).total_seconds() >= 0.99
        stats = api.limits.stats
        assert (stats.early_sends, stats.duplicates, stats.delivered) == (0, 0, 60)


async def test_a_bot_wide_pause_holds_for_the_next_sender_too(
    sessions: async_sessionmaker[AsyncSession], workers: Callable[..., Worker]
) -> None:
    async with LocalBotAPI(enforce_limits=TelegramLimits(per_second=3)) as api:
        chats = api.open_chats(range(5300, 5312))
        await enqueue_texts(sessions, [(c.user_id, "Pengumuman") for c in chats])
        # Far too fast for 3/s: Telegram soon tells the whole bot to wait; then a restart at once.
        first = workers(api, sessions, options={"concurrency": 1}, send_rate_global=100, send_rate_margin=1)
        await wait_until(lambda: api.limits.stats.too_many_requests >= 1, what="a bot-wide 429")
        await first.stop()
        workers(api, sessions, options={"concurrency": 1, "standby_interval": 0.1}, send_rate_global=100,
                send_rate_margin=1)
        await wait_settled(sessions, timeout=30)
        stats = api.limits.stats
        assert stats.early_sends == 0 and stats.duplicates == 0
        assert all(texts_of(c) == ["Pengumuman"] for c in chats)


# ---- quiet hours -------------------------------------------------------------------------------
def test_quiet_until() -> None:
    window = outbox.parse_quiet_hours("21:00-06:00")
    at = lambda d, h, m=0: datetime(2026, 3, d, h, m, tzinfo=JAKARTA).astimezone(timezone.utc)  # noqa: E731
    assert outbox.quiet_until(at(10, 22), window, JAKARTA) == at(11, 6)
    assert outbox.quiet_until(at(10, 5, 59), window, JAKARTA) == at(10, 6)
    assert outbox.quiet_until(at(10, 6), window, JAKARTA) is None
    assert outbox.quiet_until(at(10, 20, 59), window, JAKARTA) is None
    assert outbox.quiet_until(at(10, 13), outbox.parse_quiet_hours("12:00-13:30"), JAKARTA) == at(10, 13, 30)
    assert outbox.quiet_until(at(10, 13), None, JAKARTA) is None
    assert outbox.parse_quiet_hours(" ") is None
    with pytest.raises(ValueError):
        outbox.parse_quiet_hours("malam")


async def test_quiet_hours_defer_non_urgent_messages_only(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat = api.open_chats([6001])[0]
    now = datetime.now(JAKARTA)
    window = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"  # we are inside it
    async with sessions() as s:
        await outbox.enqueue(s, chat_id=6001, text="Pengingat KGB", dedupe_key="reminder", urgent=False)
        await outbox.enqueue(s, chat_id=6001, text="Pengajuan disetujui", dedupe_key="status")
        await s.commit()
    workers(api, sessions, quiet_hours=window, **FAST)
    await wait_until(lambda: chat.messages, what="the urgent message")
    await asyncio.sleep(0.3)
    assert texts_of(chat) == ["Pengajuan disetujui"]  # not held up behind the deferred reminder
    reminder = (await rows(sessions))[0]
    end = datetime.combine((now + timedelta(hours=1)).date(), dtime(*(int(x) for x in window[-5:].split(":"))),
                           tzinfo=JAKARTA)
    assert (reminder.status, reminder.not_before) == (outbox.PENDING, end.astimezone(timezone.utc))


async def test_outside_quiet_hours_everything_goes(
    sessions: async_sessionmaker[AsyncSession], api: LocalBotAPI, workers: Callable[..., Worker]
) -> None:
    chat = api.open_chats([6002])[0]
    now = datetime.now(JAKARTA)
    window = f"{now + timedelta(hours=1):%H:%M}-{now + timedelta(hours=2):%H:%M}"
    await enqueue_texts(sessions, [(6002, "Pengingat")], urgent=False)
    workers(api, sessions, quiet_hours=window, **FAST)
    await wait_settled(sessions)
    assert texts_of(chat) == ["Pengingat"]


# ---- wiring ------------------------------------------------------------------------------------
async def test_the_running_bot_delivers_the_outbox(running: Running) -> None:
    user = running.api.user(8001)
    await user.send("/start")
    async with running.app.sessions() as s:
        await outbox.enqueue(s, chat_id=8001, text="Dari kotak keluar", dedupe_key="wired")
        await s.commit()
    await wait_until(lambda: user.last_text == "Dari kotak keluar", timeout=5, what="delivery by the app's worker")
    [row] = await wait_settled(running.app.sessions)
    assert row.status == outbox.SENT
