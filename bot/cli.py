"""The `asnbot` command: run the bot, talk to it locally, manage personnel data."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot.settings import Settings, load_settings

log = logging.getLogger("asnbot")
T = TypeVar("T")


def setup_logging(level: str, *, console: bool = False, fmt: str = "text") -> None:
    from bot.observability import configure_logging

    configure_logging(level, fmt, console=console)


def run_async(coro: Coroutine[Any, Any, T], event_loop: str = "uvloop") -> T:
    """Runs the command on uvloop where it is installed (not on Windows): its socket work costs
    less CPU (a Redis round trip 157 against 212 microseconds in a loop of GETs on a 2-core VM);
    in the whole bot's figures the difference is within the benchmarks' noise."""
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coro)
    return asyncio.run(coro)


# ---- commands ----------------------------------------------------------------------------
async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_bot, create_app, run_polling
    from bot.live import settle_heap

    webhook = args.webhook or bool(settings.webhook_url)
    if webhook and (settings.telegram_bot_token is None or not settings.webhook_url):
        print("Mode webhook perlu TELEGRAM_BOT_TOKEN dan WEBHOOK_URL (lihat docs/OPERATIONS.md).", file=sys.stderr)
        return 2
    # Demo data is for a pilot on an empty database, never for a production (webhook) service.
    app = await create_app(settings, load_demo=not (args.no_demo or webhook))
    app.knowledge.freeze_heap = True
    settle_heap()
    try:
        if webhook:
            from bot.webhook import run_webhook

            bot = build_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
            me = await bot.get_me()
            log.info("running @%s by webhook", me.username)
            await run_webhook(app, bot)
            return 0
        if settings.telegram_bot_token is None:
            if app.demo_summary:
                print(app.demo_summary)
            print("TELEGRAM_BOT_TOKEN belum diisi: membuka obrolan konsol lokal (bot tidak tersambung ke Telegram).")
            from bot.console import console_chat

            return await console_chat(app, as_identifier=None)
        bot = build_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
        me = await bot.get_me()
        log.info("running @%s by long polling", me.username)
        ops = None
        if settings.metrics_port:
            from bot.webhook import start_ops_server

            ops = await start_ops_server(app, settings.webhook_host, settings.metrics_port)
            log.info("/healthz, /readyz and /metrics on %s:%d", ops.host, ops.port)
        try:
            await run_polling(app, bot)
        finally:
            if ops is not None:
                await ops.stop()
        return 0
    finally:
        await app.close()


async def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.console import console_chat

    app = await create_app(settings, load_demo=not args.no_demo)
    if app.demo_summary:
        print(app.demo_summary)
    try:
        return await console_chat(app, as_identifier=args.as_nip)
    finally:
        await app.close()


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from services.db import make_engine, migrate, migrations_current

    engine = make_engine(settings.db_url)
    try:
        if args.action == "upgrade":
            await migrate(engine)
            print("Basis data sudah pada versi terbaru.")
            return 0
        current = await migrations_current(engine)
        print("terbaru" if current else "perlu upgrade (asnbot db upgrade)")
        return 0 if current else 1
    finally:
        await engine.dispose()


async def _sessions(settings: Settings):  # noqa: ANN202
    from services.db import make_engine, make_sessionmaker, migrate

    engine = make_engine(settings.db_url)
    await migrate(engine)
    return engine, make_sessionmaker(engine)


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from services.importer import ImportFileError, format_report, import_pegawai

    engine, sessions = await _sessions(settings)
    try:
        report = await import_pegawai(
            sessions, Path(args.file), verification_key=settings.verification_secret, partial=args.partial, actor="cli"
        )
    except ImportFileError as e:
        print(f"Gagal: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(format_report(report))
    return 0 if report.applied and not (report.errors and not args.partial) else 1


async def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from services.seed import seed_demo

    engine, sessions = await _sessions(settings)
    try:
        report = await seed_demo(sessions, employees=args.employees, seed=args.seed,
                                 verification_key=settings.verification_secret, agency_dir=settings.agency_dir)
    finally:
        await engine.dispose()
    if report.employees == 0:
        print("Basis data sudah berisi pegawai: data demo tidak ditambahkan.")
        return 0
    status = ", ".join(f"{k} {v}" for k, v in sorted(report.by_status.items()))
    print(f"{report.units} unit dan {report.employees} pegawai dibuat ({status}) dalam {report.seconds:.1f} detik.")
    return 0


async def cmd_link_code(settings: Settings, args: argparse.Namespace) -> int:
    from bot.live import link_policy
    from services.linking import CodeNotIssued, LinkingService


    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            service = LinkingService(s, settings.verification_secret, link_policy(settings))
            try:
                code, expires, employee = await service.issue_code(args.nip, created_by=args.by)
            except CodeNotIssued as e:
                print(str(e), file=sys.stderr)
                return 1
    finally:
        await engine.dispose()
    local = expires.astimezone(settings.zone)
    print(f"Kode tautan untuk {employee.full_name} ({employee.identifier}): {code}")
    print(f"Berlaku sekali pakai sampai {local:%Y-%m-%d %H:%M} {settings.tz}.")
    print(f"Pegawai mengirim /link {code} ke bot" + (f", atau membuka https://t.me/{args.bot}?start={code}" if args.bot else "."))
    return 0


async def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    from services import roles

    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            if args.action == "list":
                for line in await roles.list_roles(s):
                    print(line)
                return 0
            try:
                if args.action == "grant":
                    await roles.grant(s, args.nip, args.role, args.scope or "", granted_by=args.by)
                    print(f"Peran {args.role} diberikan kepada {args.nip}.")
                else:
                    removed = await roles.revoke(s, args.nip, args.role, args.scope or "", revoked_by=args.by)
                    print(f"Peran {args.role} dicabut dari {args.nip}." if removed else "Peran itu tidak ada.")
            except roles.RoleError as e:
                print(str(e), file=sys.stderr)
                return 1
            return 0
    finally:
        await engine.dispose()


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.live import Knowledge
    from knowledge import render

    knowledge = Knowledge(settings.kb_dir)
    if not knowledge.available:
        print("Basis pengetahuan tidak valid; jalankan: asnbot kb check", file=sys.stderr)
        return 1

    def as_json(question: str) -> str:
        result = knowledge.engine.ask(question)
        results = []
        for c in result.candidates:
            entry = knowledge.kb.get(c.entry_id)
            if entry is not None:
                results.append({"id": entry.id, "title": entry.title, "service": entry.service,
                                "sop": list(entry.sop), "score": round(float(c.score), 4)})
        if result.outcome in ("abstain", "smalltalk"):
            results = results if result.outcome == "abstain" else []
        return json.dumps({"question": question, "outcome": result.outcome, "results": results}, ensure_ascii=False)

    questions = [q.rstrip("\n") for q in sys.stdin] if args.question == "-" else [args.question]
    for q in questions:
        if args.json:
            print(as_json(q), flush=True)
            continue
        result = knowledge.engine.ask(q)
        if result.outcome == "answer":
            print(render.full_text(knowledge.kb, knowledge.kb.get(result.candidates[0].entry_id)))
        elif result.outcome == "clarify":
            print("Maksud Anda yang mana?")
            for c in result.candidates:
                print(f"- {knowledge.kb.get(c.entry_id).title} ({c.entry_id})")
        elif result.outcome == "smalltalk":
            print(result.smalltalk_reply)
        else:
            print("Maaf, saya belum tahu jawabannya. Pertanyaan dapat diteruskan ke petugas BKPSDM.")
    return 0


async def cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.kb import ENTRIES_DIR, check

    entries_dir = settings.kb_dir or ENTRIES_DIR
    if args.action == "gaps":
        from services import helpdesk

        engine, sessions = await _sessions(settings)
        try:
            async with sessions() as s:
                gaps = await helpdesk.top_gaps(s, limit=args.limit)
        finally:
            await engine.dispose()
        if not gaps:
            print("Belum ada pertanyaan yang tidak terjawab.")
        for g in gaps:
            print(f"{g.count:5d}  {g.last_seen.astimezone(settings.zone):%Y-%m-%d}  {g.text}")
        return 0
    kb, problems = check(entries_dir)
    for p in problems:
        print(("GALAT " if p.is_error else "PERINGATAN ") + str(p))
    if kb is None:
        print(f"Basis pengetahuan TIDAK valid: {sum(p.is_error for p in problems)} galat.")
        return 1
    print(f"Basis pengetahuan valid: {len(kb.entries)} entri, {len(kb.catalog.sop)} SOP dan "
          f"{len(kb.catalog.services)} layanan tercakup.")
    if args.action == "reload":
        # A running bot watches the entries folder; touching it makes every instance reload now.
        os.utime(entries_dir)
        print("Bot yang sedang berjalan memuat ulang dalam beberapa detik.")
    return 0


async def cmd_import_saldo(settings: Settings, args: argparse.Namespace) -> int:
    from services.cuti.saldo_import import import_saldo_cuti
    from services.importer import ImportFileError, format_report

    engine, sessions = await _sessions(settings)
    try:
        report = await import_saldo_cuti(sessions, Path(args.file), actor="cli")
    except ImportFileError as e:
        print(f"Gagal: {e}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(format_report(report).replace(", atau jalankan dengan --partial untuk mengimpor baris yang benar saja", ""))
    return 0 if report.applied else 1


async def cmd_izin_belajar(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from knowledge.kb import ENTRIES_DIR, KBError, load_kb
    from services import izin_belajar
    from services.employees import find_by_identifier

    try:
        entry = load_kb(settings.kb_dir or ENTRIES_DIR).get("sop-62")
    except KBError as e:
        print(f"Basis pengetahuan tidak valid (asnbot kb check): {e}", file=sys.stderr)
        return 2
    # The checklist is the published syarat of SOP 62: what the bot tells and asks cannot drift.
    documents = [r.item for r in entry.requirements] if entry else []
    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            emp = await find_by_identifier(s, args.nip)
    finally:
        await engine.dispose()
    if emp is None:
        print(f"Tidak ada pegawai aktif dengan NIP/nomor {args.nip}.", file=sys.stderr)
        return 1
    today = date.fromisoformat(args.today) if args.today else datetime_today(settings)
    result = izin_belajar.check(emp, args.jenjang, today=today, documents=documents,
                                config=izin_belajar.load_config(settings.agency_dir))
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(f"Izin belajar {args.jenjang.upper()} untuk {emp.full_name}: "
              + ("DAPAT diajukan." if result.eligible else "BELUM dapat diajukan."))
        for p in result.problems:
            print(f"- {p.message}")
        print("Dokumen yang perlu disiapkan:")
        for i, d in enumerate(result.documents, 1):
            print(f"{i}. {d}")
    return 0 if result.eligible else 3


def datetime_today(settings: Settings):  # noqa: ANN201
    from datetime import datetime

    return datetime.now(settings.zone).date()


async def cmd_cuti(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import date, datetime

    from services.cuti.quote import QuoteError, format_text, quote
    from services.cuti.rules import Request

    try:
        req = Request(args.jenis, date.fromisoformat(args.mulai), date.fromisoformat(args.selesai),
                      abroad=args.luar_negeri, reason=args.alasan)
    except ValueError:
        print("Tanggal harus berformat YYYY-MM-DD.", file=sys.stderr)
        return 2
    today = date.fromisoformat(args.today) if args.today else datetime.now(settings.zone).date()
    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            q = await quote(s, args.nip, req, today=today, agency_dir=settings.agency_dir)
    except QuoteError as e:
        print(str(e), file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(json.dumps(q.as_json(), ensure_ascii=False) if args.json else format_text(q, req))
    return 0 if q.eligible else 3


async def cmd_plh(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import date, datetime

    from services.applications import delegation

    today = datetime.now(settings.zone).date()
    if args.action == "add" and not (args.pejabat and args.pelaksana and args.mulai and args.selesai):
        print("plh add perlu --pejabat, --pelaksana, --mulai dan --selesai.", file=sys.stderr)
        return 2
    if args.action == "revoke" and args.id is None:
        print("plh revoke perlu NOMOR penugasan (lihat: asnbot plh list).", file=sys.stderr)
        return 2
    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            if args.action == "list":
                rows = await delegation.list_delegations(s, today=today, include_past=args.semua)
                if not rows:
                    print("Tidak ada penugasan Plt/Plh yang berlaku atau akan datang.")
                for r in rows:
                    revoked = f"\tdicabut {r.revoked_at:%Y-%m-%d}" if r.revoked_at else ""
                    print(f"{r.id}\t{r.kind}\t{r.principal_nip}\t{r.principal_name}\t-> {r.acting_nip}\t{r.acting_name}"
                          f"\t{r.starts_on}\t{r.ends_on}{revoked}")
                return 0
            if args.action == "add":
                try:
                    start, end = date.fromisoformat(args.mulai), date.fromisoformat(args.selesai)
                except ValueError:
                    print("Tanggal harus berformat YYYY-MM-DD.", file=sys.stderr)
                    return 2
                d = await delegation.add(s, principal=args.pejabat, acting=args.pelaksana, starts_on=start,
                                         ends_on=end, kind=args.jenis, created_by=args.by, today=today)
                print(f"Penugasan nomor {d.id} dibuat: {d.kind} {args.pelaksana} untuk {args.pejabat}, "
                      f"{d.starts_on} s.d. {d.ends_on}.")
                return 0
            d = await delegation.revoke(s, args.id, revoked_by=args.by)
            print(f"Penugasan nomor {d.id} dicabut.")
            return 0
    except delegation.DelegationError as e:
        print(e.message, file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


async def cmd_reminders(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import date, datetime

    from bot.scheduler import kb_documents
    from knowledge.kb import ENTRIES_DIR, KBError, load_kb
    from services.applications.engine import Context
    from services.reminders import run_daily

    try:
        today = date.fromisoformat(args.date) if args.date else datetime.now(settings.zone).date()
    except ValueError:
        print("Tanggal harus berformat YYYY-MM-DD.", file=sys.stderr)
        return 2
    try:
        kb = load_kb(settings.kb_dir or ENTRIES_DIR)
    except KBError as e:  # reminders still go out, with a button to the entry instead of the list
        print(f"Basis pengetahuan tidak valid (asnbot kb check): {e}", file=sys.stderr)
        kb = None
    # --date: the job sees that day at the current time of day (requests waiting, revisions).
    now = datetime.combine(today, datetime.now(settings.zone).timetz())
    ctx = Context(data_dir=settings.data_dir, agency_dir=settings.agency_dir, zone=settings.zone, now_fn=lambda: now)
    engine, sessions = await _sessions(settings)
    try:
        # Each reminder goes out once per event, so running this besides the scheduler is safe.
        result = await run_daily(sessions, ctx, today=today, documents=kb_documents(lambda: kb))
    finally:
        await engine.dispose()
    if args.json:
        print(json.dumps({"date": today.isoformat(), **result}, ensure_ascii=False))
    else:
        print(f"Pengingat {today:%Y-%m-%d}: " + (", ".join(f"{k}={v}" for k, v in result.items()) or "tidak ada"))
        print("Pesan masuk antrean outbox dan dikirim oleh bot yang sedang berjalan.")
    return 1 if result.get("errors") else 0


async def cmd_broadcast(settings: Settings, args: argparse.Namespace) -> int:
    """Broadcasts from the terminal. Only writes to the database: the running bot's worker sends."""
    import getpass
    import json
    from datetime import datetime

    from services import broadcast as bc

    engine, sessions = await _sessions(settings)
    try:
        async with sessions() as s:
            try:
                if args.action == "send":
                    return await _broadcast_send(settings, args, s, bc, actor=f"cli:{getpass.getuser()}")
                if args.action == "report":
                    r = await bc.report(s, args.id)
                    if args.json:
                        print(json.dumps(r.as_json(), ensure_ascii=False))
                        return 0
                    t, b = r.total, r.broadcast
                    print(f"Siaran #{b.id} ({b.status}), oleh {b.created_by_label}, dibuat "
                          f"{b.created_at.astimezone(settings.zone):%Y-%m-%d %H:%M}")
                    print(f"Penerima {t.recipients}: terkirim {t.delivered}, diblokir {t.blocked}, gagal {t.failed}, "
                          f"menunggu {t.pending}, dibatalkan {t.cancelled}, tidak pasti {t.uncertain}, "
                          f"belum tertaut {t.not_linked}"
                          + (f", sudah membaca {t.acked}" if b.ack else ""))
                    for o in r.per_opd:
                        print(f"  {o.opd}: {o.delivered}/{o.recipients} terkirim" + (f", {o.acked} membaca" if b.ack else ""))
                    if t.uncertain:
                        print(f"Kirim lagi yang tidak pasti (mungkin jadi dua kali): asnbot broadcast resend-uncertain {b.id} --yes")
                    return 0
                if args.action == "export":
                    if not args.out:
                        print("Sebutkan berkas keluaran dengan --out.", file=sys.stderr)
                        return 2
                    rows = await bc.recipient_rows(s, args.id)
                    build = bc.export_csv if args.format == "csv" else bc.export_xlsx
                    Path(args.out).write_bytes(build(rows, settings.zone))
                    await bc.record_export(s, args.id, args.format, len(rows), actor=f"cli:{getpass.getuser()}")
                    await s.commit()
                    print(f"{len(rows)} penerima ditulis ke {args.out}.")
                    return 0
                if args.action == "resend-uncertain":
                    if not args.yes:
                        t = await bc.tally(s, args.id)
                        print(f"Siaran #{args.id}: {t.uncertain} pesan tidak pasti terkirim (mungkin sudah sampai). "
                              "Tambahkan --yes untuk mengirimnya lagi.")
                        return 0
                    n = await bc.resend_uncertain(s, args.id, actor=f"cli:{getpass.getuser()}")
                    await s.commit()
                    print(f"Siaran #{args.id}: {n} pesan tidak pasti terkirim dikirim lagi.")
                    return 0
                c = await bc.cancel(s, args.id, actor=f"cli:{getpass.getuser()}", now=datetime.now(settings.zone))
                await s.commit()
                print(f"Siaran #{c.broadcast_id} dibatalkan; {c.messages_cancelled} pesan tidak jadi dikirim.")
                return 0
            except bc.BroadcastError as e:
                print(str(e), file=sys.stderr)
                return 1
    finally:
        await engine.dispose()


