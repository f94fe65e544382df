"""Every keyboard the bot shows is built here."""
from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from handlers import texts
from knowledge.model import Entry

# callback_data: short opaque prefix ids; the server re-checks who presses them.
CB_UNLINK_YES = "ul:y"
CB_UNLINK_NO = "ul:n"


def main_menu() -> ReplyKeyboardMarkup:
    items = texts.MENU_ITEMS
    rows = [[KeyboardButton(text=items[i]), KeyboardButton(text=items[i + 1])] for i in range(0, len(items), 2)]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def link_menu() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=texts.BTN_SHARE_PHONE, request_contact=True)],
            [KeyboardButton(text=texts.BTN_HAVE_CODE), KeyboardButton(text=texts.MENU_BANTUAN)],
        ],
        resize_keyboard=True,
        is_persistent=True,
    )


def cancel_only() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=texts.BTN_CANCEL)]], resize_keyboard=True)


def unlink_confirm() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=texts.BTN_UNLINK_YES, callback_data=CB_UNLINK_YES),
                InlineKeyboardButton(text=texts.BTN_UNLINK_NO, callback_data=CB_UNLINK_NO),
            ]
        ]
    )


# ---- knowledge base -------------------------------------------------------------------------
# "kb:<action>:<entry id>"; entry ids are short (sop-39), so this stays far below 64 bytes.
KB_ACTIONS = {"c": "card", "s": "syarat", "p": "prosedur", "d": "dasar", "a": "open", "r": "related"}
_SECTION_BUTTONS = [("c", "card", "Ringkasan"), ("s", "syarat", "Syarat"), ("p", "prosedur", "Prosedur"),
                    ("d", "dasar", "Dasar hukum")]
CB_HANDOFF = "hd:ask"
APPLICATION_LABEL = {"cuti": "🗓 Ajukan cuti", "izin-belajar": "🎓 Ajukan izin belajar"}
# Applications with a form of their own open it (handlers/cuti.py); others still say "coming soon".
APPLICATION_CALLBACK = {"cuti": "cuti:start", "izin-belajar": "ib:start"}


def entry_actions(entry: Entry, *, current: str) -> InlineKeyboardMarkup:
    sections = [
        InlineKeyboardButton(text=label, callback_data=f"kb:{code}:{entry.id}")
        for code, name, label in _SECTION_BUTTONS
        if name != current
    ]
    rows = [sections[:2], sections[2:]]
    extra = []
    if entry.related:
        extra.append(InlineKeyboardButton(text="Pertanyaan terkait", callback_data=f"kb:r:{entry.id}"))
    extra.append(InlineKeyboardButton(text="Tanya petugas", callback_data=CB_HANDOFF))
    rows.append(extra)
    if entry.application:
        rows.append([InlineKeyboardButton(text=APPLICATION_LABEL[entry.application],
                                          callback_data=APPLICATION_CALLBACK.get(entry.application,
                                                                                 f"ap:{entry.application}"))])
    return InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def clarify(options: list[Entry]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=e.title, callback_data=f"kb:a:{e.id}")] for e in options]
    rows.append([InlineKeyboardButton(text="Bukan semuanya: tanya petugas", callback_data=CB_HANDOFF)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def related(items: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=title, callback_data=f"kb:a:{eid}")] for eid, title in items]
    )


def handoff_offer() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Teruskan ke petugas BKPSDM", callback_data=CB_HANDOFF)]]
    )


def rating(question_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[
            InlineKeyboardButton(text="👍 Membantu", callback_data=f"hd:r:{question_id}:1"),
            InlineKeyboardButton(text="👎 Belum membantu", callback_data=f"hd:r:{question_id}:0"),
        ]]
    )
