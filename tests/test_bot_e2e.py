"""End to end: a user talks to the real bot over HTTP through the local Bot API server."""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.local_api import LocalBotAPI
from handlers import texts
from services.importer import import_pegawai
from services.linking import LinkingService
from services.models import AuditLog, LinkCode, TelegramAccount, utcnow
from tests.conftest import SAMPLE_CSV
from tests.harness import Running, make_settings, start_bot

FAUZI_NIP = "199001092014121001"  # Ahmad Fauzi, BKPSDM, phone 081210000004, NIK ...900004
FAUZI_PHONE = "6281210000004"
FAUZI_NIK6 = "900004"
AISYAH_NIP = "199204022024032001"
ALICE, BOB = 5001, 5002


async def audit_actions(r: Running, telegram_id: int) -> list[tuple[str, str | None]]:
    async with r.app.sessions() as s:
        rows = await s.execute(
            select(AuditLog.action, AuditLog.detail).where(AuditLog.actor_telegram_id == telegram_id).order_by(AuditLog.id)
        )
        return [(a, (d or {}).get("reason")) for a, d in rows.all()]


async def link_alice(r: Running) -> None:
    alice = r.api.user(ALICE, first_name="Fauzi")
    await alice.send("/start")
    await alice.press(texts.BTN_SHARE_PHONE, phone="+62 812-1000-0004")
    replies = await alice.send(FAUZI_NIK6)
    assert "berhasil ditautkan" in replies[-1].text


async def issue_code(r: Running, nip: str) -> str:
    async with r.app.sessions() as s:
        code, _, _ = await LinkingService(s, r.app.settings.verification_secret, r.app.link_policy).issue_code(
            nip, created_by="test"
        )
    return code


# ---- start and menu -------------------------------------------------------------------------
async def test_start_unlinked_explains_and_offers_linking(running: Running) -> None:
    user = running.api.user(ALICE)
    replies = await user.send("/start")
    assert len(replies) == 1
    assert "asnbot" in replies[0].text and "tautkan" in replies[0].text.lower()
    contact_buttons = [b for row in user.reply_keyboard for b in row if b.get("request_contact")]
    assert [b["text"] for b in contact_buttons] == [texts.BTN_SHARE_PHONE]


async def test_commands_registered_with_set_my_commands(running: Running) -> None:
    names = [c["command"] for c in running.api.commands]
    assert names == [c for c, _ in texts.COMMANDS]


async def test_link_by_contact_and_nik_then_greeted_by_name(running: Running) -> None:
    await link_alice(running)
    alice = running.api.user(ALICE)
    assert "Ahmad Fauzi" in alice.last_text
    labels = [b["text"] for row in alice.reply_keyboard for b in row]
    assert labels == texts.MENU_ITEMS
    replies = await alice.send("/start")
    assert replies[0].text.startswith("Halo, Ahmad Fauzi")
    assert ("linked", None) in await audit_actions(running, ALICE)


@pytest.mark.parametrize("shared", ["6281210000004", "+6281210000004", "+62 812-1000-0004"])
async def test_contact_number_formats_are_normalised(running: Running, shared: str) -> None:
    user = running.api.user(ALICE)
    replies = await user.share_contact(shared)
    assert "digit terakhir NIK" in replies[-1].text


async def test_forwarded_contact_is_refused(running: Running) -> None:
    bob = running.api.user(BOB)
    replies = await bob.share_contact(FAUZI_PHONE, contact_user_id=ALICE)
    assert "bukan nomor Anda sendiri" in replies[-1].text
    # Not asked for NIK digits: the next message is not taken as a verification answer.
    replies = await bob.send(FAUZI_NIK6)
    assert "berhasil" not in replies[-1].text
    assert await audit_actions(running, BOB) == [("link_failed", "not_own_contact")]
    async with running.app.sessions() as s:
        assert (await s.execute(select(TelegramAccount))).first() is None


async def test_unknown_phone_points_to_link_code(running: Running) -> None:
    user = running.api.user(ALICE)
    replies = await user.share_contact("6289999999999")
    assert "belum terdaftar" in replies[-1].text and "/link" in replies[-1].text


async def test_wrong_nik_then_lockout_after_five_failures(running: Running) -> None:
    alice = running.api.user(ALICE)
    await alice.share_contact(FAUZI_PHONE)
    replies = await alice.send("123456")
    assert "tidak cocok" in replies[-1].text and "Sisa percobaan: 4" in replies[-1].text
    # Malformed answers are explained, not counted.
    replies = await alice.send("12ab")
    assert "6 digit" in replies[-1].text
    for _ in range(3):
        await alice.send("000000")
    replies = await alice.send("111111")
    assert re.search(r"coba lagi dalam <b>(59|60) menit</b>", replies[-1].html or "")
    # Locked: even the right digits, after sharing the contact again, are refused.
    replies = await alice.share_contact(FAUZI_PHONE)
    assert "Terlalu banyak percobaan" in replies[-1].text
    replies = await alice.send("/link ABCDEFGHJK")
    assert "Terlalu banyak percobaan" in replies[-1].text
    failures = [a for a in await audit_actions(running, ALICE) if a[0] == "link_failed"]
    assert failures == [("link_failed", "wrong_verification")] * 5
    # Another account is not affected by Alice's lockout.
    bob = running.api.user(BOB)
    replies = await bob.share_contact(FAUZI_PHONE)
    assert "digit terakhir NIK" in replies[-1].text


