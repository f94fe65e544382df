"""Files through the local Bot API (bot/local_api.py): a user sends documents and photos,
a real aiogram bot fetches them with ``Bot.download`` (getFile + the download URL), and
files the bot sends keep their bytes for the test to read."""
from __future__ import annotations

import asyncio
import hashlib
import io

import aiohttp
import pytest
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from bot.local_api import LocalBotAPI
from tests.test_local_api import running_bot

MB = 1024 * 1024
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def files_router(bot_uploads: list[Message]) -> Router:
    """Replies with what it downloaded, as a bot that keeps applicants' documents would."""
    router = Router()

    @router.message(F.document)
    async def got_document(message: Message, bot: Bot) -> None:
        document = message.document
        assert document is not None
        try:
            buffer = await bot.download(document)
        except TelegramBadRequest as exc:
            await message.answer(f"Gagal: {exc.message}")
            return
        assert isinstance(buffer, io.BytesIO)
        data = buffer.getvalue()
        await message.answer(
            f"dokumen {document.file_name} {document.mime_type} {document.file_size} "
            f"{len(data)} {digest(data)} caption={message.caption}"
        )

    @router.message(F.photo)
    async def got_photo(message: Message, bot: Bot) -> None:
        sizes = message.photo or []
        largest = sizes[-1]
        data = (await bot.download(largest)).getvalue()  # type: ignore[union-attr]
        dims = ",".join(f"{p.width}x{p.height}" for p in sizes)
        await message.answer(f"foto {dims} {len(data)} {digest(data)} caption={message.caption}")

    @router.message(Command("rekap"))
    async def send_rekap(message: Message, bot: Bot) -> None:
        sent = await message.answer_document(
            BufferedInputFile(b"NIP;Nama\n1990;Budi\n", filename="rekap.csv"), caption="Rekap"
        )
        bot_uploads.append(sent)
        # The bot can fetch its own upload back, and send it again by file_id.
        assert sent.document is not None
        data = (await bot.download(sent.document)).getvalue()  # type: ignore[union-attr]
        await message.answer(f"unggahan {len(data)} {digest(data)} {sent.document.mime_type}")
        await message.answer_document(sent.document.file_id, caption="Sekali lagi")

    @router.message(Command("salah"))
    async def wrong_kind(message: Message) -> None:
        # A photo's file_id cannot be sent as a document.
        photo_id = message.text.split()[1]  # type: ignore[union-attr]
        try:
            await message.answer_document(photo_id)
        except TelegramBadRequest as exc:
            await message.answer(f"Gagal: {exc.message}")

    return router


async def test_user_sends_document_and_photo_bot_downloads_them(api: LocalBotAPI) -> None:
    chat = api.user(501, first_name="Sari")
    async with running_bot(api, files_router([])):
        replies = await chat.send_document(PDF, "SK Pangkat.pdf", "application/pdf", caption="SK")
        assert [m.text for m in replies] == [
            f"dokumen SK Pangkat.pdf application/pdf {len(PDF)} {len(PDF)} {digest(PDF)} "
            "caption=SK"
        ]

        replies = await chat.send_photo(PNG, caption="Ijazah")
        assert [m.text for m in replies] == [
            f"foto 90x68,320x240,1280x960 {len(PNG)} {digest(PNG)} caption=Ijazah"
        ]

        # The client's claimed name and MIME type pass through unchecked; the bytes differ.
        text = "ini bukan PDF\n".encode()
        replies = await chat.send_document(text, "ijazah.pdf", "application/pdf")
        assert replies[0].text == (
            f"dokumen ijazah.pdf application/pdf {len(text)} {len(text)} {digest(text)} "
            "caption=None"
        )
    assert len(api.calls_of("getFile")) == 3
    assert [p.split("/")[0] for p in api.downloads] == ["documents", "photos", "documents"]
    assert api.downloads[0].endswith(".pdf")


