"""The `asnbot` command as an administrator runs it: a real process on a real database."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from services.linking import LinkingService, Outcome, TelegramProfile
from services.models import AuditLog, Employee, StaffRole
from tests.conftest import SAMPLE_CSV, TEST_KEY


def cli_env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an administrator's shell: this database, no bot token unless given.
    Processes run with cwd=tmp_path, so no developer .env is picked up either."""
    env = {k: v for k, v in os.environ.items() if k not in {"TELEGRAM_BOT_TOKEN", "DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=db_url, VERIFICATION_KEY=TEST_KEY.decode(), DATA_DIR=str(tmp_path / "var"), **extra)
    return env


def asnbot(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env=cli_env(db_url, tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )


def test_help_lists_every_command(db_url: str, tmp_path: Path) -> None:
    out = asnbot(db_url, tmp_path, "--help")
    assert out.returncode == 0
    for cmd in ("run", "chat", "db", "import-pegawai", "seed-demo", "link-code", "role"):
        assert cmd in out.stdout


async def test_import_twice_then_link_code_works_in_the_bot(db_url: str, tmp_path: Path, sessions) -> None:  # noqa: ANN001
    first = asnbot(db_url, tmp_path, "import-pegawai", str(SAMPLE_CSV))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "12 ditambah" in first.stdout
    second = asnbot(db_url, tmp_path, "import-pegawai", str(SAMPLE_CSV))
    assert second.returncode == 0
    assert "0 ditambah, 0 diubah, 12 tidak berubah" in second.stdout

    out = asnbot(db_url, tmp_path, "link-code", "19900109 201412 1 001", "--bot", "asnbot_bekasi")
    assert out.returncode == 0, out.stderr
    code = re.search(r"/link ([A-Z0-9]{10})", out.stdout).group(1)
    assert f"https://t.me/asnbot_bekasi?start={code}" in out.stdout
    async with sessions() as s:
        result = await LinkingService(s, TEST_KEY).redeem_code(TelegramProfile(42, 42), code)
        assert result.outcome is Outcome.LINKED and result.employee.name == "Ahmad Fauzi"
        issued = (await s.execute(select(func.count()).where(AuditLog.action == "link_code_issued"))).scalar_one()
        assert issued == 1


def test_link_code_for_unknown_nip_fails(db_url: str, tmp_path: Path) -> None:
    out = asnbot(db_url, tmp_path, "link-code", "199001092014121999")
    assert out.returncode == 1
    assert "Tidak ada pegawai aktif" in out.stderr


async def test_seed_demo_and_roles(db_url: str, tmp_path: Path, sessions) -> None:  # noqa: ANN001
    out = asnbot(db_url, tmp_path, "seed-demo", "--employees", "60", "--seed", "7")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "60 pegawai" in out.stdout
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Employee))).scalar_one() == 60
        nip = (await s.execute(select(Employee.nip).where(Employee.nip.is_not(None)).limit(1))).scalar_one()
    out = asnbot(db_url, tmp_path, "role", "grant", nip, "verifier", "--scope", "pkom")
    assert out.returncode == 0, out.stderr
    out = asnbot(db_url, tmp_path, "role", "list")
    assert f"verifier\tpkom\t{nip}" in out.stdout
    out = asnbot(db_url, tmp_path, "role", "grant", nip, "raja")
    assert out.returncode == 1 and "Peran tidak dikenal" in out.stderr
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(StaffRole))).scalar_one() == 1


def test_console_chat_links_a_demo_employee_and_shows_the_profile(db_url: str, tmp_path: Path) -> None:
    # What a newcomer types after `./run.sh` without a token (the first menu button shares the phone).
    env = cli_env(db_url, tmp_path)
    typed = "1\n081210000004\n900004\n👤 Profil saya\n/keluar\n"
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], input=typed, env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].startswith("TELEGRAM_BOT_TOKEN belum diisi")
    assert "data demo dimuat" in out.stdout
    assert "Akun berhasil ditautkan. Selamat datang, Ahmad Fauzi!" in out.stdout
    assert "NIP: 19900109 201412 1 001" in out.stdout
    assert "Atasan langsung: Rina Marlina, S.Sos." in out.stdout
    assert "Traceback" not in out.stderr