async def test_lockout_ends_after_the_window(running: Running) -> None:
    alice = running.api.user(ALICE)
    await alice.share_contact(FAUZI_PHONE)
    for _ in range(5):
        await alice.send("000000")
    async with running.app.sessions() as s:
        await s.execute(update(AuditLog).values(at=utcnow() - timedelta(minutes=61)))
        await s.commit()
    replies = await alice.share_contact(FAUZI_PHONE)
    assert "digit terakhir NIK" in replies[-1].text
    replies = await alice.send(FAUZI_NIK6)
    assert "berhasil ditautkan" in replies[-1].text


# ---- link codes -----------------------------------------------------------------------------
async def test_link_code_by_command_and_reuse_refused(running: Running) -> None:
    code = await issue_code(running, AISYAH_NIP)
    alice = running.api.user(ALICE)
    replies = await alice.send(f"/link {code.lower()}")
    assert "berhasil ditautkan" in replies[-1].text and "Nur Aisyah" in replies[-1].text
    bob = running.api.user(BOB)
    replies = await bob.send(f"/link {code}")
    assert "sudah pernah dipakai" in replies[-1].text
    assert await audit_actions(running, BOB) == [("link_failed", "code_used")]


async def test_link_code_by_deep_link(running: Running) -> None:
    code = await issue_code(running, AISYAH_NIP)
    alice = running.api.user(ALICE)
    replies = await alice.send(f"/start {code}")
    assert "berhasil ditautkan" in replies[-1].text


async def test_link_code_typed_after_button(running: Running) -> None:
    code = await issue_code(running, AISYAH_NIP)
    alice = running.api.user(ALICE)
    await alice.send("/start")
    replies = await alice.press(texts.BTN_HAVE_CODE)
    assert "kode tautan" in replies[-1].text
    replies = await alice.send(code)
    assert "berhasil ditautkan" in replies[-1].text


async def test_expired_link_code_refused(running: Running) -> None:
    code = await issue_code(running, AISYAH_NIP)
    async with running.app.sessions() as s:
        await s.execute(update(LinkCode).values(expires_at=utcnow() - timedelta(minutes=1)))
        await s.commit()
    alice = running.api.user(ALICE)
    replies = await alice.send(f"/link {code}")
    assert "kedaluwarsa" in replies[-1].text
    async with running.app.sessions() as s:
        assert (await s.execute(select(TelegramAccount))).first() is None


async def test_unknown_link_code_refused(running: Running) -> None:
    replies = await running.api.user(ALICE).send("/link ZZZZZZZZZZ")
    assert "tidak dikenal" in replies[-1].text


async def test_double_redemption_links_once(running: Running) -> None:
    code = await issue_code(running, AISYAH_NIP)
    key, policy = running.app.settings.verification_secret, running.app.link_policy
    from services.linking import Outcome, TelegramProfile

    async def redeem(uid: int) -> Outcome:
        async with running.app.sessions() as s:
            return (await LinkingService(s, key, policy).redeem_code(TelegramProfile(uid, uid), code)).outcome

    outcomes = await asyncio.gather(redeem(ALICE), redeem(BOB))
    assert sorted(outcomes) == sorted([Outcome.LINKED, Outcome.CODE_USED])


# ---- profile, unlink ------------------------------------------------------------------------
async def test_profile_shows_own_record(running: Running) -> None:
    await link_alice(running)
    alice = running.api.user(ALICE)
    replies = await alice.press(texts.MENU_PROFIL)
    text = replies[-1].text
    assert "Ahmad Fauzi" in text
    assert "19900109 201412 1 001" in text
    assert "Pengatur (II/c)" in text
    assert "Pengadministrasi Umum" in text
    assert "Sub Bagian Tata Usaha" in text
    assert "Status: PNS" in text
    assert "Rina Marlina" in text  # atasan langsung
    assert "3275010901900004" not in text  # the NIK is never shown (nor stored)


async def test_profile_needs_a_link(running: Running) -> None:
    replies = await running.api.user(BOB).send("/profil")
    assert "belum ditautkan" in replies[-1].text


async def test_unlink_with_confirmation(running: Running) -> None:
    await link_alice(running)
    alice = running.api.user(ALICE)
    replies = await alice.send("/unlink")
    assert "Putuskan tautan" in replies[-1].text
    replies = await alice.press(texts.BTN_UNLINK_YES)
    assert any("sudah diputus" in m.text for m in replies)
    assert alice.callback_answers, "the callback query must be answered"
    replies = await alice.send("/profil")
    assert "belum ditautkan" in replies[-1].text
    assert ("unlinked", "user_request") in await audit_actions(running, ALICE)


