"""Turns a knowledge-base entry into messages: Telegram HTML (parse_mode=HTML) or plain text.

Pure functions, no aiogram: the bot, the CLI (`asnbot ask`), broadcasts and `asnbot kb check`
(which measures every piece against Telegram's limits) all use the same output.
In HTML mode every piece of content goes through html.escape, so `<`, `>` and `&` written by
staff can never break a message or inject markup. Lines stay short: a label and one value each,
no hard wrapping (Telegram wraps for the phone's width).
"""
from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable
from datetime import date
from typing import Protocol

from knowledge.model import Entry, Requirement

SECTIONS = ("syarat", "prosedur", "dasar")  # Syarat / Prosedur / Dasar hukum
SECTION_LABELS = {"syarat": "Syarat", "prosedur": "Prosedur", "dasar": "Dasar hukum"}
SECTION_FIELDS = {"syarat": "requirements", "prosedur": "steps", "dasar": "legal_basis"}
CARD = "kartu"  # name of the answer card in pieces()

MAX_MESSAGE_CHARS = 4096  # Telegram: text length after entity parsing
MAX_CALLBACK_BYTES = 64  # Telegram: callback_data, UTF-8 bytes
MAX_BUTTON_LABEL = 40  # longer related titles are cut so buttons stay one line on a phone

UNCONFIRMED_NOTE = "perlu konfirmasi ke BKPSDM"
CALLBACK_PREFIX = "kb"
ACTION_SECTION = "s"  # kb:s:<id>:<section>
ACTION_ENTRY = "e"  # kb:e:<id>

_MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember")
_TAG_RE = re.compile(r"<[^>]*>")


class EntryLookup(Protocol):
    """What the renderer needs from a KnowledgeBase (kept structural to avoid a cycle)."""

    def get(self, entry_id: str) -> Entry | None: ...


class _Fmt:
    def __init__(self, html: bool) -> None:
        self.html = html

    def esc(self, text: str) -> str:
        # quote=False: quotes are harmless outside attributes and would only add noise.
        return _html.escape(text, quote=False) if self.html else text

    def bold(self, text: str) -> str:
        return f"<b>{self.esc(text)}</b>" if self.html else text

    def italic(self, text: str) -> str:
        return f"<i>{self.esc(text)}</i>" if self.html else text

    def mark(self, entry: Entry, field: str, *texts: str) -> str:
        """" (perlu konfirmasi ke BKPSDM)" for an unconfirmed field, unless its text says so."""
        if field not in entry.unconfirmed or says_unconfirmed(*texts):
            return ""
        return " " + self.italic(f"({UNCONFIRMED_NOTE})")


def says_unconfirmed(*texts: str | None) -> bool:
    return any(t and "perlu konfirmasi" in t.lower() for t in texts)


def format_date(d: date) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def answer_card(entry: Entry, *, html: bool = True) -> str:
    """The first answer: what it is, for whom, where, how long, what it costs."""
    return "\n".join(_card_lines(entry, _Fmt(html)))


def _card_lines(entry: Entry, f: _Fmt, *, audience: bool = False) -> list[str]:
    lines = [
        f.bold(entry.title) + f.mark(entry, "title", entry.title),
        "",
        f.esc(entry.summary) + f.mark(entry, "summary", entry.summary),
        "",
        _labelled(f, "Untuk:", entry.eligibility) + f.mark(entry, "eligibility", entry.eligibility),
    ]
    if audience:
        lines.append(_labelled(f, "Status pegawai:", ", ".join(entry.audience))
                     + f.mark(entry, "audience"))
    lines += [
        _labelled(f, "Tempat:", entry.where) + f.mark(entry, "where", entry.where),
        _labelled(f, "Waktu:", entry.duration) + f.mark(entry, "duration", entry.duration),
        _labelled(f, "Biaya:", entry.cost) + f.mark(entry, "cost", entry.cost),
        "",
        f.italic(f"Ditinjau: {format_date(entry.reviewed)}"),
    ]
    return lines


def section(entry: Entry, name: str, *, html: bool = True) -> str:
    """One section as its own message, headed by the entry title so it reads alone."""
    f = _Fmt(html)
    header = f.bold(f"{_label(name)} — {entry.title}")
    return header + "\n\n" + _section_body(entry, name, f)


def requirement_line(req: Requirement) -> str:
    """"Fotokopi SK — 2 rangkap, dilegalisir" (plain text; callers escape)."""
    return f"{req.item} — {_copies_legalized(req)}"


def related_titles(kb: EntryLookup, entry: Entry) -> list[tuple[str, str]]:
    """(id, title) of the related entries that exist, in the order the entry lists them."""
    out = []
    for rid in entry.related:
        other = kb.get(rid)
        if other is not None and rid != entry.id:
            out.append((rid, other.title))
    return out


def full_text(kb: EntryLookup, entry: Entry) -> str:
    """Everything about the entry as plain text (CLI `asnbot ask`, broadcasts)."""
    f = _Fmt(False)
    parts = ["\n".join(_card_lines(entry, f, audience=True))]
    for name in SECTIONS:
        parts.append(f"{_label(name)}:\n" + _section_body(entry, name, f))
    related = related_titles(kb, entry)
    if related:
        parts.append("Lihat juga:\n" + "\n".join(f"- {title}" for _, title in related))
    return "\n\n".join(parts)


