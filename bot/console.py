"""Local console chat: the real dispatcher and handlers, talking over HTTP to the local Bot
API server in bot/local_api.py, with the terminal as the Telegram client."""
from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

from bot.app import App, build_bot, run_polling
from bot.local_api import BotMessage, ChatClient, LocalBotAPI
from services.linking import CodeNotIssued, LinkingService, TelegramProfile

CONSOLE_USER_ID = 700_000_001

HELP = (
    "Ketik pesan seperti di Telegram. Tombol dicetak bernomor: ketik /press N atau label tombolnya.\n"
    "Tombol 'Bagikan nomor telepon' akan menanyakan nomor yang dibagikan. /keluar untuk selesai."
)
DEMO_HINT = (
    "Coba dengan data demo: tekan tombol 1, bagikan nomor 081210000004, lalu ketik 900004\n"
    "(6 digit terakhir NIK Ahmad Fauzi, BKPSDM). Atau: asnbot chat --as 199001092014121001"
)


@dataclass
class Option:
    label: str
    button: dict[str, Any]
    message: BotMessage | None  # set for inline buttons


def render(msg: BotMessage, edited: bool) -> str:
    return ("[bot, diubah] " if edited else "[bot] ") + msg.text


def options(chat: ChatClient) -> list[Option]:
    """What can be pressed now: the last message's inline buttons, then the reply keyboard."""
    found: list[Option] = []
    if chat.messages:
        last = chat.messages[-1]
        for row in (last.reply_markup or {}).get("inline_keyboard", []):
            found += [Option(b["text"], b, last) for b in row]
    for row in chat.reply_keyboard or []:
        found += [Option(b["text"], b, None) for b in row]
    return found


def render_options(opts: list[Option]) -> str:
    return "Tombol: " + "  ".join(f"[{i}] {o.label}" for i, o in enumerate(opts, 1)) if opts else ""


async def _read_line(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def console_chat(app: App, *, as_identifier: str | None) -> int:
    api = LocalBotAPI()
    await api.start()
    bot = build_bot(api.token, api.base_url)
    chat = api.user(CONSOLE_USER_ID, first_name="Konsol")
    shown: dict[int, str] = {}

    def show(m: BotMessage, edited: bool) -> None:
        # An edit that only removed buttons changes nothing a reader needs to see again.
        if shown.get(m.message_id) != m.text:
            print(render(m, edited), flush=True)
        shown[m.message_id] = m.text

    chat.on_message = show
    if as_identifier:
        async with app.sessions() as s:
            service = LinkingService(s, app.settings.verification_secret, app.link_policy)
            try:
                emp = await service.link_directly(
                    TelegramProfile(CONSOLE_USER_ID, CONSOLE_USER_ID, None, "Konsol"), as_identifier, method="console"
                )
            except CodeNotIssued as e:
                print(str(e))
                await bot.session.close()
                await api.stop()
                return 1
        print(f"Masuk sebagai {emp.full_name} ({emp.identifier}).")
    polling = asyncio.create_task(run_polling(app, bot, handle_as_tasks=False, polling_timeout=1, handle_signals=False))
    print(f"Obrolan konsol dengan @{api.bot_username}. {HELP}")
    if not as_identifier:
        print(DEMO_HINT)
    try:
        await _exchange(chat, chat.send("/start"))
        while True:
            line = await _read_line("> ")
            if line is None or line.strip() in {"/keluar", "/quit", "/exit"}:
                break
            if line.strip():
                await _handle_input(chat, line.strip())
    finally:
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        with contextlib.suppress(Exception):
            await polling
        await bot.session.close()
        await api.stop()
    return 0


async def _exchange(chat: ChatClient, action) -> None:  # noqa: ANN001
    try:
        await action
    except TimeoutError:
        print("(bot tidak menjawab tepat waktu)")
    except (LookupError, ValueError) as e:
        print(f"({e})")
    line = render_options(options(chat))
    if line:
        print(line)


async def _handle_input(chat: ChatClient, line: str) -> None:
    opts = options(chat)
    chosen: Option | None = None
    m = re.fullmatch(r"/press\s+(\d+)|(\d{1,2})", line)
    if m and opts:
        n = int(m.group(1) or m.group(2))
        if 1 <= n <= len(opts) and (m.group(1) or len(line) <= 2):
            chosen = opts[n - 1]
    if chosen is None:
        chosen = next((o for o in opts if o.label.casefold() == line.casefold()), None)
    if chosen is None:
        await _exchange(chat, chat.send(line))
    elif chosen.message is not None:
        await _exchange(chat, chat.press(chosen.label, message=chosen.message))
    elif chosen.button.get("request_contact"):
        phone = await _read_line("Nomor telepon yang dibagikan: ")
        if phone and phone.strip():
            await _exchange(chat, chat.share_contact(phone.strip()))
    else:
        await _exchange(chat, chat.send(chosen.label))