async def test_update_carries_telegram_shaped_file_objects(api: LocalBotAPI) -> None:
    """Played by hand over HTTP: the update, getFile and the download URL themselves."""
    chat = api.user(502)
    url = f"{api.base_url}/bot{api.token}"
    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(chat.send_photo(PNG))
        async with http.post(f"{url}/getUpdates", json={"timeout": 5}) as resp:
            update = (await resp.json())["result"][-1]
        photo = update["message"]["photo"]
        assert [(p["width"], p["height"]) for p in photo] == [(90, 68), (320, 240), (1280, 960)]
        assert all(p["file_size"] == len(PNG) for p in photo)
        assert len({p["file_id"] for p in photo}) == 3
        assert len({p["file_unique_id"] for p in photo}) == 3
        assert "caption" not in update["message"]
        async with http.post(f"{url}/getUpdates", json={"offset": update["update_id"] + 1}):
            pass
        assert await task == []

        file_id = photo[-1]["file_id"]
        files_url = f"{api.base_url}/file/bot{api.token}"
        async with http.post(f"{url}/getFile", json={"file_id": file_id}) as resp:
            info = (await resp.json())["result"]
        assert set(info) == {"file_id", "file_unique_id", "file_size", "file_path"}
        assert (info["file_id"], info["file_size"]) == (file_id, len(PNG))
        async with http.get(f"{files_url}/{info['file_path']}") as resp:
            assert resp.status == 200 and await resp.read() == PNG
        # A second getFile gives the same path.
        async with http.post(f"{url}/getFile", json={"file_id": file_id}) as resp:
            assert (await resp.json())["result"]["file_path"] == info["file_path"]

        # No path before getFile, nothing for a wrong token or an unknown file_id.
        async with http.get(f"{files_url}/photos/file_99.jpg") as resp:
            assert resp.status == 404
        async with http.get(f"{api.base_url}/file/bot1:WRONG/{info['file_path']}") as resp:
            assert resp.status == 401
        async with http.post(f"{url}/getFile", json={"file_id": "nope"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["description"] == "Bad Request: invalid file_id"
    assert api.file_content(file_id) == PNG


async def test_get_file_refuses_files_over_20_mb(api: LocalBotAPI) -> None:
    chat = api.user(503)
    big = PDF + b"\x00" * (20 * MB + 1 - len(PDF))
    limit = PDF + b"\x00" * (20 * MB - len(PDF))
    async with running_bot(api, files_router([])):
        replies = await chat.send_document(big, "besar.pdf", "application/pdf")
        assert [m.text for m in replies] == ["Gagal: Bad Request: file is too big"]
        replies = await chat.send_document(limit, "pas.pdf", "application/pdf")
        assert replies[0].text.startswith(f"dokumen pas.pdf application/pdf {20 * MB} {20 * MB} ")
    assert len(api.downloads) == 1


async def test_files_the_bot_sends_keep_their_bytes(api: LocalBotAPI) -> None:
    chat = api.user(504)
    uploads: list[Message] = []
    async with running_bot(api, files_router(uploads)):
        replies = await chat.send("/rekap")
        csv = b"NIP;Nama\n1990;Budi\n"
        assert [m.kind for m in replies] == ["document", "text", "document"]
        first, summary, again = replies
        assert first.document is not None and again.document is not None
        assert first.document["content"] == csv and first.document["mime_type"] == "text/csv"
        assert summary.text == f"unggahan {len(csv)} {digest(csv)} text/csv"
        # Re-sent by file_id: same file, same bytes visible to the test.
        assert again.document["file_id"] == first.document["file_id"]
        assert again.document["content"] == csv and again.document["file_name"] == "rekap.csv"
        assert api.file_content(first.document["file_id"]) == csv
        assert uploads[0].document is not None
        assert uploads[0].document.file_id == first.document["file_id"]

        await chat.send_photo(PNG)
        photo_id = api.calls_of("getFile")[-1]["file_id"]
        replies = await chat.send(f"/salah {photo_id}")
        assert [m.text for m in replies] == ["Gagal: Bad Request: type of file mismatch"]


async def test_client_side_limits(api: LocalBotAPI) -> None:
    chat = api.user(505)
    with pytest.raises(ValueError, match="empty file"):
        await chat.send_document(b"", "kosong.pdf", "application/pdf")
    with pytest.raises(ValueError, match="caption"):
        await chat.send_photo(PNG, caption="x" * 1025)