def pieces(entry: Entry, *, html: bool = True) -> dict[str, str]:
    """Every message the bot may send for an entry: the card and each section."""
    out = {CARD: answer_card(entry, html=html)}
    for name in SECTIONS:
        out[name] = section(entry, name, html=html)
    return out


def visible_length(text: str, *, html: bool = True) -> int:
    """Length as Telegram counts it against 4096: markup removed, entities decoded, trimmed.

    Counted in UTF-16 code units, which is never less than the character count, so an
    emoji-heavy text cannot slip past the check.
    """
    if html:
        text = _html.unescape(_TAG_RE.sub("", text))
    text = text.strip()
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ----------------------------------------------------------------------------- buttons


def callback_data(action: str, entry_id: str, arg: str | None = None) -> str:
    """"kb:s:sop-39:syarat" / "kb:e:sop-38"; `asnbot kb check` keeps these within 64 bytes."""
    parts = [CALLBACK_PREFIX, action, entry_id]
    if arg is not None:
        parts.append(arg)
    return ":".join(parts)


def parse_callback(data: str) -> tuple[str, str, str | None] | None:
    """(action, entry id, arg) of data built by callback_data(), or None if it is not ours."""
    parts = data.split(":")
    if len(parts) not in (3, 4) or parts[0] != CALLBACK_PREFIX or not parts[2]:
        return None
    action, entry_id = parts[1], parts[2]
    arg = parts[3] if len(parts) == 4 else None
    if action == ACTION_SECTION and arg in SECTIONS:
        return action, entry_id, arg
    if action == ACTION_ENTRY and arg is None:
        return action, entry_id, None
    return None


def buttons(kb: EntryLookup, entry: Entry) -> list[list[tuple[str, str]]]:
    """Inline keyboard under the answer card, as rows of (label, callback_data).

    One row of sections (only those with content), then one row per related entry.
    """
    sections = []
    if entry.requirements:
        sections.append(("syarat", "Syarat"))
    if entry.steps:
        sections.append(("prosedur", "Prosedur"))
    sections.append(("dasar", "Dasar hukum"))  # legal_basis is required, never empty
    rows = [[(label, callback_data(ACTION_SECTION, entry.id, name)) for name, label in sections]]
    for rid, title in related_titles(kb, entry):
        rows.append([(_shorten(title, MAX_BUTTON_LABEL), callback_data(ACTION_ENTRY, rid))])
    return rows


def all_callback_data(kb: EntryLookup, entry: Entry) -> list[str]:
    return [data for row in buttons(kb, entry) for _, data in row]


# ----------------------------------------------------------------------------- helpers


def _label(name: str) -> str:
    try:
        return SECTION_LABELS[name]
    except KeyError:
        raise ValueError(f"bagian tidak dikenal: {name!r} (yang ada: {', '.join(SECTIONS)})") from None


def _labelled(f: _Fmt, label: str, value: str) -> str:
    return f"{f.bold(label)} {f.esc(value)}"


def _copies_legalized(req: Requirement) -> str:
    if req.copies is None and req.legalized is None:
        return f"jumlah rangkap/legalisir: {UNCONFIRMED_NOTE}"
    legal = {True: "dilegalisir", False: "tanpa legalisir", None: None}[req.legalized]
    if req.copies is None:
        return f"{legal}; jumlah rangkap: {UNCONFIRMED_NOTE}"
    copies = f"{req.copies} rangkap"
    if legal is None:
        return f"{copies}; legalisir: {UNCONFIRMED_NOTE}"
    return f"{copies}, {legal}"


def _numbered(lines: Iterable[str]) -> list[str]:
    return [f"{i}. {line}" for i, line in enumerate(lines, 1)]


def _section_body(entry: Entry, name: str, f: _Fmt) -> str:
    _label(name)  # rejects unknown names
    lines: list[str] = []
    if name == "syarat":
        texts: list[str] = []
        # When nothing is known about copies and legalisation, say it once, not on every line.
        all_unknown = all(r.copies is None and r.legalized is None for r in entry.requirements)
        for i, req in enumerate(entry.requirements, 1):
            line = f"{i}. {f.esc(req.item)}"
            if not all_unknown:
                line += f" — {f.esc(_copies_legalized(req))}"
            lines.append(line)
            if req.note:
                lines.append("   " + f.italic(req.note))
            texts += [req.item, req.note or ""]
        if not lines:
            lines.append("Tidak ada berkas yang perlu disiapkan.")
        elif all_unknown:
            lines += ["", f.italic(f"Jumlah rangkap/legalisir: {UNCONFIRMED_NOTE}.")]
    elif name == "prosedur":
        texts = list(entry.steps)
        lines = _numbered(f.esc(step) for step in entry.steps)
        if not lines:
            lines.append("Tidak ada langkah pengajuan untuk topik ini.")
    else:
        texts = []
        for basis in entry.legal_basis:
            line = "• " + f.esc(basis.ref)
            if basis.article:
                line += ", " + f.esc(basis.article)
            if basis.note:
                line += " — " + f.esc(basis.note)
            lines.append(line)
            texts += [basis.ref, basis.article or "", basis.note or ""]
    field = SECTION_FIELDS[name]
    if field in entry.unconfirmed and not says_unconfirmed(*texts):
        lines.append("")
        lines.append(f.italic(f"Bagian ini {UNCONFIRMED_NOTE}."))
    return "\n".join(lines)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