async def _broadcast_send(settings: Settings, args: argparse.Namespace, s, bc, *, actor: str) -> int:  # noqa: ANN001
    from datetime import datetime

    from sqlalchemy import select

    from bot.local_api import HTMLParseError, parse_html
    from services.models import Unit

    if not args.text_file and not (args.document or args.photo):
        print("Perlu --text-file (atau --document/--photo).", file=sys.stderr)
        return 2
    text = Path(args.text_file).read_text(encoding="utf-8").strip() if args.text_file else ""
    try:
        parse_html(text)  # the tdlib parser the fake Bot API uses: Telegram would refuse the same
    except HTMLParseError as e:
        print(f"Teks bukan HTML Telegram yang sah: {e.detail}", file=sys.stderr)
        return 2
    units: list[int] = []
    for raw in args.unit or []:
        unit_id = int(raw) if raw.isdigit() else await s.scalar(select(Unit.id).where(Unit.code == raw))
        if unit_id is None or await s.get(Unit, unit_id) is None:
            print(f"Unit {raw} tidak ditemukan (sebutkan id atau kode unit).", file=sys.stderr)
            return 2
        units.append(unit_id)
    at = None
    if args.at:
        try:
            at = datetime.strptime(args.at, "%Y-%m-%d %H:%M").replace(tzinfo=settings.zone)
        except ValueError:
            print("--at harus berformat \"YYYY-MM-DD HH:MM\" (waktu setempat).", file=sys.stderr)
            return 2
        if at <= datetime.now(settings.zone):
            print("--at harus di masa depan.", file=sys.stderr)
            return 2
    audience = bc.Audience.build(units=units, statuses=args.status or [], golongan=args.golongan or [],
                                 eselon=args.eselon or [])
    media = "document" if args.document else ("photo" if args.photo else None)
    bc.check_message(text, media)
    n = await bc.count(s, audience)
    summary = await bc.summarize(s, audience)
    filters = "; ".join(f"{label}: {', '.join(values)}" for label, values in (
        ("OPD/unit", summary.units), ("Status", summary.statuses), ("Golongan", summary.golongan),
        ("Eselon", summary.eselon)) if values) or "semua pegawai aktif"
    print(f"Penerima: {n.total} pegawai ({n.linked} tertaut Telegram, {n.not_linked} belum tertaut"
          + (f", {n.unreachable} memblokir bot" if n.unreachable else "") + f"). Filter: {filters}.")
    print(f"Konfirmasi baca: {'ya' if args.ack else 'tidak'}. Waktu kirim: {args.at or 'sekarang'}.")
    if n.total == 0:
        print("Tidak ada pegawai yang cocok dengan filter ini.", file=sys.stderr)
        return 1
    if not args.yes:
        print("Belum dikirim. Ulangi dengan --yes untuk mengirim.")
        return 3
    path = name = None
    if media:
        source = Path(args.document or args.photo)
        path, name = bc.store_file(settings.data_dir, source.read_bytes(), source.name, media=media)
    b = await bc.create(s, text=text, audience=audience, created_by_label=actor, ack=args.ack, media=media,
                        document_path=path, document_name=name)
    done = await bc.confirm(s, b.id, actor=actor, at=at)
    await s.commit()
    if done.released is None:
        print(f"Siaran #{b.id} dijadwalkan pada {at:%Y-%m-%d %H:%M}; bot yang berjalan mengirimnya saat itu.")
    else:
        r = done.released
        print(f"Siaran #{b.id}: {r.queued} pesan masuk antrean; bot yang berjalan mengirimnya "
              f"({r.not_linked} belum tertaut, {r.unreachable} memblokir bot). Laporan: asnbot broadcast report {b.id}")
    return 0


