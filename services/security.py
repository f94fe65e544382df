"""Keyed hashes: what verifies a person is kept only as an HMAC, never as the value itself."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# Unambiguous characters only (no 0/O, 1/I/L), since codes are read off paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


def nik_tail(nik: str, digits: int = 6) -> str:
    """The last `digits` digits of a NIK, as the user would type them."""
    only = re.sub(r"\D", "", nik)
    return only[-digits:]


def verification_hash(key: bytes, identifier: str, secret_value: str) -> str:
    # The identifier salts the hash, so equal digits of two people give different hashes.
    msg = f"verify:{identifier}:{secret_value}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def check_verification(key: bytes, identifier: str, secret_value: str, stored: str | None) -> bool:
    if not stored:
        return False
    return hmac.compare_digest(verification_hash(key, identifier, secret_value), stored)


def new_link_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_link_code(raw: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", raw.upper())


def link_code_hash(key: bytes, code: str) -> str:
    return hmac.new(key, f"linkcode:{normalize_link_code(code)}".encode(), hashlib.sha256).hexdigest()
