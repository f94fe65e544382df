"""A local, in-process fake of the Telegram Bot API HTTP server.

The real aiogram ``Bot`` talks to it through
``AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))`` and the real
``Dispatcher`` long-polls it with ``getUpdates``.  The other half of the fake is
the *user side*: :class:`ChatClient` plays a Telegram client in a private chat
(sends text, shares a contact, sends files, presses buttons) and observes what
the bot sends.

It is used by the end-to-end tests and by the local console chat
(``asnbot chat``).  Only the stdlib and aiohttp are used.

Fidelity notes (where it mirrors Telegram, and where it is deliberately stricter):

* HTML parsing follows tdlib's ``parse_html`` (the code behind the real Bot
  API server): same tag set, same error wording and UTF-8 byte offsets,
  UTF-16 entity offsets, whitespace trimming, ``</>`` closing any tag.
* Deliberately stricter than Telegram, so that unescaped user data is caught
  in tests instead of producing odd output in production: a bare ``&`` in text
  that does not form one of ``&lt; &gt; &amp; &quot;`` or a numeric reference
  is rejected (Telegram keeps it literally), and ``<a>`` requires ``href``.
  Inside attribute values a bare ``&`` is still accepted (URLs with query
  strings, as aiogram's ``html.link`` writes them).
* MarkdownV2/Markdown are not implemented and are rejected loudly.
* Files: users send documents/photos (:meth:`ChatClient.send_document`,
  :meth:`ChatClient.send_photo`); the bot fetches them like from Telegram, with
  ``getFile`` (refusing files over 20 MB) and ``GET /file/bot<token>/<file_path>``,
  so aiogram's ``Bot.download`` works unchanged.  A ``file_path`` exists only
  after ``getFile``, as in Telegram.  Files the bot uploads get a file_id too (it
  can send them again by id, or ``getFile`` them) and their bytes are kept in
  ``BotMessage.document["content"]``.  Sending a file_id of the wrong kind
  (a photo's id with ``sendDocument`` or vice versa) fails like in Telegram;
  unknown file_ids/URLs are accepted and only remembered.

Webhook mode (opt-in: ``LocalBotAPI(deliver_webhooks=True)``): once the bot calls
``setWebhook``, updates are POSTed to its URL with the ``secret_token`` in the
``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram does (``getUpdates`` then
answers 409). :meth:`LocalBotAPI.load_balance` spreads them round robin over
several bot instances behind that one URL. A bot answering the webhook at once
and working in the background gives no "processed" signal, so here an update
counts as processed when the bot has answered in that chat and then been quiet
there for ``webhook_settle`` seconds (or has said nothing for ``webhook_idle``).

The "processed" handshake: tests run the dispatcher with
``handle_as_tasks=False``, so a ``getUpdates`` whose ``offset`` is above an
update's id means that update's handler has returned.  :meth:`ChatClient.send`
and friends wait for exactly that and return what the bot sent or edited in
the chat between delivering the update and that confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import json
import logging
import math
import mimetypes
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from aiohttp.web_request import FileField

__all__ = [
    "SELF",
    "BotMessage",
    "ChatClient",
    "HTMLParseError",
    "LimitStats",
    "LocalBotAPI",
    "TelegramLimits",
    "UploadedFile",
    "parse_html",
    "utf16_len",
]

logger = logging.getLogger(__name__)

# Telegram limits (https://core.telegram.org/bots/api).
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_REPLY_BUTTONS = 300
MAX_CALLBACK_ANSWER_TEXT = 200
MAX_COMMANDS = 100
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files
# Sizes Telegram makes of a sent photo (smallest first, like message.photo).
PHOTO_SIZES = ((90, 68), (320, 240), (1280, 960))

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_STALE_QUERY = "query is too old and response timeout expired or query ID is invalid"

# Update types Telegram delivers when allowed_updates is empty / never given.
_DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

# Parameters that carry JSON objects/arrays.  In form-urlencoded and multipart
# requests (which is what aiogram sends) they arrive as JSON strings.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "message_ids",
    }
)

_INLINE_ACTION_FIELDS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_REPLY_BUTTON_BOOL_FIELDS = ("request_contact", "request_location")

_BUTTON_URL_RE = re.compile(r"^(https?://[^\s/?#]+\S*|tg://\S+)$", re.IGNORECASE)
_BOT_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class _Self:
    """Sentinel type: "the contact is the sender's own" (request_contact button)."""

    def __repr__(self) -> str:
        return "SELF"


SELF: Any = _Self()


# --------------------------------------------------------------------------------------
# Text helpers and the HTML parser
# --------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class HTMLParseError(ValueError):
    """Raised by :func:`parse_html`; ``detail`` is the part after "can't parse entities: "."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# tdlib's is_space(); NUL is handled by the end-of-text checks.
