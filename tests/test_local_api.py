"""Tests of the local fake Telegram Bot API (bot/local_api.py).

Two layers:
* raw HTTP against the server, playing the bot by hand (exact status codes and
  Telegram error bodies, the getUpdates handshake);
* a tiny real aiogram 3 bot polling the server, proving the round trip the
  end-to-end tests and the console chat rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.text_decorations import html_decoration

from bot.local_api import BotMessage, ChatClient, LocalBotAPI, parse_html, utf16_len

# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[LocalBotAPI]:
    api = LocalBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: LocalBotAPI,
    method: str,
    *,
    form: bool = False,
    token: str | None = None,
    **params: Any,
) -> tuple[int, dict[str, Any]]:
    """POST a Bot API method like a bot would; returns (HTTP status, JSON body)."""
    url = f"{api.base_url}/bot{token or api.token}/{method}"
    if form:
        data = {
            k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in params.items()
        }
        async with http.post(url, data=data) as resp:
            return resp.status, await resp.json()
    async with http.post(url, json=params) as resp:
        return resp.status, await resp.json()


async def ok(http: aiohttp.ClientSession, api: LocalBotAPI, method: str, **params: Any) -> Any:
    status, body = await call(http, api, method, **params)
    assert status == 200 and body["ok"], body
    return body["result"]


async def bad(http: aiohttp.ClientSession, api: LocalBotAPI, method: str, **params: Any) -> str:
    """Call expecting a 400; returns the description."""
    status, body = await call(http, api, method, **params)
    assert status == 400, body
    assert body["ok"] is False and body["error_code"] == 400, body
    assert body["description"].startswith("Bad Request: "), body
    return str(body["description"])


async def started_chat(
    http: aiohttp.ClientSession, api: LocalBotAPI, user_id: int = 1001
) -> ChatClient:
    """A user who has written /start, processed by a hand-driven 'bot'."""
    chat = api.user(user_id, first_name="Budi")
    task = asyncio.create_task(chat.send("/start"))
    updates = await ok(http, api, "getUpdates", timeout=5)
    assert updates[-1]["message"]["text"] == "/start"
    await ok(http, api, "getUpdates", offset=updates[-1]["update_id"] + 1)
    assert await task == []
    return chat


async def send_text(
    http: aiohttp.ClientSession, api: LocalBotAPI, chat: ChatClient, text: str, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = await ok(
        http, api, "sendMessage", chat_id=chat.user_id, text=text, **params
    )
    return result


def inline(*rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inline_keyboard": list(rows)}


def make_bot(api: LocalBotAPI) -> Bot:
    return Bot(
        api.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )


@contextlib.asynccontextmanager
async def running_bot(api: LocalBotAPI, router: Router) -> AsyncIterator[Bot]:
    """Run a real aiogram Dispatcher polling the fake server."""
    bot = make_bot(api)
    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_as_tasks=False, polling_timeout=1, handle_signals=False)
    )
    try:
        yield bot
    finally:
        try:
            await dp.stop_polling()
        except RuntimeError:  # polling never got going
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await bot.session.close()


# --------------------------------------------------------------------------------------
# HTTP basics
# --------------------------------------------------------------------------------------


async def test_get_me_and_method_names_are_case_insensitive(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    me = await ok(http, server, "getMe")
    assert me["id"] == 123456 and me["is_bot"] is True and me["username"] == "asnbot_local"
    assert (await ok(http, server, "GETME"))["id"] == 123456
    async with http.get(f"{server.base_url}/bot{server.token}/getme") as resp:
        assert resp.status == 200 and (await resp.json())["result"]["first_name"] == "asnbot"
    assert [name for name, _ in server.calls] == ["getMe", "getMe", "getMe"]


async def test_unknown_token_and_unknown_method(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, server, "getMe", token="999:WRONG")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    status, body = await call(http, server, "sendTelepathy")
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_form_encoded_params_are_decoded(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    markup = inline([{"text": "Ya", "callback_data": "yes"}])
    status, body = await call(
        http,
        server,
        "sendMessage",
        form=True,
        chat_id=chat.user_id,
        text="Lanjut?",
        reply_markup=markup,
    )
    assert status == 200, body
    assert body["result"]["reply_markup"] == markup
    assert body["result"]["chat"] == {"id": 1001, "type": "private", "first_name": "Budi"}
    assert body["result"]["from"]["is_bot"] is True
    assert server.calls_of("sendMessage")[-1]["reply_markup"] == markup  # decoded, not a str
    assert chat.messages[-1].buttons == [["Ya"]]


async def test_message_ids_increase_per_chat(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat_a = await started_chat(http, server, 1)
    chat_b = await started_chat(http, server, 2)
    first = await send_text(http, server, chat_a, "a1")
    second = await send_text(http, server, chat_a, "a2")
    other = await send_text(http, server, chat_b, "b1")
    assert second["message_id"] == first["message_id"] + 1
    # The user's /start took id 1 in each private chat.
    assert first["message_id"] == 2 and other["message_id"] == 2


# --------------------------------------------------------------------------------------
# HTML parse mode
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "plain", "entities"),
    [
        ("<b>Halo</b> dunia", "Halo dunia", [{"type": "bold", "offset": 0, "length": 4}]),
        (
            "😀 <i>x</i>",  # the emoji is 2 UTF-16 code units
            "😀 x",
            [{"type": "italic", "offset": 3, "length": 1}],
        ),
        ("&lt;NIP&gt; &amp; &quot;q&quot; &#65;&#x42;", '<NIP> & "q" AB', []),
        (
            '<a href="https://bkpsdm.bekasikota.go.id/?a=1&b=2">situs</a>',
            "situs",
            [
                {
                    "type": "text_link",
                    "offset": 0,
                    "length": 5,
                    "url": "https://bkpsdm.bekasikota.go.id/?a=1&b=2",
                }
            ],
        ),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "x = 1",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        (
            "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><code>e</code>"
            '<span class="tg-spoiler">f</span><tg-spoiler>g</tg-spoiler>',
            "abcdefg",
            [
                {"type": "bold", "offset": 0, "length": 1},
                {"type": "italic", "offset": 1, "length": 1},
                {"type": "underline", "offset": 2, "length": 1},
                {"type": "strikethrough", "offset": 3, "length": 1},
                {"type": "code", "offset": 4, "length": 1},
                {"type": "spoiler", "offset": 5, "length": 1},
                {"type": "spoiler", "offset": 6, "length": 1},
            ],
        ),
        (
            "<blockquote expandable>q</blockquote><b><i>bi</i></b>",
            "qbi",
            [
                {"type": "expandable_blockquote", "offset": 0, "length": 1},
                {"type": "bold", "offset": 1, "length": 2},
                {"type": "italic", "offset": 1, "length": 2},
            ],
        ),
        ("  <b> hi </b>\n", "hi", [{"type": "bold", "offset": 0, "length": 2}]),
        ("<b>x</>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    ],
)
def test_parse_html(html: str, plain: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(html) == (plain, entities)


@pytest.mark.parametrize(
    ("html", "detail"),
    [
        ("Halo <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 5'),
        ("baris<br>baru", 'Unsupported start tag "br" at byte offset 5'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("é <b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("tail <b", "Unclosed start tag at byte offset 5"),
        (
            "AT&T",
            'Unsupported HTML entity at byte offset 2; a literal "&" must be escaped as "&amp;"',
        ),
        (
            "&nbsp;",
            'Unsupported HTML entity at byte offset 0; a literal "&" must be escaped as "&amp;"',
        ),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a>x</a>", 'Tag "a" must have a non-empty attribute "href" at byte offset 0'),
    ],
)
def test_parse_html_errors_via_send_message_wording(html: str, detail: str) -> None:
    from bot.local_api import HTMLParseError

    with pytest.raises(HTMLParseError) as exc_info:
        parse_html(html)
    assert exc_info.value.detail == detail


async def test_send_message_rejects_bad_html_with_telegram_error(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    # Byte offsets are UTF-8 bytes: "Pegawai é " is 11 bytes.
    description = await bad(
        http, server, "sendMessage", chat_id=chat.user_id, text="Pegawai é <x>", parse_mode="HTML"
    )
    assert (
        description
        == 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 11'
    )
    description = await bad(
        http, server, "sendMessage", chat_id=chat.user_id, text="<b>tebal", parse_mode="HTML"
    )
    assert description == (
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
    )
    assert chat.messages == []  # nothing was delivered
    # Without parse_mode the same text is plain and fine.
    result = await send_text(http, server, chat, "Pegawai é <x>")
    assert result["text"] == "Pegawai é <x>" and "entities" not in result


async def test_send_message_returns_parsed_text_and_entities(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    result = await send_text(
        http, server, chat, "<b>NIP</b>: 1990 &amp; 😀<i>ok</i>", parse_mode="HTML"
    )
    assert result["text"] == "NIP: 1990 & 😀ok"
    assert result["entities"] == [
        {"type": "bold", "offset": 0, "length": 3},
        {"type": "italic", "offset": 14, "length": 2},
    ]
    message = chat.messages[-1]
    assert message.html == "<b>NIP</b>: 1990 &amp; 😀<i>ok</i>"
    assert message.text == chat.last_text == "NIP: 1990 & 😀ok"


async def test_markdown_parse_mode_is_refused(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    description = await bad(
        http, server, "sendMessage", chat_id=chat.user_id, text="*x*", parse_mode="MarkdownV2"
    )
    assert description == "Bad Request: parse_mode MarkdownV2 is not supported by the local API"


async def test_text_length_is_counted_after_parsing(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    # 4000 visible characters in 400 bold/italic blocks: ~11 000 raw characters.
    wrapped = "".join(f"<b>{'x' * 5}</b><i>{'y' * 5}</i>" for _ in range(400))
    assert len(wrapped) > 4096
    result = await send_text(http, server, chat, wrapped, parse_mode="HTML")
    assert len(result["text"]) == 4000 and len(result["entities"]) == 800

    await send_text(http, server, chat, "z" * 4096)
    assert (
        await bad(http, server, "sendMessage", chat_id=chat.user_id, text="z" * 4097)
        == "Bad Request: message is too long"
    )
    # 4097 visible characters are too long even when they came from entities.
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="&amp;" * 4097,
            parse_mode="HTML",
        )
        == "Bad Request: message is too long"
    )


async def test_empty_text_is_rejected(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    chat = await started_chat(http, server)
    for text, mode in (("", None), ("  \n ", None), ("<b></b>", "HTML"), (" <i> </i> ", "HTML")):
        params: dict[str, Any] = {"chat_id": chat.user_id, "text": text}
        if mode:
            params["parse_mode"] = mode
        assert (
            await bad(http, server, "sendMessage", **params) == "Bad Request: message text is empty"
        )


async def test_caption_limit(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    chat = await started_chat(http, server)
    result = await ok(
        http,
        server,
        "sendDocument",
        chat_id=chat.user_id,
        document="FILE-ID-1",
        caption="<b>" + "c" * 1024 + "</b>",
        parse_mode="HTML",
    )
    assert len(result["caption"]) == 1024 and result["document"]["file_id"] == "FILE-ID-1"
    assert (
        await bad(
            http,
            server,
            "sendDocument",
            chat_id=chat.user_id,
            document="FILE-ID-1",
            caption="c" * 1025,
        )
        == "Bad Request: message caption is too long"
    )
    assert (
        await bad(
            http, server, "sendPhoto", chat_id=chat.user_id, photo="PHOTO-ID", caption="c" * 1025
        )
        == "Bad Request: message caption is too long"
    )


# --------------------------------------------------------------------------------------
# Keyboards
# --------------------------------------------------------------------------------------


async def test_callback_data_limit_is_64_bytes(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    fits = "é" * 32  # 32 characters, 64 bytes
    too_long = "é" * 33  # only 33 characters, but 66 bytes
    await send_text(
        http, server, chat, "ok", reply_markup=inline([{"text": "A", "callback_data": fits}])
    )
    for data in (too_long, "", "x" * 65):
        description = await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="t",
            reply_markup=inline([{"text": "A", "callback_data": data}]),
        )
        assert description == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize(
    ("button", "description"),
    [
        ({"text": "Buka", "url": "bkpsdm.go.id"}, "Bad Request: BUTTON_URL_INVALID"),
        ({"text": "Buka", "url": "javascript:alert(1)"}, "Bad Request: BUTTON_URL_INVALID"),
        (
            {"text": "Tanpa aksi"},
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
            "inline keyboard",
        ),
        (
            {"text": "Dua", "callback_data": "a", "url": "https://x.id"},
            "Bad Request: can't parse inline keyboard button: exactly one of the optional fields "
            "must be used, got url, callback_data",
        ),
        ({"text": "", "callback_data": "a"}, "Bad Request: BUTTON_TEXT_EMPTY"),
        (
            {"callback_data": "a"},
            'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
        ),
    ],
)
async def test_inline_button_validation(
    server: LocalBotAPI, http: aiohttp.ClientSession, button: dict[str, Any], description: str
) -> None:
    chat = await started_chat(http, server)
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="t",
            reply_markup=inline([button]),
        )
        == description
    )


async def test_inline_keyboard_valid_urls_and_button_limit(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    await send_text(
        http,
        server,
        chat,
        "links",
        reply_markup=inline(
            [{"text": "Web", "url": "https://bkpsdm.bekasikota.go.id/layanan"}],
            [{"text": "TG", "url": "tg://resolve?domain=asnbot"}],
        ),
    )
    hundred = [
        [{"text": str(i), "callback_data": str(i)} for i in range(r * 10, r * 10 + 10)]
        for r in range(10)
    ]
    await send_text(http, server, chat, "100", reply_markup={"inline_keyboard": hundred})
    hundred[-1].append({"text": "101", "callback_data": "101"})
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="101",
            reply_markup={"inline_keyboard": hundred},
        )
        == "Bad Request: reply markup is too long"
    )


async def test_reply_keyboard_validation_and_state(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="t",
            reply_markup={"keyboard": [[{"text": " "}]]},
        )
        == "Bad Request: BUTTON_TEXT_EMPTY"
    )
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="t",
            reply_markup={"keyboard": [[{"text": "Kirim", "request_contact": "yes"}]]},
        )
        == "Bad Request: can't parse keyboard button: "
        'Field "request_contact" must be of type Boolean'
    )
    assert (
        await bad(
            http,
            server,
            "sendMessage",
            chat_id=chat.user_id,
            text="t",
            reply_markup={"colour": "red"},
        )
        == "Bad Request: can't parse reply keyboard markup JSON object"
    )
    assert chat.reply_keyboard is None

    await send_text(
        http,
        server,
        chat,
        "Menu",
        reply_markup={"keyboard": [["Profil", {"text": "Kirim nomor", "request_contact": True}]]},
    )
    assert chat.reply_keyboard == [
        [{"text": "Profil"}, {"text": "Kirim nomor", "request_contact": True}]
    ]
    assert chat.buttons() == [["Profil", "Kirim nomor"]]
    await send_text(http, server, chat, "Balas", reply_markup={"force_reply": True})
    assert chat.reply_keyboard is not None  # force_reply does not remove the keyboard
    await send_text(http, server, chat, "Selesai", reply_markup={"remove_keyboard": True})
    assert chat.reply_keyboard is None and chat.buttons() == []


# --------------------------------------------------------------------------------------
# Edits, deletes, callback answers
# --------------------------------------------------------------------------------------


async def test_edit_message_rules(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    chat = await started_chat(http, server)
    markup = inline([{"text": "A", "callback_data": "a"}])
    sent = await send_text(
        http, server, chat, "<b>Satu</b>", parse_mode="HTML", reply_markup=markup
    )
    mid = sent["message_id"]

    assert (
        await bad(
            http, server, "editMessageText", chat_id=chat.user_id, message_id=mid + 50, text="x"
        )
        == "Bad Request: message to edit not found"
    )
    not_modified = (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    assert (
        await bad(
            http,
            server,
            "editMessageText",
            chat_id=chat.user_id,
            message_id=mid,
            text="<b>Satu</b>",
            parse_mode="HTML",
            reply_markup=markup,
        )
        == not_modified
    )
    assert (
        await bad(
            http,
            server,
            "editMessageReplyMarkup",
            chat_id=chat.user_id,
            message_id=mid,
            reply_markup=markup,
        )
        == not_modified
    )

    # Same text but without the bold entity is a modification.
    edited = await ok(
        http,
        server,
        "editMessageText",
        chat_id=chat.user_id,
        message_id=mid,
        text="Satu",
        reply_markup=markup,
    )
    assert edited["text"] == "Satu" and "entities" not in edited and "edit_date" in edited
    # Editing the text without reply_markup drops the inline keyboard, like Telegram.
    edited = await ok(
        http, server, "editMessageText", chat_id=chat.user_id, message_id=mid, text="Dua"
    )
    assert "reply_markup" not in edited
    assert chat.messages[-1].reply_markup is None and chat.messages[-1].edited
    assert (
        await bad(http, server, "editMessageReplyMarkup", chat_id=chat.user_id, message_id=mid)
        == not_modified
    )
    await ok(
        http,
        server,
        "editMessageReplyMarkup",
        chat_id=chat.user_id,
        message_id=mid,
        reply_markup=markup,
    )
    assert chat.messages[-1].buttons == [["A"]]

    await ok(http, server, "deleteMessage", chat_id=chat.user_id, message_id=mid)
    assert chat.messages == []
    assert (
        await bad(http, server, "deleteMessage", chat_id=chat.user_id, message_id=mid)
        == "Bad Request: message to delete not found"
    )
    assert (
        await bad(
            http, server, "editMessageText", chat_id=chat.user_id, message_id=mid, text="Tiga"
        )
        == "Bad Request: message to edit not found"
    )


async def test_answer_callback_query_rules(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    await send_text(
        http, server, chat, "Pilih", reply_markup=inline([{"text": "Ya", "callback_data": "yes"}])
    )
    stale = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert await bad(http, server, "answerCallbackQuery", callback_query_id="424242") == stale

    press = asyncio.create_task(chat.press("Ya"))
    updates = await ok(http, server, "getUpdates", timeout=5)
    query = updates[0]["callback_query"]
    assert query["data"] == "yes" and query["from"]["id"] == chat.user_id
    assert query["message"]["text"] == "Pilih"
    assert (
        await bad(
            http, server, "answerCallbackQuery", callback_query_id=query["id"], text="x" * 201
        )
        == "Bad Request: MESSAGE_TOO_LONG"
    )
    assert (
        await ok(http, server, "answerCallbackQuery", callback_query_id=query["id"], text="Oke")
        is True
    )
    # A query can be answered only once.
    assert await bad(http, server, "answerCallbackQuery", callback_query_id=query["id"]) == stale
    await ok(http, server, "getUpdates", offset=updates[0]["update_id"] + 1)
    assert await press == []
    assert chat.callback_answers == [{"callback_query_id": query["id"], "text": "Oke"}]


# --------------------------------------------------------------------------------------
# Chats: unknown, blocked
# --------------------------------------------------------------------------------------


async def test_chat_not_found_and_blocked_user(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    assert (
        await bad(http, server, "sendMessage", chat_id=777, text="hi")
        == "Bad Request: chat not found"
    )
    silent = server.user(778)  # known to the fake, but never wrote to the bot
    assert (
        await bad(http, server, "sendMessage", chat_id=silent.user_id, text="hi")
        == "Bad Request: chat not found"
    )

    chat = await started_chat(http, server, 779)
    chat.block()
    status, body = await call(http, server, "sendMessage", chat_id=chat.user_id, text="hi")
    assert status == 403
    assert body == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    status, _ = await call(http, server, "sendChatAction", chat_id=chat.user_id, action="typing")
    assert status == 403
    assert chat.messages == []
    chat.unblock()
    await send_text(http, server, chat, "hi lagi")
    assert chat.last_text == "hi lagi"


# --------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------


async def test_fail_next_500_and_429_shapes(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    server.fail_next("sendMessage", 500, "Internal Server Error", count=2)
    for _ in range(2):
        status, body = await call(http, server, "sendMessage", chat_id=chat.user_id, text="x")
        assert status == 500
        assert body == {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    await send_text(http, server, chat, "x")  # the third call goes through
    assert [m.text for m in chat.messages] == ["x"]

    server.fail_next("SENDMESSAGE", 429, "Too Many Requests: retry after 7", retry_after=7)
    status, body = await call(http, server, "sendMessage", chat_id=chat.user_id, text="y")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert len(server.calls_of("sendMessage")) == 4  # failed calls are recorded too


async def test_fail_next_seen_by_aiogram(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    chat = await started_chat(http, server)
    bot = make_bot(server)
    try:
        server.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(chat.user_id, "x")
        assert retry.value.retry_after == 3
        server.fail_next("sendMessage", 502, "Bad Gateway")
        with pytest.raises(TelegramServerError):
            await bot.send_message(chat.user_id, "x")
        chat.block()
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(chat.user_id, "x")
    finally:
        await bot.session.close()


# --------------------------------------------------------------------------------------
# getUpdates semantics and the processed-handshake
# --------------------------------------------------------------------------------------


async def test_get_updates_offset_limit_and_long_poll(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = server.user(1001)
    assert await ok(http, server, "getUpdates", timeout=0) == []
    sends = [asyncio.create_task(chat.send(f"m{i}")) for i in range(3)]
    await asyncio.sleep(0)
    first = await ok(http, server, "getUpdates", limit=2)
    assert [u["message"]["text"] for u in first] == ["m0", "m1"]
    # Without an offset nothing is confirmed: the same updates come again.
    again = await ok(http, server, "getUpdates")
    assert [u["update_id"] for u in again] == [u["update_id"] for u in first] + [
        first[-1]["update_id"] + 1
    ]
    rest = await ok(http, server, "getUpdates", offset=first[-1]["update_id"] + 1)
    assert [u["message"]["text"] for u in rest] == ["m2"]
    assert list(await asyncio.wait_for(asyncio.gather(sends[0], sends[1]), 2)) == [[], []]
    assert not sends[2].done()

    # A long poll returns as soon as an update arrives.
    poll = asyncio.create_task(
        call(http, server, "getUpdates", offset=rest[-1]["update_id"] + 1, timeout=10)
    )
    assert await asyncio.wait_for(sends[2], 2) == []
    await asyncio.sleep(0.1)
    assert not poll.done()
    late = asyncio.create_task(chat.send("late"))
    status, body = await asyncio.wait_for(poll, 2)
    assert status == 200 and [u["message"]["text"] for u in body["result"]] == ["late"]
    await ok(http, server, "getUpdates", offset=body["result"][-1]["update_id"] + 1)
    assert await late == []
    # A long poll without updates waits its timeout, then answers [].
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await ok(http, server, "getUpdates", timeout=1) == []
    assert loop.time() - started >= 0.9


async def test_user_message_update_shape(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    chat = server.user(55, first_name="Siti", last_name="Aminah", username="siti")
    task = asyncio.create_task(chat.send("/start@asnbot_local kode"))
    update = (await ok(http, server, "getUpdates", timeout=5))[0]
    message = update["message"]
    assert message["from"] == {
        "id": 55,
        "is_bot": False,
        "first_name": "Siti",
        "last_name": "Aminah",
        "username": "siti",
        "language_code": "id",
    }
    assert message["chat"] == {
        "id": 55,
        "type": "private",
        "first_name": "Siti",
        "last_name": "Aminah",
        "username": "siti",
    }
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 19}]
    await ok(http, server, "getUpdates", offset=update["update_id"] + 1)
    await task


async def test_allowed_updates_filters_new_updates(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await started_chat(http, server)
    await send_text(
        http, server, chat, "Pilih", reply_markup=inline([{"text": "Ya", "callback_data": "y"}])
    )
    await ok(http, server, "getUpdates", allowed_updates=["message"])
    # The bot opted out of callback queries, so Telegram never creates them.
    assert await chat.press("Ya", timeout=1) == []
    assert server.pending_update_count == 0


async def test_webhook_and_concurrent_polls_conflict(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    await ok(http, server, "setWebhook", url="https://example.org/hook")
    status, body = await call(http, server, "getUpdates")
    assert status == 409 and body["description"].startswith("Conflict: can't use getUpdates")
    await ok(http, server, "deleteWebhook", drop_pending_updates=True)
    assert server.webhook_deleted and (await ok(http, server, "getWebhookInfo"))["url"] == ""

    older = asyncio.create_task(call(http, server, "getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    newer = asyncio.create_task(call(http, server, "getUpdates", timeout=1))
    status, body = await asyncio.wait_for(older, 3)
    assert status == 409
    assert body["description"] == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running"
    )
    assert (await newer)[0] == 200


async def test_send_times_out_without_a_polling_bot(server: LocalBotAPI) -> None:
    chat = server.user(9)
    with pytest.raises(TimeoutError, match="never fetched it"):
        await chat.send("halo", timeout=0.3)


# --------------------------------------------------------------------------------------
# A real aiogram bot against the fake
# --------------------------------------------------------------------------------------


def demo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        await message.answer(
            f"Halo, <b>{html_decoration.quote(message.from_user.first_name)}</b>!",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text="Ping", callback_data="ping")],
                    [InlineKeyboardButton(text="Situs", url="https://bkpsdm.bekasikota.go.id")],
                ]
            ),
        )

    @router.callback_query(F.data == "ping")
    async def ping(callback: CallbackQuery) -> None:
        await callback.answer("pong")
        assert isinstance(callback.message, Message)
        await callback.message.edit_text("<i>Pong!</i>")

    @router.message(Command("phone"))
    async def ask_phone(message: Message) -> None:
        await message.answer(
            "Bagikan nomor HP Anda",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text="Kirim nomor", request_contact=True)]],
                resize_keyboard=True,
            ),
        )

    @router.message(F.contact)
    async def got_contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(
            f"Nomor {message.contact.phone_number} ({'milik sendiri' if own else 'orang lain'})",
            reply_markup=ReplyKeyboardRemove(),
        )

    @router.message(Command("long"))
    async def too_long(message: Message) -> None:
        try:
            await message.answer("x" * 5000)
        except TelegramBadRequest as exc:
            await message.answer(f"Gagal: {html_decoration.quote(exc.message)}")

    @router.message(Command("doc"))
    async def document(message: Message) -> None:
        await message.answer_document(
            BufferedInputFile(b"NIP;Nama\n1990;Budi\n", filename="rekap.csv"),
            caption="<i>Rekap</i> pegawai",
        )

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"Anda menulis: {html_decoration.quote(message.text or '')}")

    return router


async def test_aiogram_round_trip(server: LocalBotAPI) -> None:
    chat = server.user(2024, first_name="Budi & Ani")
    seen: list[tuple[str, bool]] = []
    chat.on_message = lambda message, edited: seen.append((message.text, edited))

    async with running_bot(server, demo_router()):
        # text -> reply (HTML parsed, user name escaped by the handler)
        replies = await chat.send("/start")
        assert [m.text for m in replies] == ["Halo, Budi & Ani!"]
        assert replies[0].entities == [{"type": "bold", "offset": 6, "length": 10}]
        assert chat.buttons() == [["Ping"], ["Situs"]]

        # inline button -> callback answered + message edited (keyboard dropped)
        edited = await chat.press("Ping")
        assert len(edited) == 1 and edited[0].edited and edited[0].text == "Pong!"
        assert edited[0].message_id == replies[0].message_id
        assert [a.get("text") for a in chat.callback_answers] == ["pong"]
        assert chat.messages[-1].text == "Pong!" and chat.messages[-1].reply_markup is None
        with pytest.raises(LookupError, match="Ping"):
            await chat.press("Ping")  # the keyboard is gone

        # reply keyboard with request_contact -> contact message
        await chat.send("/phone")
        assert chat.reply_keyboard == [[{"text": "Kirim nomor", "request_contact": True}]]
        with pytest.raises(ValueError, match="phone="):
            await chat.press("Kirim nomor")
        replies = await chat.press("Kirim nomor", phone="+6281234567890")
        assert [m.text for m in replies] == ["Nomor +6281234567890 (milik sendiri)"]
        assert chat.reply_keyboard is None  # ReplyKeyboardRemove applied
        replies = await chat.share_contact("+628999", contact_user_id=None, first_name="Ibu")
        assert replies[0].text == "Nomor +628999 (orang lain)"

        # rejected over-long text raises TelegramBadRequest inside the handler
        replies = await chat.send("/long")
        assert [m.text for m in replies] == ["Gagal: Bad Request: message is too long"]

        # multipart upload
        replies = await chat.send("/doc")
        assert replies[0].kind == "document" and replies[0].text == "Rekap pegawai"
        assert replies[0].document is not None
        assert replies[0].document["file_name"] == "rekap.csv"
        assert replies[0].document["content"] == b"NIP;Nama\n1990;Budi\n"
        assert replies[0].document["size"] == 19
        assert replies[0].entities == [{"type": "italic", "offset": 0, "length": 5}]

        # plain text with characters that need escaping
        replies = await chat.send("1 < 2 & 3 > 2")
        assert chat.last_text == "Anda menulis: 1 < 2 & 3 > 2"

    assert ("Pong!", True) in seen and seen[0] == ("Halo, Budi & Ani!", False)
    assert len(seen) == len(chat._log)


async def test_aiogram_press_by_index_and_lookup_errors(server: LocalBotAPI) -> None:
    chat = server.user(31)
    async with running_bot(server, demo_router()):
        await chat.send("/start")
        with pytest.raises(LookupError, match=r"\[\['Ping'\], \['Situs'\]\]"):
            await chat.press("Tidak ada")
        with pytest.raises(ValueError, match="url button"):
            await chat.press(2)
        replies = await chat.press(1, message=chat.messages[0])
        assert replies[0].text == "Pong!"


async def test_proactive_push_and_commands(server: LocalBotAPI) -> None:
    chat = server.user(42, first_name="Rina")
    pushed: list[BotMessage] = []
    chat.on_message = lambda message, edited: pushed.append(message)
    async with running_bot(server, demo_router()) as bot:
        await chat.send("/start")
        await bot.set_my_commands(
            [
                BotCommand(command="start", description="Mulai"),
                BotCommand(command="profil", description="Profil saya"),
            ]
        )
        assert server.commands == [
            {"command": "start", "description": "Mulai"},
            {"command": "profil", "description": "Profil saya"},
        ]
        assert [c.command for c in await bot.get_my_commands()] == ["start", "profil"]
        with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
            await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])

        # The bot writes without any update (a notification).
        sent = await bot.send_message(chat.user_id, "Pengajuan Anda <b>disetujui</b>")
        assert sent.text == "Pengajuan Anda disetujui"
        assert chat.last_text == "Pengajuan Anda disetujui"
        assert pushed[-1].text == "Pengajuan Anda disetujui"
        await bot.send_chat_action(chat.user_id, "typing")
        assert chat.chat_actions == ["typing"]
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(999_999, "siapa?")


async def test_utf16_len() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("é") == 1