async def test_python_m_bot_with_a_token_runs_by_long_polling(db_url: str, tmp_path: Path) -> None:
    import asyncio
    import signal

    from bot.local_api import LocalBotAPI

    api = LocalBotAPI()
    await api.start()
    env = cli_env(db_url, tmp_path, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE=api.base_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        # Startup (migrations, demo data, knowledge index) registers the commands, then polls.
        # Generous: CI machines are shared; this waits for an event, it measures nothing.
        for _ in range(1800):
            if api.commands is not None or proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert api.commands is not None, f"the bot never called setMyCommands (exit code {proc.returncode})"
        user = api.user(77)
        await user.send("/start")
        for _ in range(100):  # production handles updates as tasks: the reply may trail the ack
            if user.messages:
                break
            await asyncio.sleep(0.05)
        assert "Selamat datang di asnbot" in user.last_text
        assert api.webhook_deleted
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await api.stop()
    assert proc.returncode == 0, err.decode()[-2000:]


def test_ask_json_answers_one_object_per_line_in_order(db_url: str, tmp_path: Path) -> None:
    import json

    questions = ["syarat kenaikan pangkat golongan III/c ke III/d", "halo selamat pagi", "zxcvbnm qwertyuiop"]
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", "-"], input="\n".join(questions) + "\n",
        env=cli_env(db_url, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    objects = [json.loads(line) for line in out.stdout.splitlines()]
    assert [o["question"] for o in objects] == questions
    assert objects[0]["outcome"] in {"answer", "clarify"}
    assert set(objects[0]["results"][0]) == {"id", "title", "service", "sop", "score"}
    assert any(39 in r["sop"] for r in objects[0]["results"])
    assert objects[1] == {"question": questions[1], "outcome": "smalltalk", "results": []}
    assert objects[2]["outcome"] == "abstain"


def test_ask_prints_the_answer_as_text(db_url: str, tmp_path: Path) -> None:
    out = asnbot(db_url, tmp_path, "ask", "cuti melahirkan berapa lama ya")
    assert out.returncode == 0, out.stderr
    assert "melahirkan" in out.stdout.lower() and "Dasar hukum" in out.stdout


def test_kb_check_passes_and_names_a_broken_file(db_url: str, tmp_path: Path) -> None:
    import shutil

    from knowledge.kb import ENTRIES_DIR

    out = asnbot(db_url, tmp_path, "kb", "check")
    assert out.returncode == 0, out.stdout
    assert "Basis pengetahuan valid" in out.stdout
    broken = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, broken)
    victim = next(broken.glob("sop-62-*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8").replace("sop: [62]", "sop: [99]"), encoding="utf-8")
    env = cli_env(db_url, tmp_path, KB_DIR=str(broken))
    out = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "check"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert victim.name in out.stdout and "TIDAK valid" in out.stdout


async def test_kb_gaps_lists_unanswered_questions_most_frequent_first(db_url: str, tmp_path: Path, sessions) -> None:  # noqa: ANN001
    from services import helpdesk

    async with sessions() as s:
        for text in ["jadwal senam pagi", "nip 199001092014121001 jadwal senam pagi", "jadwal senam pagi",
                     "lokasi parkir motor"]:
            await helpdesk.record_gap(s, text)
    out = asnbot(db_url, tmp_path, "kb", "gaps")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[0] == "2" and lines[0].endswith("jadwal senam pagi")
    assert any(line.endswith("nip # jadwal senam pagi") for line in lines)  # the NIP is masked
    assert "199001092014121001" not in out.stdout


def test_kb_reload_validates_then_signals_running_bots(db_url: str, tmp_path: Path) -> None:
    import shutil

    from knowledge.kb import ENTRIES_DIR

    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries)
    os.utime(entries, (1_000_000, 1_000_000))
    env = cli_env(db_url, tmp_path, KB_DIR=str(entries))
    out = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "reload"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert entries.stat().st_mtime > 1_000_000  # the watchers of running bots see the change
    # A broken edit is refused and running bots are not signalled.
    victim = next(entries.glob("sop-01-*.yaml"))
    victim.write_text("id: [", encoding="utf-8")
    os.utime(entries, (1_000_000, 1_000_000))
    out = subprocess.run([sys.executable, "-m", "bot.cli", "kb", "reload"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and victim.name in out.stdout
    assert entries.stat().st_mtime == 1_000_000


def test_readme_walkthrough_one_cuti_from_start_to_letter(db_url: str, tmp_path: Path) -> None:
    """The README's walkthrough in the console chat: Ahmad applies, his atasan and the head of
    the OPD approve from their own chats, and the letter arrives as a PDF."""
    from datetime import date, timedelta

    start = date.today() + timedelta(days=14 - date.today().weekday())  # a Monday two weeks on
    end = start + timedelta(days=2)
    typed = "\n".join([
        "🗓 Ajukan cuti", "Cuti tahunan", f"{start:%d/%m/%Y} - {end:%d/%m/%Y}", "Lanjut", "Tidak",
        "Menghadiri pernikahan saudara", "Jl. Melati No. 5, Bekasi Timur", "081234567890", "Kirim",
        "/sebagai 198207212006012001", "/antrian", "Disetujui",
        "/sebagai 197010051991101001", "/antrian", "Disetujui",
        "/sebagai 199001092014121001", "📋 Status pengajuan", "/keluar", "",
    ])
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--as", "199001092014121001"], input=typed,
        # No daily reminders job: Ahmad's KGB falls due soon, and a reminder arriving between two
        # scripted lines would become the message the next typed button label is looked up on.
        env=cli_env(db_url, tmp_path, REMINDER_TIME=""), cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr
    assert "terkirim dengan nomor CUTI-" in out.stdout, out.stdout[-4000:]
    assert "Masuk sebagai Rina Marlina" in out.stdout and "Masuk sebagai Drs. Hendra Gunawan" in out.stdout
    assert "Status akhir: disetujui." in out.stdout
    letters = list((tmp_path / "var" / "console").glob("CUTI-*.pdf"))
    assert letters, out.stdout[-3000:]
    assert len(letters) == 1 and letters[0].read_bytes().startswith(b"%PDF")
    assert re.search(r"Kode verifikasi: [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", out.stdout)
    assert "Traceback" not in out.stderr


def test_a_bot_process_keeps_its_heap_out_of_the_collector_and_frees_a_replaced_index(tmp_path: Path) -> None:
    """bot.live.settle_heap (run by `asnbot run` and after each reload there): the long-lived
    objects are frozen, and a reload still lets the replaced index go. In its own process: the
    freeze would otherwise apply to the test run."""
    import shutil

    from knowledge.kb import ENTRIES_DIR

    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries)
    script = f"""
import gc, weakref
from pathlib import Path
from bot.live import Knowledge, settle_heap
k = Knowledge(Path({str(entries)!r}))
k.freeze_heap = True
settle_heap()
frozen = gc.get_freeze_count()
old = weakref.ref(k.engine)
victim = next(Path({str(entries)!r}).glob("sop-39-*.yaml"))
victim.write_text(victim.read_text(encoding="utf-8") + "\\n", encoding="utf-8")
assert [p for p in k.reload() if p.is_error] == []
print(frozen, old() is None, gc.get_freeze_count() > 0)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    frozen, old_freed, still_frozen = out.stdout.split()
    # The knowledge index and the modules it loads (no aiogram in this process): ~90,000 objects.
    assert int(frozen) > 50_000 and old_freed == "True" and still_frozen == "True"


def test_commands_without_telegram_do_not_load_aiogram(db_url: str, tmp_path: Path) -> None:
    """Importing aiogram's types takes seconds: `asnbot kb check`, `ask` and `link-code` (run by
    staff at a terminal, and by these tests) must start without it."""
    asnbot(db_url, tmp_path, "db", "upgrade")
    script = """
import sys
from bot.cli import main
for argv in (["kb", "check"], ["ask", "syarat kenaikan pangkat"], ["link-code", "000000000000000000"]):
    main(argv)
print(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in {"aiogram", "aiohttp"}}))
"""
    out = subprocess.run([sys.executable, "-c", script], env=cli_env(db_url, tmp_path), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    assert "Basis pengetahuan valid" in out.stdout and "Kenaikan Pangkat" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


def test_commands_run_on_the_configured_event_loop() -> None:
    import asyncio

    from bot.cli import run_async

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_async(loop_module(), "asyncio").startswith("asyncio")
    try:
        import uvloop  # noqa: F401
    except ImportError:  # not installable on Windows: the standard loop serves
        assert run_async(loop_module(), "uvloop").startswith("asyncio")
    else:
        assert run_async(loop_module(), "uvloop").startswith("uvloop")