# ---- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asnbot", description="asnbot: layanan mandiri kepegawaian ASN di Telegram.")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="jalankan bot (long polling, atau webhook; tanpa token: obrolan konsol lokal)")
    r.add_argument("--no-demo", action="store_true", help="jangan muat data demo pada basis data kosong")
    r.add_argument("--webhook", action="store_true",
                   help="terima update lewat webhook (WEBHOOK_URL); otomatis bila WEBHOOK_URL diisi")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("chat", help="obrolan konsol lokal dengan bot yang sebenarnya")
    c.add_argument("--as", dest="as_nip", metavar="NIP", help="langsung masuk sebagai pegawai ini (tanpa verifikasi)")
    c.add_argument("--no-demo", action="store_true", help="jangan muat data demo pada basis data kosong")
    c.set_defaults(func=cmd_chat)

    d = sub.add_parser("db", help="migrasi basis data")
    d.add_argument("action", choices=["upgrade", "status"])
    d.set_defaults(func=cmd_db)

    i = sub.add_parser("import-pegawai", help="impor data pegawai dari .csv/.xlsx (ekspor SIAP)")
    i.add_argument("file")
    i.add_argument("--partial", action="store_true", help="impor baris yang benar saja bila ada baris salah")
    i.set_defaults(func=cmd_import)

    s = sub.add_parser("seed-demo", help="buat data demo sintetis Kota Bekasi")
    s.add_argument("--employees", type=int, default=500)
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=cmd_seed)

    lc = sub.add_parser("link-code", help="terbitkan kode tautan sekali pakai untuk NIP / nomor Non-PNS")
    lc.add_argument("nip")
    lc.add_argument("--by", default="admin-cli", help="nama penerbit kode (untuk log audit)")
    lc.add_argument("--bot", help="username bot, untuk mencetak tautan t.me")
    lc.set_defaults(func=cmd_link_code)

    ro = sub.add_parser("role", help="kelola peran staf (admin, verifier, broadcaster, approver)")
    ro.add_argument("action", choices=["grant", "revoke", "list"])
    ro.add_argument("nip", nargs="?")
    ro.add_argument("role", nargs="?")
    ro.add_argument("--scope", help="kode bidang/unit (kosong = semua)")
    ro.add_argument("--by", default="admin-cli")
    ro.set_defaults(func=cmd_role)
    a = sub.add_parser("ask", help="tanya basis pengetahuan dari terminal")
    a.add_argument("question", help="pertanyaan, atau - untuk membaca satu pertanyaan per baris dari stdin")
    a.add_argument("--json", action="store_true", help="keluaran JSON (satu objek per pertanyaan)")
    a.set_defaults(func=cmd_ask)

    k = sub.add_parser("kb", help="basis pengetahuan: check, reload, gaps")
    k.add_argument("action", choices=["check", "reload", "gaps"])
    k.add_argument("--limit", type=int, default=30, help="gaps: berapa baris")
    k.set_defaults(func=cmd_kb)

    sc = sub.add_parser("import-saldo-cuti", help="impor saldo awal cuti tahunan (kolom: nip, tahun, sisa)")
    sc.add_argument("file")
    sc.set_defaults(func=cmd_import_saldo)

    ib = sub.add_parser("izin-belajar", help="izin belajar: cek kelayakan dan dokumen tanpa mengajukan")
    ib.add_argument("action", choices=["check"])
    ib.add_argument("--nip", required=True)
    ib.add_argument("--jenjang", required=True, help="D3, D4, S1, S2 atau S3")
    ib.add_argument("--json", action="store_true")
    ib.add_argument("--today", help="tanggal acuan YYYY-MM-DD (bawaan: hari ini)")
    ib.set_defaults(func=cmd_izin_belajar)

    cu = sub.add_parser("cuti", help="cuti: hitung permohonan tanpa mengajukan (quote)")
    cu.add_argument("action", choices=["quote"])
    cu.add_argument("--nip", required=True, help="NIP atau nomor Non-PNS")
    cu.add_argument("--jenis", required=True,
                    choices=["tahunan", "besar", "sakit", "melahirkan", "alasan-penting", "bersama", "cltn"])
    cu.add_argument("--mulai", required=True, metavar="YYYY-MM-DD")
    cu.add_argument("--selesai", required=True, metavar="YYYY-MM-DD")
    cu.add_argument("--luar-negeri", action="store_true", help="cuti dijalani di luar negeri")
    cu.add_argument("--alasan", help="haji-pertama, melahirkan-ke-4, gugur-kandungan")
    cu.add_argument("--today", metavar="YYYY-MM-DD", help="tanggal hari ini (untuk uji; bawaan: hari ini)")
    cu.add_argument("--json", action="store_true", help="keluaran JSON")
    cu.set_defaults(func=cmd_cuti)

    pl = sub.add_parser("plh", help="Plt/Plh: pelaksana yang menggantikan pejabat penyetuju untuk sementara")
    pl.add_argument("action", choices=["add", "list", "revoke"])
    pl.add_argument("id", nargs="?", type=int, help="revoke: nomor penugasan (lihat plh list)")
    pl.add_argument("--pejabat", metavar="NIP", help="NIP pejabat yang digantikan")
    pl.add_argument("--pelaksana", metavar="NIP", help="NIP pelaksana (Plt/Plh)")
    pl.add_argument("--mulai", metavar="YYYY-MM-DD")
    pl.add_argument("--selesai", metavar="YYYY-MM-DD")
    pl.add_argument("--jenis", choices=["Plt", "Plh"], default="Plh")
    pl.add_argument("--semua", action="store_true", help="list: termasuk yang sudah berakhir atau dicabut")
    pl.add_argument("--by", default="admin-cli", help="nama petugas (untuk log audit)")
    pl.set_defaults(func=cmd_plh)

    rm = sub.add_parser("reminders", help="pengingat harian (KGB, pangkat, pensiun, persetujuan, perbaikan)")
    rm.add_argument("action", choices=["run"])
    rm.add_argument("--date", metavar="YYYY-MM-DD", help="jalankan untuk tanggal ini (bawaan: hari ini)")
    rm.add_argument("--json", action="store_true", help="keluaran JSON")
    rm.set_defaults(func=cmd_reminders)

    bcp = sub.add_parser("broadcast", help="siaran ke pegawai: send, report, export, cancel, resend-uncertain")
    bc_sub = bcp.add_subparsers(dest="action", required=True)
    bs = bc_sub.add_parser("send", help="kirim (tanpa --yes: hanya tampilkan jumlah penerima)")
    bs.add_argument("--text-file", help="berkas teks pesan (HTML Telegram: <b>, <i>, <a href>)")
    bs.add_argument("--document", help="lampirkan dokumen (mis. PDF); teks menjadi keterangannya")
    bs.add_argument("--photo", help="lampirkan foto; teks menjadi keterangannya")
    bs.add_argument("--unit", action="append", metavar="ID", help="id atau kode unit (termasuk sub-unit); boleh berulang")
    bs.add_argument("--status", action="append", choices=["pns", "cpns", "pppk", "non-pns"], help="pns termasuk CPNS")
    bs.add_argument("--golongan", action="append", metavar="G", help="III (semua III/x) atau III/a; boleh berulang")
    bs.add_argument("--eselon", action="append", metavar="E", help="III (III.a dan III.b) atau III.a; boleh berulang")
    bs.add_argument("--ack", action="store_true", help="tambahkan tombol \"Sudah saya baca dan pahami\"")
    bs.add_argument("--at", metavar="\"YYYY-MM-DD HH:MM\"", help="jadwalkan (waktu setempat)")
    bs.add_argument("--yes", action="store_true", help="benar-benar kirim")
    for action, help_text in (("report", "laporan pengiriman"), ("export", "daftar penerima (CSV/XLSX)"),
                              ("cancel", "hentikan siaran yang terjadwal atau sedang dikirim"),
                              ("resend-uncertain", "kirim lagi pesan yang tidak pasti terkirim (mungkin jadi dua kali)")):
        one = bc_sub.add_parser(action, help=help_text)
        one.add_argument("id", type=int)
        if action == "resend-uncertain":
            one.add_argument("--yes", action="store_true", help="benar-benar kirim lagi")
        if action == "report":
            one.add_argument("--json", action="store_true")
        if action == "export":
            one.add_argument("--format", choices=["csv", "xlsx"], default="csv")
            one.add_argument("--out", required=True, metavar="FILE")
    bcp.set_defaults(func=cmd_broadcast)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args = parser.parse_args(["run", *(argv or [])])
    if args.command == "role" and args.action != "list" and not (args.nip and args.role):
        parser.error("role grant/revoke perlu NIP dan ROLE")
    settings = load_settings()
    console = args.command == "chat" or (args.command == "run" and settings.telegram_bot_token is None)
    setup_logging(settings.log_level, console=console, fmt=settings.log_format)
    try:
        return run_async(args.func(settings, args), settings.event_loop)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