_HTML_SPACE = frozenset(" \t\r\n\v\f")
# Whitespace that Telegram trims from both ends of a message text.
_TRIM_CHARS = " \t\r\n\v\f"

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference starting at ``text[pos] == "&"``.

    Mirrors tdlib's decode_html_entity: the four named entities, decimal and
    hexadecimal numeric references, the trailing ``;`` being optional.
    Returns ``(character, position after the reference)`` or ``None``.
    """
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        digits = 0
        if end < n and text[end] in "xX":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                digits += 1
                if value >= 0x10FFFF:
                    return None
        else:
            while end < n and "0" <= text[end] <= "9":
                value = value * 10 + ord(text[end]) - 48
                end += 1
                digits += 1
                if value >= 0x10FFFF:
                    return None
        if digits == 0 or value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    text_pos: int
    byte_offset: int
    expandable: bool = False
    date_format: str | None = None
    seq: int = 0  # opening order: outer tags sort before inner ones on equal spans


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into ``(plain_text, entities)``.

    Follows tdlib's parse_html (see the module docstring for the deliberate
    strictness).  Entity offsets/lengths are UTF-16 code units; the result is
    trimmed of leading/trailing whitespace like Telegram does.  Raises
    :class:`HTMLParseError` with Telegram's wording.
    """
    n = len(text)
    out: list[str] = []
    out_len = 0  # len("".join(out)), kept incrementally
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    opened = 0

    def at(i: int) -> str:
        return text[i] if i < n else ""

    def byte_offset(i: int) -> int:
        return len(text[:i].encode("utf-8", "surrogatepass"))

    def is_space(ch: str) -> bool:
        return ch in _HTML_SPACE and ch != ""

    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is None:
                raise HTMLParseError(
                    f'Unsupported HTML entity at byte offset {byte_offset(i)}; a literal "&" '
                    'must be escaped as "&amp;"'
                )
            char, i = decoded
            out.append(char)
            out_len += len(char)
            u16 += utf16_len(char)
            continue
        if c != "<":
            out.append(c)
            out_len += 1
            u16 += utf16_len(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            # ---- start tag ----
            while at(i) and not is_space(at(i)) and at(i) != ">":
                i += 1
            if not at(i):
                raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise HTMLParseError(
                    f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            attrs: dict[str, str] = {}
            expandable = False
            while at(i) != ">":
                while is_space(at(i)):
                    i += 1
                if at(i) == ">":
                    break
                if not at(i):
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                name_begin = i
                while at(i) and not is_space(at(i)) and at(i) not in "=>":
                    i += 1
                attr_name = text[name_begin:i].lower()
                if not attr_name:
                    raise HTMLParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{byte_offset(begin)}"
                    )
                while is_space(at(i)):
                    i += 1
                if at(i) != "=":
                    # The only valueless attribute Telegram knows.
                    if tag == "blockquote" and attr_name == "expandable":
                        expandable = True
                        continue
                    if not at(i):
                        raise HTMLParseError(
                            f"Unclosed start tag at byte offset {byte_offset(begin)}"
                        )
                    raise HTMLParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte_offset(begin)}'
                    )
                i += 1
                while is_space(at(i)):
                    i += 1
                if not at(i):
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                value_chars: list[str] = []
                if at(i) not in "'\"":
                    # Unquoted: an HTML name token (letters, digits, periods, hyphens).
                    token_begin = i
                    while at(i) and ((at(i).isascii() and at(i).isalnum()) or at(i) in ".-"):
                        i += 1
                    value = text[token_begin:i].lower()
                    if not is_space(at(i)) and at(i) != ">":
                        offset = byte_offset(token_begin)
                        raise HTMLParseError(
                            f"Unexpected end of name token at byte offset {offset}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    while at(i) and at(i) != quote:
                        if at(i) == "&":
                            decoded = _decode_html_entity(text, i)
                            if decoded is not None:
                                value_chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        # Like Telegram, a bare "&" inside an attribute stays literal.
                        value_chars.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(value_chars)
                if not at(i):
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                attrs[attr_name] = value
            i += 1  # skip ">"

            argument = ""
            date_format: str | None = None
            offset_b = byte_offset(begin)
            if tag == "a":
                if not attrs.get("href"):
                    raise HTMLParseError(
                        f'Tag "a" must have a non-empty attribute "href" at byte offset {offset_b}'
                    )
                argument = attrs["href"]
            elif tag == "code":
                cls = attrs.get("class", "")
                if cls.startswith("language-"):
                    argument = cls[len("language-") :]
            elif tag == "span":
                if attrs.get("class") != "tg-spoiler":
                    raise HTMLParseError(
                        f'Tag "span" must have class "tg-spoiler" at byte offset {offset_b}'
                    )
            elif tag == "tg-emoji":
                argument = attrs.get("emoji-id", "")
                if not argument.isdigit():
                    raise HTMLParseError(
                        f"Invalid custom emoji identifier specified at byte offset {offset_b}"
                    )
            elif tag == "tg-time":
                argument = attrs.get("unix", "")
                if not argument.isdigit():
                    raise HTMLParseError(f"Invalid Unix time specified at byte offset {offset_b}")
                date_format = attrs.get("format")
            stack.append(
                _OpenTag(tag, argument, u16, out_len, offset_b, expandable, date_format, opened)
            )
            opened += 1
            continue

        # ---- end tag ----
        if not stack:
            raise HTMLParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
        i += 1  # skip "/"
        while at(i) and not is_space(at(i)) and at(i) != ">":
            i += 1
        end_name = text[begin + 2 : i]
        while is_space(at(i)):
            i += 1
        if at(i) != ">":
            raise HTMLParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
        i += 1
        open_tag = stack[-1]
        # Telegram accepts "</>" as a universal closing tag.
        if end_name and end_name.lower() != open_tag.name:
            raise HTMLParseError(
                f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_name}>"'
            )
        stack.pop()
        if u16 > open_tag.utf16_offset:  # empty entities are dropped
            entity = _entity_for_tag(open_tag, u16 - open_tag.utf16_offset, entities)
            if entity is not None:
                entity["_seq"] = open_tag.seq
                entities.append(entity)

    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    plain = "".join(out)
    entities.sort(key=lambda e: (e["offset"], -e["length"], e["_seq"]))
    for entity in entities:
        del entity["_seq"]
    return _trim(plain, entities)


def _entity_for_tag(
    tag: _OpenTag, length: int, entities: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Build the entity for a closed tag (may rewrite the previous one for <pre><code>)."""
    offset = tag.utf16_offset
    base: dict[str, Any] = {"offset": offset, "length": length}
    if tag.name in _SIMPLE_TAG_TYPES:
        return {"type": _SIMPLE_TAG_TYPES[tag.name], **base}
    if tag.name == "a":
        return {"type": "text_link", **base, "url": tag.argument}
    if tag.name == "code":
        entity = {"type": "code", **base}
        if tag.argument:
            entity["language"] = tag.argument
        return entity
    if tag.name == "pre":
        # <pre><code class="language-x">...</code></pre> becomes one "pre" entity
        # with a language, exactly as Telegram does.
        if entities:
            last = entities[-1]
            if last["type"] == "code" and last["offset"] == offset and last["length"] == length:
                entities.pop()
                entity = {"type": "pre", **base}
                if last.get("language"):
                    entity["language"] = last["language"]
                return entity
        return {"type": "pre", **base}
    if tag.name == "blockquote":
        return {"type": "expandable_blockquote" if tag.expandable else "blockquote", **base}
    if tag.name == "tg-emoji":
        return {"type": "custom_emoji", **base, "custom_emoji_id": tag.argument}
    if tag.name == "tg-time":
        entity = {"type": "date_time", **base, "unix_time": int(tag.argument)}
        if tag.date_format:
            entity["date_time_format"] = tag.date_format
        return entity
    return None  # pragma: no cover - every allowed tag is handled above


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as Telegram does, shifting/clipping entities."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM_CHARS))])
    total = utf16_len(stripped)
    result = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


# --------------------------------------------------------------------------------------
# Public data classes
# --------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    """A file part of a multipart request (what aiogram sends for InputFile)."""

    file_name: str
    content: bytes
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class _StoredFile:
    """A file the server holds: sent by a user, or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    kind: str  # "document" or "photo"
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None  # photo sizes only
    height: int | None = None
    file_path: str | None = None  # assigned by the first getFile

    @property
    def size(self) -> int:
        return len(self.content)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
        }
        if self.kind == "photo":
            data["width"], data["height"] = self.width, self.height
        else:
            if self.file_name:
                data["file_name"] = self.file_name
            if self.mime_type:
                data["mime_type"] = self.mime_type
        data["file_size"] = self.size
        return data


@dataclass
class BotMessage:
    """A message the bot has in a chat, as the user sees it."""

    message_id: int
    chat_id: int
    text: str  # plain text after HTML parsing; the caption for documents/photos
    html: str | None = None  # the raw text as sent, when parse_mode was HTML
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None  # as sent (inline or reply keyboard)
    kind: str = "text"  # "text", "document", "photo"
    # file_id, file_unique_id, file_name, size, content (bytes, None when sent by an
    # unknown file_id/URL), mime_type of the file
    document: dict[str, Any] | None = None
    edited: bool = False
    date: int = 0
    edit_date: int | None = None

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]] | None:
        markup = self.reply_markup or {}
        keyboard = markup.get("inline_keyboard")
        return keyboard if isinstance(keyboard, list) else None

    @property
    def buttons(self) -> list[list[str]]:
        """Labels of this message's inline keyboard (empty if none)."""
        return [[b["text"] for b in row] for row in self.inline_keyboard or []]


class _APIError(Exception):
    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            data["parameters"] = self.parameters
        return data


def _bad(detail: str) -> _APIError:
    return _APIError(400, f"Bad Request: {detail}")


