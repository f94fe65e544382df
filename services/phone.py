"""Indonesian mobile phone numbers: normalisation to E.164 digits, display and masking.

Numbers are stored as E.164 digits without '+' ("628121000001") because that is how
Telegram's ``contact.phone_number`` usually arrives, so stored and shared numbers compare
equal as plain strings. Only mobile numbers (national part starting with 8) are accepted:
they are used to link a Telegram account to a personnel record, and a landline cannot
share a Telegram contact. Messages are in Bahasa Indonesia for the end user.
"""
from __future__ import annotations

import re

from services.errors import InvalidInput

__all__ = ["PhoneError", "normalize_phone", "display_phone", "mask_phone"]

COUNTRY_CODE = "62"
NSN_MIN, NSN_MAX = 9, 12  # national significant number of Indonesian mobiles (after 0/62)

# Separators people type: spaces, dashes, dots, brackets around "(+62)" or "(0812)".
_SEPARATORS = re.compile(r"[\s.\-()\u2010-\u2015\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class PhoneError(InvalidInput):
    """Invalid or unsupported phone number."""


def normalize_phone(raw: str, *, international: bool = False) -> str:
    """Normalise an Indonesian mobile number to E.164 digits without '+'.

    Accepts "08121000001", "628121000001", "+62 812-1000-001", "0062 812...",
    "(+62) 812 1000 001", "+62 (0)812..." and the bare "812-1000-001".

    ``international=True`` is for Telegram's ``contact.phone_number``: there a number
    without '+' is already in international form, so a bare "81..." is Japan (+81),
    not an Indonesian number missing its 0, and is rejected as foreign.
    """
    s = _SEPARATORS.sub("", (raw or "").strip())
    plus = s.startswith("+")
    body = s[1:] if plus else s
    if not body:
        raise PhoneError("Nomor HP belum diisi", "empty")
    if not _ASCII_DIGITS.fullmatch(body):
        bad = next(ch for ch in body if not ("0" <= ch <= "9"))
        raise PhoneError(
            "Nomor HP hanya boleh berisi angka, spasi, tanda hubung, tanda kurung dan "
            f"awalan +; ditemukan '{bad}'",
            "chars",
        )

    foreign = PhoneError(
        "Hanya nomor HP Indonesia (+62) yang dapat dipakai; nomor luar negeri tidak "
        "dapat ditautkan",
        "foreign",
    )
    after_country_code = True
    if plus:
        if not body.startswith(COUNTRY_CODE):
            raise foreign
        national = body[2:]
    elif body.startswith("00"):  # international call prefix
        if not body.startswith("00" + COUNTRY_CODE):
            raise foreign
        national = body[4:]
    elif body.startswith("0"):  # national trunk prefix
        national = body[1:]
        after_country_code = False
    elif body.startswith(COUNTRY_CODE):
        national = body[2:]
    elif body.startswith("8") and not international:
        national = body
        after_country_code = False
    elif international:
        raise foreign
    else:
        raise PhoneError(
            "Format nomor HP tidak dikenali; gunakan nomor HP Indonesia yang diawali "
            "08, 62 atau +62",
            "prefix",
        )
    # "+62 (0)812..." / "+62 0812...": a redundant trunk 0 after the country code.
    if after_country_code and national.startswith("0"):
        national = national[1:]

    if not national:
        raise PhoneError("Nomor HP terlalu pendek", "length")
    if not national.startswith("8"):
        raise PhoneError(
            f"Nomor 0{national} bukan nomor HP (nomor HP Indonesia diawali 08); nomor "
            "telepon rumah/kantor tidak dapat dipakai untuk menautkan akun",
            "not_mobile",
        )
    if not NSN_MIN <= len(national) <= NSN_MAX:
        size = "terlalu pendek" if len(national) < NSN_MIN else "terlalu panjang"
        raise PhoneError(
            f"Nomor HP {size}: 0{national} berisi {len(national) + 1} digit, nomor HP "
            f"Indonesia berisi {NSN_MIN + 1}-{NSN_MAX + 1} digit (diawali 08)",
            "length",
        )
    return COUNTRY_CODE + national


def _local(e164: str) -> str | None:
    """"0812..." form of a valid number, or None."""
    try:
        return "0" + normalize_phone(e164)[len(COUNTRY_CODE):]
    except PhoneError:
        return None


def display_phone(e164: str) -> str:
    """Local display form, e.g. "0812-1000-0001"; invalid input is returned as given
    (stripped) so message templates never fail on legacy data."""
    local = _local(e164)
    if local is None:
        return (e164 or "").strip()
    head, rest = local[:4], local[4:]
    n = len(rest)
    if n <= 4:
        groups = [rest]
    elif n <= 8:
        cut = (n + 1) // 2  # 5 -> 3-2, 6 -> 3-3, 7 -> 4-3, 8 -> 4-4
        groups = [rest[:cut], rest[cut:]]
    else:
        groups = [rest[:3], rest[3:6], rest[6:]]
    return "-".join([head, *groups])


def mask_phone(e164: str) -> str:
    """Masked form for logs and screens, e.g. "0812****0001".

    Always four stars, so the mask does not reveal the number's length. Input that is
    not a valid number is still masked, never echoed.
    """
    local = _local(e164)
    digits = local if local is not None else re.sub(r"[^0-9]", "", e164 or "")
    if len(digits) < 10:
        return "****"
    return f"{digits[:4]}****{digits[-4:]}"
