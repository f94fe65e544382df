"""Local console chat: the real dispatcher and handlers, talking over HTTP to the local Bot
API server in bot/local_api.py, with the terminal as the Telegram client."""
from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App, build_bot, run_polling
from bot.local_api import BotMessage, ChatClient, LocalBotAPI
from services.linking import CodeNotIssued, LinkingService, TelegramProfile

CONSOLE_USER_ID = 700_000_001

HELP = (
    "Ketik pesan seperti di Telegram. Tombol dicetak bernomor: ketik /press N atau label tombolnya.\n"
    "Tombol 'Bagikan nomor telepon' akan menanyakan nomor yang dibagikan. /kirimfile PATH mengirim berkas.\n"
    "/sebagai NIP berpindah ke pegawai lain (mis. atasan yang menyetujui). /keluar untuk selesai."
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


class Console:
    """The terminal as one or more Telegram users: `/sebagai NIP` switches to another employee
    (e.g. the atasan who approves), each with their own chat, as on separate phones."""

    def __init__(self, app: App, api: LocalBotAPI) -> None:
        self.app = app
        self.api = api
        self.chats: dict[str, ChatClient] = {}
        self.names: dict[int, str] = {}
        self.shown: dict[tuple[int, int], str] = {}
        self.unseen: dict[int, list[tuple[BotMessage, bool]]] = {}
        self.chat = self._new_chat("", "Konsol")
        self.files_dir = app.settings.data_dir / "console"

    def _new_chat(self, key: str, name: str) -> ChatClient:
        user_id = CONSOLE_USER_ID + len(self.chats)
        chat = self.api.user(user_id, first_name=name)
        chat.on_message = lambda m, edited, c=chat: self._show(c, m, edited)
        self.chats[key] = chat
        self.names[user_id] = name
        return chat

    def _show(self, chat: ChatClient, m: BotMessage, edited: bool) -> None:
        # An edit that only removed buttons changes nothing a reader needs to see again.
        if self.shown.get((chat.user_id, m.message_id)) == m.text and not m.document:
            return
        self.shown[(chat.user_id, m.message_id)] = m.text
        if chat is not self.chat:
            first = m.text.splitlines()[0] if m.text else m.kind
            print(f"(pesan baru untuk {self.names[chat.user_id]}: {first[:80]} - /sebagai untuk membuka)", flush=True)
            self.unseen.setdefault(chat.user_id, []).append((m, edited))
            return
        print(render(m, edited), flush=True)
        if m.document and m.document.get("content"):
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / (m.document.get("file_name") or f"berkas-{m.message_id}")
            path.write_bytes(m.document["content"])
            print(f"[berkas] {path} ({len(m.document['content'])} byte)", flush=True)

    async def become(self, identifier: str) -> str | None:
        key = identifier.replace(" ", "")
        if key in self.chats:
            self.chat = self.chats[key]
            for m, edited in self.unseen.pop(self.chat.user_id, []):  # what arrived while away
                self.shown.pop((self.chat.user_id, m.message_id), None)
                self._show(self.chat, m, edited)
            return None
        async with self.app.sessions() as s:
            service = LinkingService(s, self.app.settings.verification_secret, self.app.link_policy)
            user_id = CONSOLE_USER_ID + len(self.chats)
            try:
                emp = await service.link_directly(TelegramProfile(user_id, user_id, None, "Konsol"), identifier,
                                                  method="console")
            except CodeNotIssued as e:
                return str(e)
        self.chat = self._new_chat(key, emp.full_name)
        print(f"Masuk sebagai {emp.full_name} ({emp.identifier}).")
        return None


async def console_chat(app: App, *, as_identifier: str | None) -> int:
    api = LocalBotAPI()
    await api.start()
    bot = build_bot(api.token, api.base_url)
    console = Console(app, api)
    if as_identifier:
        problem = await console.become(as_identifier)
        if problem:
            print(problem)
            await bot.session.close()
            await api.stop()
            return 1
    polling = asyncio.create_task(run_polling(app, bot, handle_as_tasks=False, polling_timeout=1, handle_signals=False))
    print(f"Obrolan konsol dengan @{api.bot_username}. {HELP}")
    if not as_identifier:
        print(DEMO_HINT)
    try:
        await _exchange(console.chat, console.chat.send("/start"))
        while True:
            line = await _read_line("> ")
            if line is None or line.strip() in {"/keluar", "/quit", "/exit"}:
                break
            line = line.strip()
            if line.startswith("/sebagai"):
                arg = line[len("/sebagai"):].strip()
                problem = await console.become(arg) if arg else "Tulis: /sebagai NIP"
                if problem:
                    print(problem)
                else:
                    await _exchange(console.chat, console.chat.send("/menu"))
            elif line.startswith("/kirimfile"):
                await _send_file(console.chat, line[len("/kirimfile"):].strip())
            elif line:
                await _handle_input(console.chat, line)
            # Messages the outbox worker delivers arrive a moment later.
            await asyncio.sleep(0.3)
    finally:
        await _drain_outbox(app)
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        with contextlib.suppress(Exception):
            await polling
        await bot.session.close()
        await api.stop()
    return 0


async def _drain_outbox(app: App, timeout: float = 20.0) -> None:
    """Let the delivery worker finish what is due before leaving (it paces 1 msg/s per chat)."""
    from sqlalchemy import func, select

    from services.models import OutboxMessage, utcnow

    from datetime import timedelta

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with app.sessions() as s:
            # Also rows paced a few seconds ahead (per-chat limit, retries); not quiet-hour ones.
            soon = utcnow() + timedelta(seconds=timeout)
            pending = (await s.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending", OutboxMessage.not_before <= soon))).scalar_one()
        if not pending:
            return
        await asyncio.sleep(0.3)


async def _send_file(chat: ChatClient, raw: str) -> None:
    path = Path(raw).expanduser()
    if not path.is_file():
        print(f"(berkas tidak ditemukan: {raw})")
        return
    content = path.read_bytes()
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mime.startswith("image/"):
        await _exchange(chat, chat.send_photo(content))
    else:
        await _exchange(chat, chat.send_document(content, path.name, mime))


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


def _bare(label: str) -> str:
    return re.sub(r"^\W+|\W+$", "", label).casefold()


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
        # "Kirim" for "✅ Kirim": labels often start with an emoji nobody types.
        chosen = next((o for o in opts if _bare(o.label) == _bare(line) and _bare(line)), None)
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