@dataclass
class _PendingUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]
    chat: ChatClient
    done: asyncio.Future[list[BotMessage]]
    log_start: int  # index into chat._log from which messages count for this update
    delivered: bool = False
    callback_query_id: str | None = None


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    remaining: int


# --------------------------------------------------------------------------------------
# The user side
# --------------------------------------------------------------------------------------


class ChatClient:
    """One user in a private chat with the bot (chat id == user id, as in Telegram)."""

    def __init__(
        self,
        api: LocalBotAPI,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        self._api = api
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.messages: list[BotMessage] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[str] = []
        self.blocked = False
        # Called for every message the bot sends/edits here (the console prints them).
        self.on_message: Callable[[BotMessage, bool], Any] | None = None
        self._started = False  # the user has written to the bot at least once
        self._log: list[BotMessage] = []  # snapshots of every send/edit, in order
        self._reply_keyboard: list[list[dict[str, Any]]] | None = None
        self._user_message_ids: set[int] = set()
        self._next_message_id = 1
        self._callback_tasks: set[asyncio.Future[Any]] = set()  # async on_message calls

    # ---- state ----------------------------------------------------------------------
    @property
    def reply_keyboard(self) -> list[list[dict[str, Any]]] | None:
        """The current reply keyboard (buttons as dicts), None if none or removed."""
        return self._reply_keyboard

    @property
    def last_message(self) -> BotMessage:
        if not self.messages:
            raise LookupError(f"the bot has no messages in chat {self.user_id}")
        return self.messages[-1]

    @property
    def last_text(self) -> str:
        """Text (or caption) of the latest bot message in this chat."""
        return self.last_message.text

    async def wait_for(self, predicate: Callable[[BotMessage], bool], *, timeout: float = 10.0,
                       since: int = 0) -> BotMessage:
        """Wait for a message the bot sends on its own (outbox delivery, reminders), i.e. not
        as a reply to an update. `since`: index into `messages` to start looking from."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for m in self.messages[since:]:
                if predicate(m):
                    return m
            if loop.time() >= deadline:
                raise TimeoutError(f"no matching message in chat {self.user_id}; last: "
                                   f"{[m.text[:60] for m in self.messages[-3:]]}")
            await asyncio.sleep(0.02)

    def block(self) -> None:
        """The user blocks the bot: sends to this chat now fail with 403."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    def buttons(self) -> list[list[str]]:
        """Labels of the currently relevant buttons.

        The inline keyboard of the latest message having one, else the current
        reply keyboard, else ``[]``.
        """
        message = self._latest_inline_message()
        if message is not None:
            return message.buttons
        return [[b["text"] for b in row] for row in self._reply_keyboard or []]

    # ---- actions --------------------------------------------------------------------
    async def send(self, text: str, *, timeout: float = 10.0) -> list[BotMessage]:
        """Send a text message and wait until the bot has processed it.

        Returns the messages the bot sent or edited in this chat meanwhile (one
        snapshot per send/edit, in order).
        """
        if not text or not text.strip():
            raise ValueError("Telegram clients cannot send an empty message")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"Telegram clients cannot send more than {MAX_TEXT_LENGTH} chars")
        message = self._new_user_message()
        message["text"] = text
        # Telegram marks a leading /command with a bot_command entity; aiogram's
        # Command filter does not need it, but other code may look at entities.
        match = _BOT_COMMAND_RE.match(text)
        if match:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}
            ]
        return await self._api._push_update(self, "message", message, timeout=timeout)

    async def share_contact(
        self,
        phone_number: str,
        *,
        contact_user_id: Any = SELF,  # int, None or SELF
        first_name: str | None = None,
        last_name: str | None = None,
        timeout: float = 10.0,
    ) -> list[BotMessage]:
        """Send a contact message.

        By default the contact is the user's own (``contact.user_id`` equals the
        sender, as with a ``request_contact`` button).  Pass another id, or
        ``None``, to simulate a forwarded / someone else's contact.
        """
        contact: dict[str, Any] = {"phone_number": phone_number}
        if contact_user_id is SELF:
            contact["first_name"] = first_name or self.first_name
            if last_name or self.last_name:
                contact["last_name"] = last_name or self.last_name
            contact["user_id"] = self.user_id
        else:
            contact["first_name"] = first_name or "Kontak"
            if last_name:
                contact["last_name"] = last_name
            if contact_user_id is not None:
                contact["user_id"] = int(contact_user_id)
        message = self._new_user_message()
        message["contact"] = contact
        return await self._api._push_update(self, "message", message, timeout=timeout)

    async def send_document(
        self,
        content: bytes,
        file_name: str,
        mime_type: str,
        *,
        caption: str | None = None,
        timeout: float = 10.0,
    ) -> list[BotMessage]:
        """Send a file as a document and wait until the bot has processed it.

        ``mime_type`` is what the client claims (Telegram passes it on unchecked), so
        a test can send a "sk.pdf" holding anything.  The bot gets it with getFile
        and the download URL, like from Telegram.
        """
        message = self._new_file_message(content, caption)
        record = self._api._register_file(
            bytes(content), "document", file_name=file_name, mime_type=mime_type
        )
        message["document"] = record.to_json()
        return await self._api._push_update(self, "message", message, timeout=timeout)

    async def send_photo(
        self, content: bytes, *, caption: str | None = None, timeout: float = 10.0
    ) -> list[BotMessage]:
        """Send a (compressed) photo: the message carries several PhotoSize of increasing
        dimensions, the largest last; every size downloads as ``content``."""
        message = self._new_file_message(content, caption)
        message["photo"] = [
            self._api._register_file(bytes(content), "photo", width=w, height=h).to_json()
            for w, h in PHOTO_SIZES
        ]
        return await self._api._push_update(self, "message", message, timeout=timeout)

    async def press(
        self,
        label_or_index: str | int,
        *,
        message: BotMessage | None = None,
        phone: str | None = None,
        timeout: float = 10.0,
    ) -> list[BotMessage]:
        """Press a button, like a user tapping it.

        Inline keyboard first (of ``message``, else of the latest bot message
        that has one): a callback button sends a ``callback_query``.  Otherwise
        the current reply keyboard: a plain button sends its text, a
        ``request_contact`` button shares the user's own contact with ``phone``.
        ``label_or_index`` is the exact label or a 1-based index counted row by
        row over the keyboard that :meth:`buttons` shows.
        """
        target = self._find_live(message) if message is not None else None
        inline_source = target if target is not None else self._latest_inline_message()
        inline_rows = (inline_source.inline_keyboard if inline_source else None) or []
        reply_rows = self._reply_keyboard or []

        button: dict[str, Any] | None = None
        from_inline = False
        if isinstance(label_or_index, int):
            rows = inline_rows if inline_rows else reply_rows
            flat = [b for row in rows for b in row]
            if 1 <= label_or_index <= len(flat):
                button = flat[label_or_index - 1]
                from_inline = bool(inline_rows)
        else:
            button = _find_button(inline_rows, label_or_index)
            from_inline = button is not None
            if button is None:
                button = _find_button(reply_rows, label_or_index)

        if button is None:
            raise LookupError(
                f"no button {label_or_index!r} in chat {self.user_id}; inline buttons: "
                f"{[[b['text'] for b in row] for row in inline_rows]}, reply keyboard: "
                f"{[[b['text'] for b in row] for row in reply_rows]}"
            )

        if from_inline:
            assert inline_source is not None
            if "callback_data" not in button:
                kind = next((f for f in _INLINE_ACTION_FIELDS if f in button), "unknown")
                detail = f" ({button['url']})" if kind == "url" else ""
                raise ValueError(
                    f"button {button['text']!r} is a {kind} button{detail}; only callback "
                    "buttons produce an update for the bot"
                )
            return await self._press_callback(inline_source, button["callback_data"], timeout)

        if button.get("request_contact"):
            if phone is None:
                raise ValueError(
                    f"button {button['text']!r} requests the user's contact: pass phone=... "
                    "to press it"
                )
            return await self.share_contact(phone, timeout=timeout)
        other_request = next((k for k in button if k.startswith("request_") and button[k]), None)
        if other_request is not None:
            raise ValueError(f"button {button['text']!r} uses {other_request}, not simulated")
        return await self.send(button["text"], timeout=timeout)

    # ---- internals ------------------------------------------------------------------
    async def _press_callback(
        self, message: BotMessage, data: str, timeout: float
    ) -> list[BotMessage]:
        query_id = self._api._new_callback_query(self)
        query = {
            "id": query_id,
            "from": self._user_json(),
            "message": self._api._message_json(self, message),
            "chat_instance": str(-(self.user_id * 7919 % 10**12) - 1),
            "data": data,
        }
        return await self._api._push_update(
            self, "callback_query", query, timeout=timeout, callback_query_id=query_id
        )

    def _find_live(self, message: BotMessage) -> BotMessage:
        for live in self.messages:
            if live.message_id == message.message_id:
                return live
        raise LookupError(f"message {message.message_id} no longer exists in chat {self.user_id}")

    def _latest_inline_message(self) -> BotMessage | None:
        for message in reversed(self.messages):
            if message.inline_keyboard:
                return message
        return None

    def _take_message_id(self) -> int:
        # Private chats share one message id sequence between both sides.
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def _new_file_message(self, content: bytes, caption: str | None) -> dict[str, Any]:
        if not content:
            raise ValueError("Telegram clients cannot send an empty file")
        if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
            raise ValueError(
                f"Telegram clients cannot send a caption over {MAX_CAPTION_LENGTH} chars"
            )
        message = self._new_user_message()
        if caption and caption.strip():
            message["caption"] = caption.strip(_TRIM_CHARS)
        return message

    def _new_user_message(self) -> dict[str, Any]:
        message_id = self._take_message_id()
        self._user_message_ids.add(message_id)
        return {
            "message_id": message_id,
            "from": self._user_json(),
            "chat": self._chat_json(),
            "date": int(time.time()),
        }

    def _user_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def _chat_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data

    def _record(self, message: BotMessage, edited: bool) -> None:
        snapshot = dataclasses.replace(message, entities=list(message.entities), edited=edited)
        self._log.append(snapshot)
        if self.on_message is not None:
            try:
                result = self.on_message(snapshot, edited)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_tasks.discard)
            except Exception:  # a broken printer must not break the fake server
                logger.exception("ChatClient.on_message callback failed")

    def __repr__(self) -> str:
        return f"<ChatClient user_id={self.user_id} messages={len(self.messages)}>"


