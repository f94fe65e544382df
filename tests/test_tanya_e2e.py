"""Tanya layanan end to end: answer, clarify, abstain with hand-off, smalltalk, reloads."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.local_api import LocalBotAPI
from handlers import texts
from knowledge.kb import ENTRIES_DIR
from services.models import HelpdeskQuestion, KnowledgeGap
from tests.harness import Running, make_settings, start_bot

EVAL = Path(__file__).resolve().parent / "kb_eval" / "questions.json"
HELPDESK = -100_777
ALICE = 6001
STAFF = 6100


def first_question(r: Running, outcome: str, intent: str | None = None) -> tuple[str, list[str]]:
    """A question (from the entries' examples and the eval set) the engine gives `outcome`
    (and, for answers, `intent`) for."""
    kb, engine = r.app.knowledge.kb, r.app.knowledge.engine
    pool = [q for e in kb.entries.values() for q in e.questions]
    if EVAL.exists():
        pool += [item["question"] for item in json.loads(EVAL.read_text(encoding="utf-8"))]
    for q in pool:
        result = engine.ask(q)
        if result.outcome == outcome and (outcome != "answer" or result.intent == intent):
            return q, [c.entry_id for c in result.candidates]
    raise AssertionError(f"no question in the pool gives {outcome}")


async def test_answer_with_section_buttons_and_related(running: Running) -> None:
    kb = running.app.knowledge.kb
    q, ids = first_question(running, "answer")
    entry = kb.get(ids[0])
    alice = running.api.user(ALICE)
    replies = await alice.send(q)
    card = replies[-1]
    assert entry.title in card.text
    assert {"Syarat", "Prosedur", "Dasar hukum"} <= {b for row in card.buttons for b in row}
    replies = await alice.press("Syarat", message=card)
    assert replies[-1].edited and replies[-1].message_id == card.message_id
    assert "Syarat" in replies[-1].text
    replies = await alice.press("Dasar hukum", message=card)
    assert entry.legal_basis[0].ref in replies[-1].text
    replies = await alice.press("Ringkasan", message=card)
    assert entry.title in replies[-1].text
    if entry.related:
        replies = await alice.press("Pertanyaan terkait", message=card)
        listing = replies[-1]
        first_related = next(kb.get(i) for i in entry.related if kb.get(i))
        assert first_related.title in [b for row in listing.buttons for b in row]
        replies = await alice.press(first_related.title, message=listing)
        assert first_related.title in replies[-1].text


async def test_a_question_about_requirements_opens_them_directly(running: Running) -> None:
    kb = running.app.knowledge.kb
    q, ids = first_question(running, "answer", intent="syarat")
    entry = kb.get(ids[0])
    replies = await running.api.user(ALICE).send(q)
    assert replies[-1].text.startswith(f"Syarat — {entry.title}")
    assert entry.requirements[0].item in replies[-1].text
    assert "Ringkasan" in [b for row in replies[-1].buttons for b in row]


async def test_clarify_offers_choices_then_answers(running: Running) -> None:
    kb = running.app.knowledge.kb
    q, ids = first_question(running, "clarify")
    alice = running.api.user(ALICE)
    replies = await alice.send(q)
    labels = [b for row in replies[-1].buttons for b in row]
    assert replies[-1].text == texts.clarify()
    assert labels[:-1] == [kb.get(i).title for i in ids] and 2 <= len(ids) <= 4
    replies = await alice.press(kb.get(ids[1]).title, message=replies[-1])
    assert kb.get(ids[1]).title in replies[-1].text


async def test_smalltalk_gets_a_friendly_reply(running: Running) -> None:
    replies = await running.api.user(ALICE).send("halo min selamat pagi")
    assert replies[-1].text and "belum tahu" not in replies[-1].text
    assert running.api.user(ALICE).reply_keyboard is not None


async def test_abstain_without_helpdesk_gives_contacts(running: Running) -> None:
    alice = running.api.user(ALICE)
    replies = await alice.send("qwertyuiop asdfgh zxcvb")
    assert "belum tahu" in replies[-1].text
    replies = await alice.press("Teruskan ke petugas BKPSDM")
    assert "Jl. Ir. H. Juanda" in replies[-1].text


async def test_handoff_round_trip_and_rating(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    r = await start_bot(make_settings(db_url, tmp_path, helpdesk_chat_id=HELPDESK), api)
    try:
        group = api.group(HELPDESK, "Helpdesk BKPSDM")
        alice = api.user(ALICE, first_name="Alice")
        question = "apakah boleh bawa kucing ke kantor 0812345678901"
        replies = await alice.send(question)
        assert "belum tahu" in replies[-1].text
        replies = await alice.press("Teruskan ke petugas BKPSDM")
        assert "#1" in replies[-1].text
        card = group.messages[-1]
        assert "Pertanyaan #1" in card.text and "kucing" in card.text
        # A double tap does not send the question twice.
        await alice.press("Teruskan ke petugas BKPSDM", message=alice.messages[-2])
        assert len(group.messages) == 1
        staff_replies = await group.reply_as(STAFF, "Budi", card, "Tidak boleh, mohon maaf.")
        assert "sudah dikirim" in staff_replies[-1].text
        answer = alice.messages[-1]
        assert "Jawaban petugas BKPSDM" in answer.text and "Tidak boleh" in answer.text
        await alice.press("👍 Membantu", message=answer)
        assert alice.callback_answers[-1].get("text") == texts.rating_thanks()
        async with r.app.sessions() as s:
            q = (await s.execute(select(HelpdeskQuestion))).scalar_one()
            assert (q.status, q.rating, q.answered_by) == ("answered", 1, "Budi")
            gaps = (await s.execute(select(KnowledgeGap.text))).scalars().all()
        # The gap list keeps the question's words, never the phone number in it.
        assert len(gaps) == 1 and "kucing" in gaps[0] and "0812345678901" not in gaps[0]
        # Staff chatter in the helpdesk group is not taken for questions.
        await group.send_as(STAFF, "Budi", "rapat jam 2 ya")
        assert len(group.messages) == 2  # only the bot's confirmation of the answer above
        # Nor is any other group the bot was added to.
        other = api.group(-100_555, "Grup OPD")
        await other.send_as(STAFF, "Budi", "syarat kenaikan pangkat")
        await other.send_as(STAFF, "Budi", "/start")
        assert other.messages == []
    finally:
        await r.stop()


async def test_rating_someone_elses_answer_does_nothing(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    r = await start_bot(make_settings(db_url, tmp_path, helpdesk_chat_id=HELPDESK), api)
    try:
        group = api.group(HELPDESK)
        alice, bob = api.user(ALICE), api.user(ALICE + 1)
        await alice.send("/petugas apakah ada koperasi pegawai")
        await group.reply_as(STAFF, "Budi", group.messages[-1], "Ada, di lantai 2.")
        await bob.send("/start")
        await bob._press_callback(bob.last_message, "hd:r:1:0", 10.0)  # forged on Bob's chat
        assert bob.callback_answers[-1].get("text") == texts.stale_button()
        async with r.app.sessions() as s:
            assert (await s.execute(select(HelpdeskQuestion.rating))).scalar_one() is None
    finally:
        await r.stop()


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, dest)
    return dest


async def test_broken_edit_keeps_the_previous_knowledge_base(
    db_url: str, tmp_path: Path, api: LocalBotAPI, kb_copy: Path
) -> None:
    r = await start_bot(make_settings(db_url, tmp_path, kb_dir=kb_copy, admin_telegram_ids=[STAFF]), api)
    try:
        admin = api.user(STAFF)
        victim = next(kb_copy.glob("sop-39-*.yaml"))
        good = victim.read_text(encoding="utf-8")
        victim.write_text(good.replace("id: sop-39", "id: sop-39\nbogus_field: 1"), encoding="utf-8")
        replies = await admin.send("/kbreload")
        assert "ditolak" in replies[-1].text and victim.name in replies[-1].text
        assert r.app.knowledge.kb.get("sop-39") is not None  # still serving the old one
        victim.write_text(good, encoding="utf-8")
        replies = await admin.send("/kbreload")
        assert "dimuat ulang" in replies[-1].text
        # Non-admins cannot reload.
        replies = await api.user(ALICE).send("/kbreload")
        assert "tidak dikenal" in replies[-1].text
    finally:
        await r.stop()


async def test_edits_are_picked_up_without_restart(
    db_url: str, tmp_path: Path, api: LocalBotAPI, kb_copy: Path
) -> None:
    import asyncio

    r = await start_bot(
        make_settings(db_url, tmp_path, kb_dir=kb_copy, admin_telegram_ids=[STAFF], kb_watch_seconds=0.1), api
    )
    try:
        admin = api.user(STAFF)
        await admin.send("/start")
        victim = next(kb_copy.glob("sop-39-*.yaml"))
        text = victim.read_text(encoding="utf-8")
        victim.write_text(re.sub(r"(?m)^title: .*$", "title: Kenaikan Pangkat Reguler Golongan III/d ke Bawah", text),
                          encoding="utf-8")
        for _ in range(50):
            if r.app.knowledge.kb.get("sop-39").title.startswith("Kenaikan Pangkat Reguler"):
                break
            await asyncio.sleep(0.1)
        assert r.app.knowledge.kb.get("sop-39").title == "Kenaikan Pangkat Reguler Golongan III/d ke Bawah"
        victim.write_text("id: [unclosed", encoding="utf-8")
        for _ in range(50):
            if "ditolak" in admin.last_text:
                break
            await asyncio.sleep(0.1)
        assert "ditolak" in admin.last_text
        assert r.app.knowledge.kb.get("sop-39") is not None
    finally:
        await r.stop()


async def test_bot_runs_without_a_valid_knowledge_base(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    empty = tmp_path / "kosong"
    empty.mkdir()
    r = await start_bot(make_settings(db_url, tmp_path, kb_dir=empty), api)
    try:
        alice = api.user(ALICE)
        replies = await alice.send("syarat kenaikan pangkat")
        assert "sedang dalam pemeliharaan" in replies[-1].text
        replies = await alice.send("/start")  # the rest of the bot works
        assert "Selamat datang" in replies[-1].text
    finally:
        await r.stop()


def test_every_knowledge_keyboard_fits_telegram() -> None:
    # What the handlers really send, for every entry: callback_data <= 64 bytes (Telegram's limit).
    from handlers import keyboards
    from tests.harness import shared_knowledge

    kb = shared_knowledge().kb
    entries = list(kb.entries.values())
    markups = [keyboards.entry_actions(e, current=c) for e in entries for c in ("card", "syarat", "prosedur", "dasar")]
    markups += [keyboards.related([(i, kb.get(i).title) for i in e.related if kb.get(i)]) for e in entries]
    markups.append(keyboards.clarify(entries[:4]))
    data = [b.callback_data for m in markups for row in m.inline_keyboard for b in row if b.callback_data]
    assert data and max(len(d.encode()) for d in data) <= 64


async def test_asking_for_a_person_goes_straight_to_staff(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    r = await start_bot(make_settings(db_url, tmp_path, helpdesk_chat_id=HELPDESK), api)
    try:
        group = api.group(HELPDESK)
        alice = api.user(ALICE)
        replies = await alice.send("saya mau bicara dengan petugas")
        assert "tulis pertanyaan Anda" in replies[-1].text
        replies = await alice.send("SK saya salah ketik nama, bagaimana membetulkannya?")
        assert "#1" in replies[-1].text
        assert "salah ketik nama" in group.messages[-1].text
        # Cancel works from that step too, and nothing is sent.
        await alice.send("minta cs dong")
        await alice.press(texts.BTN_CANCEL)
        assert len(group.messages) == 1
    finally:
        await r.stop()


async def test_own_dates_for_a_linked_employee(running: Running) -> None:
    from tests.test_bot_e2e import link_alice

    bob = running.api.user(ALICE + 50)
    replies = await bob.send("kapan KGB saya?")  # not linked: the general answer
    assert "(KGB) berikutnya:" not in replies[-1].text and "KGB" in replies[-1].text
    await link_alice(running)  # Ahmad Fauzi: TMT KGB 2024-12-01, born 1990-01-09, pelaksana
    alice = running.api.user(5001)
    replies = await alice.send("kapan KGB saya?")
    assert "Kenaikan gaji berkala (KGB) berikutnya: 1 Desember 2026" in replies[-1].text
    replies = await alice.send("sy pensiun thn berapa ya")
    assert "TMT pensiun: 1 Februari 2048" in replies[-1].text and "58 tahun" in replies[-1].text
    replies = await alice.send("kapan saya naik pangkat?")
    assert "Kenaikan pangkat paling cepat: 1 Oktober 2026" in replies[-1].text


async def test_own_cuti_balance(running: Running, tmp_path: Path) -> None:
    from datetime import date

    from services.cuti.saldo_import import import_saldo_cuti
    from tests.test_bot_e2e import link_alice

    await link_alice(running)
    alice = running.api.user(5001)
    replies = await alice.send("sisa cuti saya berapa?")
    assert "Sisa cuti tahunan Anda: 12 hari kerja" in replies[-1].text
    assert "Belum ada catatan cuti" in replies[-1].text
    year = date.today().year
    f = tmp_path / "saldo.csv"
    f.write_text(f"nip,tahun,sisa\n199001092014121001,{year - 1},4\n199001092014121001,{year},3\n", encoding="utf-8")
    await import_saldo_cuti(running.app.sessions, f)
    replies = await alice.send("sisa cuti sy brp ya")
    assert "Sisa cuti tahunan Anda: 7 hari kerja" in replies[-1].text
    assert f"{year - 1} (N-1): 4 hari" in replies[-1].text and "Belum ada catatan" not in replies[-1].text
