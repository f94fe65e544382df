"""Applicants' documents stored outside Telegram, content-addressed on disk.

Telegram's file ids are tied to the bot token and files may vanish from its servers, so
documents that back a request (a scanned SK, a photo of a certificate) are copied into
our own storage. Every blob lives at ``root / sha[:2] / f"{sha}{ext}"``: the same content
is stored once, a path never changes meaning, and the name a user gave the file is never
trusted (it only appears in the log). The type is decided by the bytes' magic numbers,
not by the name or the MIME type the Telegram client claimed.

This module is synchronous file I/O; async callers run it via ``asyncio.to_thread``.
Messages in :class:`FileRejected` are Bahasa Indonesia for the end user.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from services.errors import InvalidInput

__all__ = [
    "DEFAULT_ALLOWED",
    "DEFAULT_MAX_BYTES",
    "FileRejected",
    "StoredBlob",
    "format_size",
    "read",
    "sniff",
    "store",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_ALLOWED = ("application/pdf", "image/jpeg", "image/png")

# (prefix, MIME type, extension). Only what applicants may upload; anything else is None.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
_EXTENSIONS = {mime: ext for _, mime, ext in _MAGIC}
# How each type is named to the user in the "wrong type" message.
_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPG", "image/png": "PNG"}

_KB = 1024
_MB = 1024 * 1024


class FileRejected(InvalidInput):
    """An upload we do not keep; ``message`` is the Indonesian text for the user and
    ``code`` is one of ``"empty"``, ``"too_big"``, ``"wrong_type"``."""


@dataclass(frozen=True)
class StoredBlob:
    sha256: str  # hex digest of the content
    size: int  # bytes
    mime: str  # sniffed from the content, e.g. "application/pdf"
    path: str  # relative to the storage root, POSIX separators: "ab/ab12....pdf"
    ext: str  # ".pdf", ".jpg" or ".png"


def sniff(content: bytes) -> str | None:
    """The real type of ``content`` by its magic bytes: PDF, JPEG, PNG, else ``None``."""
    for prefix, mime, _ext in _MAGIC:
        if content.startswith(prefix):
            return mime
    return None


def format_size(size: int, *, round_up: bool = False) -> str:
    """Size for the user, Indonesian style: "5 MB", "7,2 MB", "300 KB".

    ``round_up`` rounds up to the shown precision, so a file just over a limit never
    reads as equal to it ("5,1 MB", not "5 MB").
    """
    unit, divisor = ("MB", _MB) if size >= _MB else ("KB", _KB)
    value = size / divisor
    if unit == "KB":
        shown = math.ceil(value) if round_up else round(value)
        return f"{max(shown, 1)} KB"
    tenths = math.ceil(value * 10 - 1e-9) if round_up else round(value * 10)
    whole, fraction = divmod(tenths, 10)
    return f"{whole} MB" if fraction == 0 else f"{whole},{fraction} MB"


def _types_phrase(allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    documents = [_LABELS.get(m, m) for m in allowed if not m.startswith("image/")]
    images = [_LABELS.get(m, m) for m in allowed if m.startswith("image/")]
    parts = list(documents)
    if images:
        parts.append(f"foto ({'/'.join(images)})")
    return " atau ".join(parts)


def store(
    content: bytes,
    *,
    root: Path,
    claimed_name: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed: Iterable[str] = DEFAULT_ALLOWED,
) -> StoredBlob:
    """Check ``content`` and keep it under ``root``; raises :class:`FileRejected`.

    ``claimed_name`` is the name the user's client gave; it decides nothing (a "sk.pdf"
    may hold anything) and is only logged. Storing the same content again is a no-op
    that returns the same blob.
    """
    allowed = tuple(allowed)
    if not content:
        raise FileRejected("Berkas kosong. Silakan kirim ulang berkasnya.", "empty")
    mime = sniff(content)
    if mime is None or mime not in allowed:
        logger.info("rejected upload %r: sniffed type %s", claimed_name, mime)
        raise FileRejected(f"Berkas harus berupa {_types_phrase(allowed)}.", "wrong_type")
    if len(content) > max_bytes:
        raise FileRejected(
            f"Ukuran berkas paling besar {format_size(max_bytes)}; "
            f"berkas Anda {format_size(len(content), round_up=True)}.",
            "too_big",
        )

    sha = hashlib.sha256(content).hexdigest()
    ext = _EXTENSIONS[mime]
    relative = f"{sha[:2]}/{sha}{ext}"
    target = Path(root) / sha[:2] / f"{sha}{ext}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: readers never see a half-written blob,
        # and two concurrent stores of the same content both end with a whole file.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=ext)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
    return StoredBlob(sha256=sha, size=len(content), mime=mime, path=relative, ext=ext)


def read(root: Path, relative_path: str) -> bytes:
    """The bytes of a stored blob. Raises ``ValueError`` for a path that would leave
    ``root`` (absolute, ``..``, or a symlink pointing out) and ``FileNotFoundError``
    when the blob is missing."""
    base = Path(root).resolve()
    candidate = Path(relative_path)
    if candidate.is_absolute():
        raise ValueError(f"stored file path must be relative: {relative_path!r}")
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(base) or resolved == base:
        raise ValueError(f"stored file path escapes the storage root: {relative_path!r}")
    return resolved.read_bytes()