class GroupChat(ChatClient):
    """A supergroup the bot is a member of (e.g. a staff helpdesk group). Members write with
    :meth:`send_as` and reply to a bot message with :meth:`reply_as`."""

    def __init__(self, api: LocalBotAPI, chat_id: int, title: str) -> None:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative in Telegram")
        super().__init__(api, chat_id, title, None, None, None)
        self.title = title
        self._started = True  # the bot was added to the group: it may post there
        self._sender: dict[str, Any] = {"id": 1, "is_bot": False, "first_name": "Anggota"}

    def _chat_json(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "supergroup", "title": self.title}

    def _user_json(self) -> dict[str, Any]:
        return dict(self._sender)

    async def send_as(self, user_id: int, first_name: str, text: str, *, timeout: float = 10.0) -> list[BotMessage]:
        self._sender = {"id": user_id, "is_bot": False, "first_name": first_name}
        return await self.send(text, timeout=timeout)

    async def reply_as(
        self, user_id: int, first_name: str, to: BotMessage, text: str, *, timeout: float = 10.0
    ) -> list[BotMessage]:
        """A member uses Telegram's Reply on ``to`` (a bot message in this group)."""
        self._sender = {"id": user_id, "is_bot": False, "first_name": first_name}
        message = self._new_user_message()
        message["text"] = text
        message["reply_to_message"] = self._api._message_json(self, self._find_live(to))
        return await self._api._push_update(self, "message", message, timeout=timeout)


def _find_button(rows: list[list[dict[str, Any]]], label: str) -> dict[str, Any] | None:
    for row in rows:
        for button in row:
            if button.get("text") == label:
                return button
    return None


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

_Handler = Callable[[dict[str, Any]], Any]


