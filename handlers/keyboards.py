"""Every keyboard the bot shows is built here."""
from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from handlers import texts

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