async def test_forged_unlink_button_only_touches_the_presser(running: Running) -> None:
    await link_alice(running)
    bob = running.api.user(BOB)
    await bob.send("/start")
    # Bob forges the unlink callback on his own chat: it can only ever concern Bob's account.
    await bob._press_callback(bob.last_message, "ul:y", 10.0)
    assert "belum ditautkan" in bob.last_text
    replies = await running.api.user(ALICE).send("/profil")
    assert "Ahmad Fauzi" in replies[-1].text


async def test_relinking_moves_the_employee_to_the_new_account(running: Running) -> None:
    await link_alice(running)
    bob = running.api.user(BOB)
    await bob.share_contact(FAUZI_PHONE)
    replies = await bob.send(FAUZI_NIK6)
    assert "berhasil ditautkan" in replies[-1].text
    replies = await running.api.user(ALICE).send("/profil")
    assert "belum ditautkan" in replies[-1].text


# ---- menu, fallbacks, errors ----------------------------------------------------------------
async def test_features_to_come_say_so(running: Running) -> None:
    await link_alice(running)
    alice = running.api.user(ALICE)
    for label in texts.COMING_SOON:  # what is built leaves this dict
        replies = await alice.press(label)
        assert "segera hadir" in replies[-1].text
    replies = await alice.press(texts.MENU_TANYA)
    assert "ketik pertanyaan" in replies[-1].text


async def test_help(running: Running) -> None:
    replies = await running.api.user(ALICE).send("/bantuan")
    assert "/unlink" in replies[-1].text and "BKPSDM" in replies[-1].text


async def test_unknown_command(running: Running) -> None:
    replies = await running.api.user(ALICE).send("/hapusdata")
    assert replies[-1].text.startswith("Perintah /hapusdata tidak dikenal")


async def test_stale_button_is_answered(running: Running) -> None:
    bob = running.api.user(BOB)
    await bob.send("/start")
    await bob._press_callback(bob.last_message, "xx:404", 10.0)
    assert bob.callback_answers[-1].get("text") == texts.stale_button()


async def test_unexpected_error_gives_reference_code(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    alice = running.api.user(ALICE)
    await alice.send("/start")
    running.api.fail_next("sendMessage", 500, "Internal Server Error")
    with caplog.at_level(logging.ERROR, logger="asnbot.errors"):
        replies = await alice.send("/bantuan")
    assert len(replies) == 1
    m = re.search(r"kode rujukan (ERR-[0-9A-F]{6})", replies[0].text)
    assert m, replies[0].text
    assert "Traceback" not in replies[0].text and "Internal Server Error" not in replies[0].text
    logged = [r for r in caplog.records if m.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None


# ---- state survives a restart -----------------------------------------------------------------
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


async def _redis_or_skip() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(TEST_REDIS_URL)
    try:
        await client.flushdb()
    except OSError as e:  # redis-py's ConnectionError is an OSError
        pytest.skip(f"no Redis at {TEST_REDIS_URL}: {e}")
    finally:
        await client.aclose()


@pytest.mark.parametrize("storage", ["database", "redis"])
async def test_half_done_link_survives_restart(db_url: str, tmp_path: Path, api: LocalBotAPI, storage: str) -> None:
    if storage == "redis":
        await _redis_or_skip()
    settings = make_settings(db_url, tmp_path, redis_url=TEST_REDIS_URL if storage == "redis" else None)
    first = await start_bot(settings, api)
    await import_pegawai(first.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
    alice = api.user(ALICE)
    replies = await alice.share_contact(FAUZI_PHONE)
    assert "digit terakhir NIK" in replies[-1].text
    if storage == "redis":  # the state really is in Redis, not in the database
        from redis.asyncio import Redis

        client = Redis.from_url(TEST_REDIS_URL)
        assert [k async for k in client.scan_iter(f"{settings.redis_key_prefix}:fsm:*{ALICE}*")]
        await client.aclose()
    await first.stop()
    second = await start_bot(settings, api)
    try:
        replies = await alice.send(FAUZI_NIK6)
        assert "berhasil ditautkan" in replies[-1].text
    finally:
        await second.stop()


# ---- staff ----------------------------------------------------------------------------------
async def test_admin_issues_link_code_in_telegram(db_url: str, tmp_path: Path, api: LocalBotAPI) -> None:
    settings = make_settings(db_url, tmp_path, admin_telegram_ids=[9001])
    r = await start_bot(settings, api)
    try:
        await import_pegawai(r.app.sessions, SAMPLE_CSV, verification_key=settings.verification_secret)
        # A non-admin learns nothing: the command looks unknown.
        replies = await api.user(BOB).send(f"/kodetautan {AISYAH_NIP}")
        assert "tidak dikenal" in replies[-1].text
        replies = await api.user(9001).send(f"/kodetautan {AISYAH_NIP}")
        m = re.search(r"/link ([A-Z0-9]{10})", replies[-1].text)
        assert m and "Nur Aisyah" in replies[-1].text and "WIB" in replies[-1].text
        assert f"t.me/{api.bot_username}?start={m.group(1)}" in replies[-1].text
        replies = await api.user(ALICE).send(f"/link {m.group(1)}")
        assert "berhasil ditautkan" in replies[-1].text
    finally:
        await r.stop()