class LocalBotAPI:
    """An in-process fake Telegram Bot API server plus its simulated users."""

    def __init__(
        self,
        token: str = "123456:LOCAL-TEST-TOKEN",
        bot_id: int = 123456,
        bot_username: str = "asnbot_local",
        bot_first_name: str = "asnbot",
        enforce_limits: bool | TelegramLimits = False,
        deliver_webhooks: bool = False,
    ) -> None:
        """``enforce_limits``: answer 429 past Telegram's send rates (see :class:`TelegramLimits`).
        ``deliver_webhooks``: POST updates to the URL given with setWebhook (module docstring)."""
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.base_url = ""
        self.limits = TelegramLimits() if enforce_limits is True else (enforce_limits or None)
        # Observability for tests.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: list[dict[str, Any]] | None = None  # last setMyCommands payload
        self.commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_deleted = False
        self.webhook_url = ""
        # Webhook delivery (deliver_webhooks=True).
        self.deliver_webhooks = deliver_webhooks
        self.webhook_secret = ""  # secret_token of the last setWebhook
        self.webhook_max_connections = 40
        self.webhook_backends: list[str] | None = None  # see load_balance()
        self.webhook_settle = 0.25  # seconds of quiet in the chat after the bot's answer
        self.webhook_idle = 3.0  # seconds to wait for an answer at all
        self.webhook_posts = 0  # updates the webhook accepted
        # Seconds between accepting a send and answering it: a slow network, so that a sender
        # killed mid-run leaves requests Telegram has but whose answer never arrived.
        self.answer_delay = 0.0
        self.webhook_errors: list[str] = []  # what Telegram would show in last_error_message
        self._webhook_session: ClientSession | None = None
        self._next_backend = 0
        self._chat_signals: dict[int, asyncio.Event] = {}
        self.chats: dict[int, ChatClient] = {}
        self.downloads: list[str] = []  # file paths fetched from the download endpoint

        self._files: dict[str, _StoredFile] = {}  # by file_id
        self._files_by_path: dict[str, _StoredFile] = {}
        self._next_file = 1
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._updates: list[_PendingUpdate] = []
        self._next_update_id = 1
        self._update_signal = asyncio.Event()
        self._poll_generation = 0
        self._allowed_updates: frozenset[str] | None = None
        self._faults: dict[str, list[_Fault]] = {}
        self._callback_queries: dict[str, tuple[ChatClient, bool]] = {}
        self._next_callback_query = 1
        self._methods: dict[str, tuple[str, _Handler]] = {}
        for name in (
            "getMe",
            "logOut",
            "close",
            "getUpdates",
            "setWebhook",
            "deleteWebhook",
            "getWebhookInfo",
            "setMyCommands",
            "getMyCommands",
            "deleteMyCommands",
            "getChat",
            "getFile",
            "sendMessage",
            "sendDocument",
            "sendPhoto",
            "sendChatAction",
            "editMessageText",
            "editMessageCaption",
            "editMessageReplyMarkup",
            "deleteMessage",
            "deleteMessages",
            "answerCallbackQuery",
        ):
            # Telegram method names are case-insensitive.
            self._methods[name.lower()] = (name, getattr(self, f"_m_{name}"))

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL for ``TelegramAPIServer.from_base``."""
        if self._runner is not None:
            raise RuntimeError("LocalBotAPI is already running")
        self._closing = False
        # Files up to 50 MB, the Bot API's upload limit.
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving: wakes long polls and fails users still waiting for the bot."""
        self._closing = True
        self._wake_pollers()
        for pending in self._updates:
            if not pending.done.done():
                pending.done.set_exception(RuntimeError("LocalBotAPI was stopped"))
                # Nobody may await it any more; don't warn about it.
                pending.done.exception()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            if self._webhook_session is not None:
                await self._webhook_session.close()
                self._webhook_session = None
            await runner.cleanup()

    async def __aenter__(self) -> LocalBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- user side / test helpers ---------------------------------------------------
    def user(
        self,
        user_id: int,
        first_name: str = "Pengguna",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
    ) -> ChatClient:
        """The private chat of ``user_id`` (created on first use, then reused as is)."""
        chat = self.chats.get(user_id)
        if chat is None:
            chat = ChatClient(self, user_id, first_name, last_name, username, language_code)
            self.chats[user_id] = chat
        return chat

    def group(self, chat_id: int, title: str = "Grup") -> GroupChat:
        """A supergroup the bot belongs to (created on first use, then reused)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = GroupChat(self, chat_id, title)
            self.chats[chat_id] = chat
        if not isinstance(chat, GroupChat):
            raise ValueError(f"chat {chat_id} is a private chat")
        return chat

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with a Telegram error body.

        For 429 the body carries ``parameters.retry_after`` (default 1s), which is
        what aiogram turns into ``TelegramRetryAfter``.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, description, retry_after, count)
        )

    def open_chats(self, user_ids: Any) -> list[ChatClient]:
        """Private chats whose users have written to the bot before (as after /start), made
        without running the bot: for load tests with thousands of recipients."""
        chats = [self.user(int(user_id)) for user_id in user_ids]
        for chat in chats:
            chat._started = True
        return chats

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """Params of every received call of ``method`` (case-insensitive)."""
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def file_content(self, file_id: str) -> bytes:
        """The bytes behind a file_id (sent by a user or uploaded by the bot)."""
        record = self._files.get(file_id)
        if record is None:
            raise LookupError(f"unknown file_id {file_id!r}")
        return record.content

    @property
    def pending_update_count(self) -> int:
        return len(self._updates)

    # ---- update queue ---------------------------------------------------------------
    async def _push_update(
        self,
        chat: ChatClient,
        kind: str,
        body: dict[str, Any],
        *,
        timeout: float,
        callback_query_id: str | None = None,
    ) -> list[BotMessage]:
        if self._runner is None:
            raise RuntimeError("LocalBotAPI is not running; await api.start() first")
        # Writing to the bot is what makes the chat known to it; a real client
        # also unblocks the bot when the user writes again ("Restart").
        chat._started = True
        chat.blocked = False
        if self._allowed_updates is not None and kind not in self._allowed_updates:
            # Telegram does not even create updates the bot opted out of.
            logger.warning(
                "%s update from %s dropped: the bot polls with allowed_updates=%s",
                kind,
                chat.user_id,
                sorted(self._allowed_updates),
            )
            return []
        update_id = self._next_update_id
        self._next_update_id += 1
        pending = _PendingUpdate(
            update_id=update_id,
            kind=kind,
            payload={"update_id": update_id, kind: body},
            chat=chat,
            done=asyncio.get_running_loop().create_future(),
            log_start=len(chat._log),
            callback_query_id=callback_query_id,
        )
        if self.deliver_webhooks and self.webhook_url:
            return await self._post_to_webhook(pending, timeout)
        self._updates.append(pending)
        self._wake_pollers()
        try:
            result = await asyncio.wait_for(asyncio.shield(pending.done), timeout)
        except TimeoutError:
            if pending.delivered:
                hint = (
                    "it was delivered but the bot did not confirm it (a handler still "
                    "running, or the dispatcher runs with handle_as_tasks=True?)"
                )
            else:
                hint = (
                    "the bot never fetched it: is a Dispatcher polling "
                    + (self.base_url or "this LocalBotAPI")
                    + "?"
                )
            raise TimeoutError(
                f"update #{update_id} ({kind} from {chat.user_id}) was not processed "
                f"within {timeout}s: {hint}"
            ) from None
        if callback_query_id is not None and not self._callback_queries[callback_query_id][1]:
            # A real client would show a spinner until the query times out.
            logger.warning("callback query %s was not answered by the bot", callback_query_id)
        return result

    # ---- webhook delivery ---------------------------------------------------------------
    def load_balance(self, backends: list[str] | None) -> None:
        """Deliver webhook updates round robin to these base URLs (several bot instances behind
        the one registered URL, as a load balancer would), keeping that URL's path and query.
        ``None``: to the registered URL itself."""
        self.webhook_backends = [b.rstrip("/") for b in backends] if backends else None
        self._next_backend = 0

    def _webhook_target(self) -> str:
        if not self.webhook_backends:
            return self.webhook_url
        parts = urlsplit(self.webhook_url)
        backend = self.webhook_backends[self._next_backend % len(self.webhook_backends)]
        self._next_backend += 1
        return backend + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _webhook_client(self) -> ClientSession:
        session = self._webhook_session
        if session is None or session.connector is None or session.connector.limit != self.webhook_max_connections:
            if session is not None:
                asyncio.ensure_future(session.close())
            # Telegram opens at most max_connections (setWebhook) connections at once.
            session = ClientSession(connector=TCPConnector(limit=self.webhook_max_connections))
            self._webhook_session = session
        return session

    async def _post_to_webhook(self, pending: _PendingUpdate, timeout: float) -> list[BotMessage]:
        chat = pending.chat
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        target = self._webhook_target()
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        pending.delivered = True
        pending.log_start = len(chat._log)
        answers_before = len(chat.callback_answers)
        try:
            async with self._webhook_client().post(
                target, json=pending.payload, headers=headers, timeout=ClientTimeout(total=timeout)
            ) as response:
                await response.read()
                status = response.status
        except (ClientError, TimeoutError) as exc:
            self.webhook_errors.append(f"Connection failed: {exc!r}")
            raise ConnectionError(f"update #{pending.update_id}: webhook {target} unreachable: {exc!r}") from None
        if status != 200:
            # Telegram would retry later; tests want to know at once.
            self.webhook_errors.append(f"Wrong response from the webhook: {status}")
            raise ConnectionError(f"update #{pending.update_id}: webhook {target} answered {status}")
        self.webhook_posts += 1

        def activity() -> int:
            return len(chat._log) - pending.log_start + len(chat.callback_answers) - answers_before

        seen, started = 0, loop.time()
        last_change = started
        while True:
            signal = self._chat_signals.setdefault(chat.user_id, asyncio.Event())
            now = loop.time()
            count = activity()
            if count != seen:
                seen, last_change = count, now
            wait = (self.webhook_settle - (now - last_change)) if seen else (self.webhook_idle - (now - started))
            if wait <= 0:
                break
            if now >= deadline:
                raise TimeoutError(
                    f"update #{pending.update_id} ({pending.kind} from {chat.user_id}): the bot kept "
                    f"answering for {timeout}s"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), min(wait, deadline - now))
        return list(chat._log[pending.log_start :])

    def _poke(self, canonical: str, params: dict[str, Any]) -> None:
        """Wake webhook deliveries waiting on the chat this call touched."""
        if canonical == "answerCallbackQuery":
            entry = self._callback_queries.get(str(params.get("callback_query_id") or ""))
            chat_id: Any = entry[0].user_id if entry else None
        else:
            chat_id = params.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            signal = self._chat_signals.pop(int(chat_id), None)
            if signal is not None:
                signal.set()

    def _wake_pollers(self) -> None:
        # Every waiter holds the old event; swapping wakes them all at once.
        self._update_signal.set()
        self._update_signal = asyncio.Event()

    def _confirm(self, offset: int) -> None:
        """Apply getUpdates' ``offset``: forget (= mark processed) older updates."""
        if offset > 0:
            confirmed = [u for u in self._updates if u.update_id < offset]
        elif offset < 0:
            confirmed = self._updates[: max(len(self._updates) + offset, 0)]
        else:
            return
        for pending in confirmed:
            self._updates.remove(pending)
            if not pending.done.done():
                pending.done.set_result(list(pending.chat._log[pending.log_start :]))

    def _new_callback_query(self, chat: ChatClient) -> str:
        query_id = str(4_000_000_000_000_000 + self._next_callback_query)
        self._next_callback_query += 1
        self._callback_queries[query_id] = (chat, False)
        return query_id

    def _register_file(
        self,
        content: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> _StoredFile:
        number = self._next_file
        self._next_file += 1
        # Like Telegram's, the unique id is stable for the same file (here: same bytes
        # and size); file ids are opaque and differ per upload.
        digest = hashlib.sha256(content).hexdigest()[:16]
        unique = digest if kind == "document" else f"{digest}-{width}x{height}"
        prefix = "BQAD" if kind == "document" else "AgAD"
        record = _StoredFile(
            file_id=f"{prefix}{number:06d}{digest[:8]}",
            file_unique_id=unique,
            kind=kind,
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[record.file_id] = record
        return record

    # ---- HTTP -----------------------------------------------------------------------
    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_error(_APIError(401, "Unauthorized"))
        path = request.match_info["path"]
        record = self._files_by_path.get(path)
        if record is None:
            return _json_error(_APIError(404, "Not Found"))
        self.downloads.append(path)
        return web.Response(body=record.content, content_type="application/octet-stream")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_error(_APIError(401, "Unauthorized"))
        method_name = request.match_info["method"]
        entry = self._methods.get(method_name.lower())
        try:
            params = await self._read_params(request)
        except _APIError as exc:
            self.calls.append((entry[0] if entry else method_name, {}))
            return _json_error(exc)
        if entry is None:
            self.calls.append((method_name, params))
            return _json_error(_APIError(404, "Not Found"))
        canonical, handler = entry
        self.calls.append((canonical, params))

        faults = self._faults.get(canonical.lower())
        if faults:
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.pop(0)
            parameters = {"retry_after": fault.retry_after} if fault.retry_after else None
            return _json_error(_APIError(fault.status, fault.description, parameters))
        limited = self.limits is not None and canonical in _RATE_LIMITED
        if limited:
            refusal = self.limits.admit(params)
            if refusal is not None:
                return _json_error(refusal)

        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except _APIError as exc:
            return _json_error(exc)
        except Exception as exc:  # surface bugs of the fake as a 500, not a hang
            logger.exception("LocalBotAPI: %s failed", canonical)
            return _json_error(_APIError(500, f"Internal Server Error: {exc!r}"))
        if limited:
            self.limits.delivered(canonical, params)
        if self.answer_delay and canonical in _RATE_LIMITED:
            await asyncio.sleep(self.answer_delay)
        if self._chat_signals:
            self._poke(canonical, params)
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise _bad("JSON request body must be an object")
                params.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, FileField):
                        params[key] = UploadedFile(
                            file_name=value.filename or key,
                            content=value.file.read(),
                            content_type=value.content_type,
                        )
                    else:
                        params[key] = value

        # aiogram uploads files as parts with random names referenced by
        # "attach://<name>" in the real field.
        attachment_keys: set[str] = set()
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                part = value[len("attach://") :]
                attached = params.get(part)
                if not isinstance(attached, UploadedFile):
                    raise _bad(f"can't find attached file for {key}")
                params[key] = attached
                attachment_keys.add(part)
        for part in attachment_keys:
            params.pop(part, None)

        for key in _JSON_PARAMS & params.keys():
            value = params[key]
            if isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    if key == "reply_markup":
                        raise _bad("can't parse reply keyboard markup JSON object") from None
                    raise _bad(f"can't parse {key} JSON object") from None
        return params

    # ---- helpers for methods --------------------------------------------------------
    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _chat(self, params: dict[str, Any], *, for_sending: bool = True) -> ChatClient:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat: ChatClient | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username == raw[1:]), None)
        else:
            try:
                chat = self.chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        # A bot cannot see a private chat until the user has written to it.
        if chat is None or not chat._started:
            raise _bad("chat not found")
        if for_sending and chat.blocked:
            raise _APIError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _message(self, chat: ChatClient, params: dict[str, Any], action: str) -> BotMessage:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the local API")
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        for message in chat.messages:
            if message.message_id == message_id:
                return message
        raise _bad(f"message to {action} not found")

    def _message_json(self, chat: ChatClient, message: BotMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self._bot_user(),
            "chat": chat._chat_json(),
            "date": message.date,
        }
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.kind == "text":
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        else:
            if message.text:
                data["caption"] = message.text
            if message.entities:
                data["caption_entities"] = message.entities
            doc = message.document or {}
            file_info = {
                "file_id": doc.get("file_id") or f"local-{chat.user_id}-{message.message_id}",
                "file_unique_id": doc.get("file_unique_id")
                or f"u{chat.user_id}m{message.message_id}",
            }
            if doc.get("size") is not None:
                file_info["file_size"] = doc["size"]
            if message.kind == "document":
                if doc.get("file_name"):
                    file_info["file_name"] = doc["file_name"]
                if doc.get("mime_type"):
                    file_info["mime_type"] = doc["mime_type"]
                data["document"] = file_info
            else:
                data["photo"] = [{**file_info, "width": 320, "height": 320}]
        # Only inline keyboards are part of a Message object.
        if message.inline_keyboard:
            data["reply_markup"] = message.reply_markup
        return data

    def _formatted(
        self, params: dict[str, Any], text_key: str, entities_key: str, limit: int
    ) -> tuple[str, str | None, list[dict[str, Any]]]:
        """Parse text/caption per parse_mode; returns (plain, html, entities)."""
        raw = params.get(text_key)
        raw = "" if raw is None else str(raw)
        parse_mode = str(params.get("parse_mode") or "")
        explicit = params.get(entities_key)
        html_source: str | None = None
        if explicit:
            # Explicit entities take precedence over parse_mode.
            if not isinstance(explicit, list):
                raise _bad(f"can't parse {entities_key} JSON object")
            plain, entities = _trim(raw, [dict(e) for e in explicit])
        elif parse_mode.lower() == "html":
            try:
                plain, entities = parse_html(raw)
            except HTMLParseError as exc:
                raise _bad(f"can't parse entities: {exc.detail}") from None
            html_source = raw
        elif parse_mode == "":
            plain, entities = _trim(raw, [])
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            raise _bad(f"parse_mode {parse_mode} is not supported by the local API")
        else:
            raise _bad(f"unsupported parse_mode {parse_mode!r}")
        if len(plain) > limit:
            raise _bad(
                "message is too long" if text_key == "text" else "message caption is too long"
            )
        return plain, html_source, entities

    def _markup(
        self, params: dict[str, Any], *, inline_only: bool = False
    ) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup["inline_keyboard"])
            return markup
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in markup:
            _validate_reply_keyboard(markup["keyboard"])
            return markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _deliver(self, chat: ChatClient, message: BotMessage) -> dict[str, Any]:
        chat.messages.append(message)
        markup = message.reply_markup or {}
        if "keyboard" in markup:
            chat._reply_keyboard = [
                [b if isinstance(b, dict) else {"text": b} for b in row]
                for row in markup["keyboard"]
            ]
        elif markup.get("remove_keyboard"):
            chat._reply_keyboard = None
        chat._record(message, edited=False)
        return self._message_json(chat, message)

    def _edited(self, chat: ChatClient, message: BotMessage) -> dict[str, Any]:
        message.edited = True
        message.edit_date = int(time.time())
        chat._record(message, edited=True)
        return self._message_json(chat, message)

    # ---- methods: bot and updates ---------------------------------------------------
    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _APIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset") or 0
        limit = min(max(_int_param(params, "limit") or 100, 1), 100)
        timeout = max(_int_param(params, "timeout") or 0, 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the setting; an empty list means "the default set".
            self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_ALLOWED_UPDATES

        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # lets an older, still waiting poll notice it was superseded
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            signal = self._update_signal
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), remaining)
            if generation != self._poll_generation:
                # Telegram ends the older of two concurrent long polls this way.
                raise _APIError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
        batch = self._updates[:limit]
        for pending in batch:
            if not pending.delivered:
                pending.delivered = True
                # Messages from here on are this update's answer.
                pending.log_start = len(pending.chat._log)
        return [pending.payload for pending in batch]

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = _int_param(params, "max_connections")
        if max_connections is not None and not 1 <= max_connections <= 100:
            raise _bad("invalid max_connections specified")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_ALLOWED_UPDATES
        self.webhook_url = url
        self.webhook_secret = secret
        self.webhook_max_connections = max_connections or 40
        self.webhook_deleted = not url
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        self.webhook_deleted = True
        if _bool_param(params, "drop_pending_updates"):
            dropped, self._updates = self._updates, []
            for pending in dropped:
                if not pending.done.done():
                    pending.done.set_result([])
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self.webhook_errors:
            info["last_error_message"] = self.webhook_errors[-1]
        return info

    # ---- methods: commands ----------------------------------------------------------
    @staticmethod
    def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _bad("too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = command.get("command")
            if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name.lstrip("/")):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = [dict(c) for c in commands]
        self.commands_by_scope[self._scope_key(params)] = self.commands
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands_by_scope.get(self._scope_key(params), [])

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands_by_scope.pop(self._scope_key(params), None)
        return True

    # ---- methods: chats and messages ------------------------------------------------
    def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params, for_sending=False)
        return {**chat._chat_json(), "accent_color_id": 0, "max_reaction_count": 11}

    def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        chat.chat_actions.append(str(params.get("action") or ""))
        return True

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        plain, html_source, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH)
        if not plain:
            raise _bad("message text is empty")
        markup = self._markup(params)
        message = BotMessage(
            message_id=chat._take_message_id(),
            chat_id=chat.user_id,
            text=plain,
            html=html_source,
            entities=entities,
            reply_markup=markup,
            date=int(time.time()),
        )
        return self._deliver(chat, message)

    def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._files.get(str(params.get("file_id") or ""))
        if record is None:
            raise _bad("invalid file_id")
        if record.size > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        if record.file_path is None:
            folder = "photos" if record.kind == "photo" else "documents"
            ext = ".jpg" if record.kind == "photo" else _safe_extension(record.file_name)
            record.file_path = f"{folder}/file_{len(self._files_by_path)}{ext}"
            self._files_by_path[record.file_path] = record
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": record.file_path,
        }

    def _send_file(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat = self._chat(params)
        value = params.get(kind)
        record: _StoredFile | None = None
        if isinstance(value, UploadedFile):
            # Telegram names the type after the file name, not the part's header
            # (aiogram sends application/octet-stream).
            mime = mimetypes.guess_type(value.file_name)[0] or value.content_type
            record = self._register_file(
                value.content,
                kind,
                file_name=value.file_name if kind == "document" else None,
                mime_type=mime if kind == "document" else None,
                width=320 if kind == "photo" else None,
                height=320 if kind == "photo" else None,
            )
            document: dict[str, Any] = {"file_name": value.file_name, "mime_type": mime}
        elif isinstance(value, str) and value:
            record = self._files.get(value)
            if record is None:
                # A URL or a file_id we never issued: Telegram would fetch/reuse it;
                # we only remember it.
                document = {"file_id": value, "file_name": None, "size": None, "content": None}
            elif record.kind != kind:
                raise _bad("type of file mismatch")
            else:
                document = {"file_name": record.file_name, "mime_type": record.mime_type}
        else:
            raise _bad(f"there is no {kind} in the request")
        if record is not None:
            document.update(
                file_id=record.file_id,
                file_unique_id=record.file_unique_id,
                size=record.size,
                content=record.content,
            )
        plain, html_source, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH
        )
        message = BotMessage(
            message_id=chat._take_message_id(),
            chat_id=chat.user_id,
            text=plain,
            html=html_source,
            entities=entities,
            reply_markup=self._markup(params),
            kind=kind,
            document=document,
            date=int(time.time()),
        )
        return self._deliver(chat, message)

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_file(params, "document")

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._send_file(params, "photo")

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params, for_sending=False)
        message = self._message(chat, params, "edit")
        if message.kind != "text":
            raise _bad("there is no text in the message to edit")
        plain, html_source, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH)
        if not plain:
            raise _bad("message text is empty")
        # Editing without reply_markup removes the inline keyboard in Telegram.
        markup = self._markup(params, inline_only=True)
        current_markup = message.reply_markup if message.inline_keyboard else None
        if (plain, entities, markup) == (message.text, message.entities, current_markup):
            raise _bad(_NOT_MODIFIED)
        message.text, message.html, message.entities = plain, html_source, entities
        message.reply_markup = markup
        return self._edited(chat, message)

    def _m_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params, for_sending=False)
        message = self._message(chat, params, "edit")
        if message.kind == "text":
            raise _bad("there is no caption in the message to edit")
        plain, html_source, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH
        )
        markup = self._markup(params, inline_only=True)
        current_markup = message.reply_markup if message.inline_keyboard else None
        if (plain, entities, markup) == (message.text, message.entities, current_markup):
            raise _bad(_NOT_MODIFIED)
        message.text, message.html, message.entities = plain, html_source, entities
        message.reply_markup = markup
        return self._edited(chat, message)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params, for_sending=False)
        message = self._message(chat, params, "edit")
        markup = self._markup(params, inline_only=True)
        current_markup = message.reply_markup if message.inline_keyboard else None
        if markup == current_markup:
            raise _bad(_NOT_MODIFIED)
        message.reply_markup = markup
        return self._edited(chat, message)

    def _delete(self, chat: ChatClient, message_id: int) -> bool:
        for index, message in enumerate(chat.messages):
            if message.message_id == message_id:
                del chat.messages[index]
                return True
        if message_id in chat._user_message_ids:
            chat._user_message_ids.discard(message_id)
            return True
        return False

    def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params, for_sending=False)
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        if not self._delete(chat, message_id):
            raise _bad("message to delete not found")
        return True

    def _m_deleteMessages(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params, for_sending=False)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a non-empty list of at most 100 identifiers")
        for message_id in ids:
            self._delete(chat, int(message_id))  # missing ones are skipped, as in Telegram
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        entry = self._callback_queries.get(query_id)
        # Each query can be answered once; Telegram rejects repeats and unknown ids alike.
        if entry is None or entry[1]:
            raise _bad(_STALE_QUERY)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_TEXT:
            raise _bad("MESSAGE_TOO_LONG")
        chat = entry[0]
        self._callback_queries[query_id] = (chat, True)
        chat.callback_answers.append(dict(params))
        return True


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _json_error(error: _APIError) -> web.Response:
    return web.json_response(error.payload(), status=error.status)


def _int_param(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


_EXTENSION_RE = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def _safe_extension(file_name: str | None) -> str:
    """The file name's extension for a file_path (never user-controlled path parts)."""
    match = _EXTENSION_RE.search(file_name or "")
    return match.group(0).lower() if match else ""


def _bool_param(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise _bad("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _bad(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            text = button.get("text")
            if not isinstance(text, str):
                raise _bad(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise _bad("BUTTON_TEXT_EMPTY")
            actions = [f for f in _INLINE_ACTION_FIELDS if button.get(f) is not None]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if len(actions) > 1:
                # Bot API: "Exactly one of the optional fields must be used".
                raise _bad(
                    "can't parse inline keyboard button: exactly one of the optional fields "
                    f"must be used, got {', '.join(actions)}"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                # The limit is 64 *bytes* of UTF-8, not characters.
                if not isinstance(data, str) or not (
                    1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not _BUTTON_URL_RE.match(url):
                    raise _bad("BUTTON_URL_INVALID")


def _validate_reply_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_REPLY_BUTTONS:
        raise _bad("reply markup is too long")
    for row in rows:
        for button in row:
            text: Any
            if isinstance(button, str):
                text = button
            elif isinstance(button, dict):
                text = button.get("text")
                if not isinstance(text, str):
                    raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
                for flag in _REPLY_BUTTON_BOOL_FIELDS:
                    if flag in button and not isinstance(button[flag], bool):
                        raise _bad(
                            f'can\'t parse keyboard button: Field "{flag}" must be of type Boolean'
                        )
            else:
                raise _bad(
                    "can't parse keyboard button: KeyboardButton must be a String or an Object"
                )
            if not text.strip():
                raise _bad("BUTTON_TEXT_EMPTY")


# --------------------------------------------------------------------------------------
# Telegram's send rates (opt-in: LocalBotAPI(enforce_limits=True))
# --------------------------------------------------------------------------------------

_RATE_LIMITED = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "sendMediaGroup", "copyMessage", "forwardMessage"}
)


@dataclass
class LimitStats:
    too_many_requests: int = 0  # 429 answers given
    early_sends: int = 0  # sends that came before a retry_after given earlier had elapsed
    duplicates: int = 0  # deliveries of a (chat, method, text/caption) delivered before
    delivered: int = 0
    overall_refusals: int = 0  # of too_many_requests: the bot-wide window was full
    chat_refusals: int = 0  # of too_many_requests: that chat's (or group's) window was full
    early_overall: int = 0  # of early_sends: during a bot-wide wait


class TelegramLimits:
    """Telegram's documented send limits, enforced with sliding windows over the arrival times
    of accepted sends: ``per_second`` overall, ``per_chat`` per second to one private chat,
    ``per_group`` per minute to one group (negative chat id). Past a limit the answer is 429
    with ``retry_after`` (whole seconds, as Telegram gives it); a limit hit on the overall
    window makes the whole bot wait. A send before a given retry_after has elapsed is refused
    again and counted in ``stats.early_sends``."""

    def __init__(self, per_second: int = 30, per_chat: int = 1, per_group: int = 20) -> None:
        self.per_second, self.per_chat, self.per_group = per_second, per_chat, per_group
        self.stats = LimitStats()
        self._overall: deque[float] = deque()
        self._chats: dict[Any, deque[float]] = {}
        self._chat_until: dict[Any, float] = {}
        self._overall_until = 0.0
        self._seen: set[tuple[Any, str, str]] = set()

    @staticmethod
    def _chat_key(params: dict[str, Any]) -> Any:
        raw = params.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            return int(raw)
        return raw

    def _refuse(self, wait: float) -> _APIError:
        self.stats.too_many_requests += 1
        retry_after = max(1, math.ceil(wait))
        return _APIError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    def admit(self, params: dict[str, Any]) -> _APIError | None:
        """None if this send may go now (and it is counted), else the 429 to answer."""
        now = time.monotonic()
        chat = self._chat_key(params)
        until = max(self._chat_until.get(chat, 0.0), self._overall_until)
        if now < until:
            self.stats.early_sends += 1
            self.stats.early_overall += now < self._overall_until
            return self._refuse(until - now)
        group = isinstance(chat, int) and chat < 0
        limit, period = (self.per_group, 60.0) if group else (self.per_chat, 1.0)
        window = self._chats.setdefault(chat, deque())
        for times, span in ((self._overall, 1.0), (window, period)):
            while times and now - times[0] >= span:
                times.popleft()
        if len(self._overall) >= self.per_second:
            self.stats.overall_refusals += 1
            refusal = self._refuse(self._overall[0] + 1.0 - now)
            self._overall_until = now + refusal.parameters["retry_after"]
            return refusal
        if len(window) >= limit:
            self.stats.chat_refusals += 1
            refusal = self._refuse(window[0] + period - now)
            self._chat_until[chat] = now + refusal.parameters["retry_after"]
            return refusal
        self._overall.append(now)
        window.append(now)
        return None

    def delivered(self, method: str, params: dict[str, Any]) -> None:
        key = (self._chat_key(params), method, str(params.get("text") or params.get("caption") or ""))
        if key in self._seen:
            self.stats.duplicates += 1
        self._seen.add(key)
        self.stats.delivered += 1
