"""Broadcasts: BKPSDM staff send one message (a regulation, an announcement) to many employees.

The life of a broadcast: :func:`create` writes a draft (the message and the audience filters);
:func:`confirm` either schedules it (status ``scheduled``) or releases it at once (``sending``).
Releasing snapshots the audience into ``broadcast_recipients`` and writes one outbox message per
linked recipient, in the same transaction, so the delivery worker (bot/sender.py) sends them at
Telegram's pace, once each. :func:`start_due` releases scheduled broadcasts when their time
comes; a conditional UPDATE makes that happen once even with several bot instances.
:func:`cancel` stops a running broadcast (its pending messages become ``cancelled``);
:func:`finish_due` notices when nothing is left to send. :func:`report` and :func:`export_csv` /
:func:`export_xlsx` read the outcome per recipient and per OPD.

Audience filters: AND across kinds (units, status, golongan, eselon), OR within a kind. A unit
includes its sub-units. Status "pns" includes CPNS: PP 94/2021 (disiplin) and most circulars
address CPNS as well, so a "PNS" broadcast that left them out would surprise its sender ("cpns"
alone selects only CPNS). Golongan "III" matches ruang III/a-III/d and PPPK golongan III;
"III/a" matches exactly. Eselon "III" matches III.a and III.b; "III.a" exactly. Only active
employees are recipients.

Functions taking a session do not commit: the caller commits (the change and its messages
together). Functions taking a sessionmaker run their own transactions.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import audit, outbox
from services.errors import InvalidInput
from services.models import (
    Broadcast,
    BroadcastRecipient,
    Employee,
    EmploymentStatus,
    OutboxMessage,
    TelegramAccount,
    Unit,
    utcnow,
)
from services.pangkat import normalize_eselon, normalize_golongan
from services.textdate import parse_date

# Broadcast statuses.
DRAFT, SCHEDULED, SENDING, DONE, CANCELLED = "draft", "scheduled", "sending", "done", "cancelled"
# Outbox statuses as the delivery worker writes them (services/outbox.py), plus ours.
MSG_PENDING, MSG_SENT, MSG_FAILED, MSG_BLOCKED = "pending", "sent", "failed", "blocked"
MSG_CANCELLED = "cancelled"  # a pending message of a cancelled broadcast; the worker never claims it
# The worker died while the request was on the wire: Telegram may have delivered it; not resent
# (a second copy to thousands is worse than one uncertain row; see services/outbox.py).
MSG_UNCERTAIN = "uncertain"

# The acknowledgement button recipients see (callback "ack:<broadcast id>").
ACK_LABEL = "✅ Sudah saya baca dan pahami"
ACK_DONE_LABEL = "✅ Sudah dibaca dan dipahami"
ACK_PREFIX = "ack:"

STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "pns": (EmploymentStatus.PNS.value, EmploymentStatus.CPNS.value),
    "cpns": (EmploymentStatus.CPNS.value,),
    "pppk": (EmploymentStatus.PPPK.value,),
    "non-pns": (EmploymentStatus.NON_PNS.value,),
}
STATUS_LABELS = {"pns": "PNS (termasuk CPNS)", "cpns": "CPNS", "pppk": "PPPK", "non-pns": "Non-PNS"}
ROOMS = ("I", "II", "III", "IV")  # golongan ruang (PNS); a bare room matches all its letters
ESELON_LEVELS = ("I", "II", "III", "IV", "V")

# Telegram's limits, counted on the text after HTML parsing (UTF-16 code units).
MAX_TEXT = 4096
MAX_CAPTION = 1024
MEDIA = ("document", "photo")
FILES_DIR = "broadcasts"  # under DATA_DIR

CHUNK = 2000  # rows per INSERT executemany
REPORT_WINDOW = timedelta(minutes=15)  # how long after the end progress messages are still edited

DELIVERY_LABELS = {
    "delivered": "terkirim",
    "blocked": "diblokir",
    "failed": "gagal",
    "pending": "menunggu",
    "cancelled": "dibatalkan",
    "uncertain": "tidak pasti",
    "not_linked": "belum tertaut",
}
_FROM_OUTBOX = {MSG_SENT: "delivered", MSG_BLOCKED: "blocked", MSG_FAILED: "failed", MSG_PENDING: "pending",
                MSG_CANCELLED: "cancelled", MSG_UNCERTAIN: "uncertain", None: "not_linked"}


class BroadcastError(InvalidInput):
    """A broadcast request that cannot be carried out; the message is Indonesian for staff."""


class NotRecipient(BroadcastError):
    pass


# ---- the audience ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Audience:
    """Who receives a broadcast. Empty everywhere = every active employee."""

    units: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()  # keys of STATUS_GROUPS
    golongan: tuple[str, ...] = ()  # "III" (room / PPPK golongan) or "III/a"
    eselon: tuple[str, ...] = ()  # "III" (level) or "III.a"

    @classmethod
    def build(
        cls,
        *,
        units: Iterable[int] = (),
        statuses: Iterable[str] = (),
        golongan: Iterable[str] = (),
        eselon: Iterable[str] = (),
    ) -> Audience:
        """Checked and normalised ("iii/A" -> "III/a", "Non-PNS" -> "non-pns"); raises
        BroadcastError naming the value it does not understand."""
        st: list[str] = []
        for raw in statuses:
            key = raw.strip().lower().replace("_", "-").replace(" ", "-")
            key = {"nonpns": "non-pns", "non": "non-pns"}.get(key, key)
            if key not in STATUS_GROUPS:
                raise BroadcastError(f"Status {raw!r} tidak dikenal. Pilihan: pns, cpns, pppk, non-pns.", "status")
            st.append(key)
        return cls(
            units=_unique(int(u) for u in units),
            statuses=_unique(st),
            golongan=_unique(_golongan(g) for g in golongan),
            eselon=_unique(_eselon(e) for e in eselon),
        )

    @property
    def everyone(self) -> bool:
        return not (self.units or self.statuses or self.golongan or self.eselon)

    def toggle(self, kind: str, value: Any) -> Audience:
        """The same audience with ``value`` added to, or removed from, one kind of filter."""
        current = list(getattr(self, kind))
        if value in current:
            current.remove(value)
        else:
            current.append(value)
        return Audience(**{**self.to_json_tuples(), kind: tuple(current)})

    def to_json_tuples(self) -> dict[str, tuple[Any, ...]]:
        return {"units": self.units, "statuses": self.statuses, "golongan": self.golongan, "eselon": self.eselon}

    def to_json(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.to_json_tuples().items()}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        return cls(
            units=tuple(int(u) for u in data.get("units") or ()),
            statuses=tuple(data.get("statuses") or ()),
            golongan=tuple(data.get("golongan") or ()),
            eselon=tuple(data.get("eselon") or ()),
        )


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def _golongan(raw: str) -> str:
    s = raw.strip()
    if s.upper() in ROOMS:
        return s.upper()
    g = normalize_golongan(s)
    if g is None:
        raise BroadcastError(f"Golongan {raw!r} tidak dikenal (contoh: III, III/a, IX).", "golongan")
    return g


def _eselon(raw: str) -> str:
    s = raw.strip().upper()
    if s in ESELON_LEVELS:
        return s
    e = normalize_eselon(raw)
    if e is None:
        raise BroadcastError(f"Eselon {raw!r} tidak dikenal (contoh: II, III, III.a).", "eselon")
    return e


@dataclass
class UnitTree:
    """The unit tree, read once per operation (a city has hundreds of units, not millions)."""

    parent: dict[int, int | None]
    name: dict[int, str]
    active: dict[int, bool]
    children: dict[int | None, list[int]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for unit, parent in self.parent.items():
            self.children[parent].append(unit)

    def with_descendants(self, unit_ids: Iterable[int]) -> set[int]:
        seen: set[int] = set()
        stack = [u for u in unit_ids if u in self.parent]
        while stack:
            u = stack.pop()
            if u not in seen:
                seen.add(u)
                stack.extend(self.children.get(u, ()))
        return seen

    def opd_of(self, unit_id: int) -> int:
        """The top of the tree above ``unit_id`` (the Perangkat Daerah)."""
        seen = 0
        while (parent := self.parent.get(unit_id)) is not None and seen < 50:
            unit_id, seen = parent, seen + 1
        return unit_id

    def opds(self) -> list[tuple[int, str]]:
        """Active top-level units, by name."""
        roots = [u for u in self.children.get(None, ()) if self.active.get(u, True)]
        return sorted(((u, self.name[u]) for u in roots), key=lambda p: p[1].lower())


async def unit_tree(session: AsyncSession) -> UnitTree:
    rows = (await session.execute(select(Unit.id, Unit.parent_id, Unit.name, Unit.active))).all()
    return UnitTree(parent={r.id: r.parent_id for r in rows}, name={r.id: r.name for r in rows},
                    active={r.id: bool(r.active) for r in rows})


async def opd_list(session: AsyncSession) -> list[tuple[int, str]]:
    return (await unit_tree(session)).opds()


async def find_units(session: AsyncSession, query: str, *, limit: int = 8) -> list[tuple[int, str, str | None]]:
    """Active units whose name contains every word of ``query`` (case-insensitive), shortest
    names first: (id, name, name of its OPD or None for an OPD itself)."""
    words = [w for w in re.split(r"\s+", query.strip().lower()) if w][:6]
    if not words:
        return []
    stmt = select(Unit.id, Unit.name).where(Unit.active.is_(True), *[func.lower(Unit.name).contains(w, autoescape=True) for w in words])
    rows = (await session.execute(stmt.order_by(func.length(Unit.name), Unit.name).limit(limit))).all()
    tree = await unit_tree(session) if rows else None
    out: list[tuple[int, str, str | None]] = []
    for r in rows:
        opd = tree.opd_of(r.id) if tree else r.id
        out.append((r.id, r.name, tree.name.get(opd) if tree and opd != r.id else None))
    return out


def _conditions(audience: Audience, tree: UnitTree | None) -> list[Any]:
    conds: list[Any] = [Employee.active.is_(True)]
    if audience.units:
        assert tree is not None
        conds.append(Employee.unit_id.in_(sorted(tree.with_descendants(audience.units))))
    if audience.statuses:
        conds.append(Employee.status.in_(sorted({s for k in audience.statuses for s in STATUS_GROUPS[k]})))
    if audience.golongan:
        conds.append(or_(*[
            Employee.golongan == g if "/" in g else or_(Employee.golongan == g, Employee.golongan.like(f"{g}/%"))
            for g in audience.golongan
        ]))
    if audience.eselon:
        conds.append(or_(*[
            Employee.eselon == e if "." in e else or_(Employee.eselon == e, Employee.eselon.like(f"{e}.%"))
            for e in audience.eselon
        ]))
    return conds


@dataclass(frozen=True)
class AudienceCount:
    total: int
    linked: int  # with a linked Telegram account
    unreachable: int  # linked, but the account blocked the bot (403) and has not written since

    @property
    def not_linked(self) -> int:
        return self.total - self.linked


async def count(session: AsyncSession, audience: Audience) -> AudienceCount:
    tree = await unit_tree(session) if audience.units else None
    row = (await session.execute(
        select(func.count(Employee.id), func.count(TelegramAccount.id), func.count(TelegramAccount.undeliverable_since))
        .select_from(Employee)
        .outerjoin(TelegramAccount, TelegramAccount.employee_id == Employee.id)
        .where(*_conditions(audience, tree))
    )).one()
    return AudienceCount(total=row[0], linked=row[1], unreachable=row[2])


@dataclass(frozen=True)
class AudienceSummary:
    """The filters in words, for previews, reports and the CLI."""

    units: list[str]
    statuses: list[str]
    golongan: list[str]
    eselon: list[str]

    @property
    def everyone(self) -> bool:
        return not (self.units or self.statuses or self.golongan or self.eselon)


async def summarize(session: AsyncSession, audience: Audience) -> AudienceSummary:
    names: dict[int, str] = {}
    if audience.units:
        rows = await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(audience.units)))
        names = dict(rows.all())
    return AudienceSummary(
        units=[names.get(u, f"unit #{u}") for u in audience.units],
        statuses=[STATUS_LABELS[s] for s in audience.statuses],
        golongan=list(audience.golongan),
        eselon=list(audience.eselon),
    )


# ---- the message -------------------------------------------------------------------------------
def plain_length(text_html: str) -> int:
    """Length Telegram counts (UTF-16 units of the text after HTML parsing, without the
    whitespace it trims), near enough to check the limits before thousands of sends are queued."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", text_html or "")).strip()
    return len(plain.encode("utf-16-le")) // 2


def check_message(text_html: str, media: str | None) -> None:
    if media is not None and media not in MEDIA:
        raise ValueError(f"media must be one of {MEDIA}")
    length = plain_length(text_html)
    if media is None and length == 0:
        raise BroadcastError("Pesan siaran kosong.", "empty")
    limit = MAX_CAPTION if media else MAX_TEXT
    if length > limit:
        what = "Keterangan dokumen/foto" if media else "Pesan"
        raise BroadcastError(f"{what} terlalu panjang: {length} karakter, paling banyak {limit}.", "too_long")


def ack_markup(broadcast_id: int, *, done: bool = False) -> dict[str, Any]:
    label = ACK_DONE_LABEL if done else ACK_LABEL
    return {"inline_keyboard": [[{"text": label, "callback_data": f"{ACK_PREFIX}{broadcast_id}"}]]}


def message_for(broadcast: Broadcast) -> tuple[str, dict[str, Any]]:
    """(Bot API method, parameters without chat_id) of the message every recipient gets: the
    outbox payload, and what the sender's preview shows."""
    payload: dict[str, Any] = {}
    if broadcast.media == "document":
        method = "sendDocument"
        payload["document_path"] = broadcast.document_path
        if broadcast.document_name:
            payload["file_name"] = broadcast.document_name
    elif broadcast.media == "photo":
        method = "sendPhoto"
        payload["photo_path"] = broadcast.document_path
    else:
        method = "sendMessage"
    if broadcast.text:
        payload["caption" if broadcast.media else "text"] = broadcast.text
    if broadcast.ack:
        payload["reply_markup"] = ack_markup(broadcast.id)
    return method, payload


def store_file(data_dir: Path, content: bytes, file_name: str | None, *, media: str) -> tuple[str, str]:
    """Keep a broadcast's document or photo under DATA_DIR/broadcasts/, named by its content.
    Returns (path relative to DATA_DIR, the file name recipients see). Synchronous file I/O."""
    if not content:
        raise BroadcastError("Berkas kosong.", "empty")
    digest = hashlib.sha256(content).hexdigest()
    if media == "photo":
        shown, ext = "foto.jpg", ".jpg"
    else:
        shown = _safe_name(file_name or "dokumen")
        ext = Path(shown).suffix.lower()[:10]
    relative = f"{FILES_DIR}/{digest[:32]}{ext}"
    target = Path(data_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(content)
        tmp.replace(target)
    return relative, shown


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .") or "dokumen"
    return base[:120]


# ---- when ---------------------------------------------------------------------------------------
# A time at the end: "08:00", "14.30", "jam 8", "pukul 9.15 WIB". A bare number is not a time
# ("27/11" must stay a date).
_TIME_AT_END = re.compile(
    r"(?:^|\s)(?:(?:jam|pukul|pkl)\.?\s*(\d{1,2})(?:[:.](\d{2}))?|(\d{1,2})[:.](\d{2}))\s*(?:wib)?\s*$")


def parse_when(text: str, now_local: datetime) -> datetime | None:
    """"besok 08:00", "27/11 14:00", "senin depan jam 9", "14.30" (today) -> an aware datetime in
    ``now_local``'s zone; None when there is no time of day or no date. Dates as textdate reads
    them (day first; a date without a year is the next one)."""
    s = re.sub(r"\s+", " ", text.strip().lower())
    m = _TIME_AT_END.search(s)
    if not m:
        return None
    hour, minute = int(m[1] or m[3]), int(m[2] or m[4] or 0)
    if hour > 23 or minute > 59:
        return None
    rest = s[:m.start()].strip(" ,")
    rest = re.sub(r"\s*(?:,|pada|tanggal)$", "", rest).strip()
    day = now_local.date() if not rest else parse_date(rest, now_local.date())
    if day is None:
        return None
    return datetime.combine(day, time(hour, minute), tzinfo=now_local.tzinfo)


# ---- creating, confirming, scheduling ----------------------------------------------------------
async def create(
    session: AsyncSession,
    *,
    text: str,
    audience: Audience,
    created_by_label: str,
    created_by: int | None = None,
    ack: bool = False,
    media: str | None = None,
    document_path: str | None = None,
    document_name: str | None = None,
    report_chat_id: int | None = None,
    scheduled_at: datetime | None = None,
) -> Broadcast:
    """A draft broadcast (flushed, not committed). ``text`` is Telegram HTML. ``scheduled_at``:
    the time chosen for it, used by :func:`confirm` unless it is given another."""
    check_message(text, media)
    if media and not document_path:
        raise ValueError("a document or photo broadcast needs document_path")
    b = Broadcast(
        created_by=created_by, created_by_label=created_by_label[:120], text=text or "", media=media,
        document_path=document_path, document_name=document_name, audience=audience.to_json(), ack=ack,
        status=DRAFT, report_chat_id=report_chat_id, scheduled_at=scheduled_at,
    )
    session.add(b)
    await session.flush()
    return b


@dataclass(frozen=True)
class Released:
    """What releasing a broadcast wrote."""

    broadcast_id: int
    recipients: int
    queued: int  # outbox messages to send
    unreachable: int  # linked accounts that blocked the bot: recorded as blocked, not sent
    not_linked: int


@dataclass(frozen=True)
class Confirmed:
    broadcast: Broadcast
    released: Released | None  # None when scheduled for later


async def confirm(
    session: AsyncSession,
    broadcast_id: int,
    *,
    actor: str,
    actor_telegram_id: int | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Confirmed:
    """Send the draft now, or at ``at`` (aware datetime; default: the draft's scheduled_at) if
    that is in the future. Once only: a second confirm (a double tap, two instances) raises
    BroadcastError. Not committed here."""
    now = now or utcnow()
    draft = await get(session, broadcast_id)
    at = at if at is not None else draft.scheduled_at
    later = at is not None and at > now
    values: dict[str, Any] = {"status": SCHEDULED, "scheduled_at": at} if later else {
        "status": SENDING, "started_at": now, "scheduled_at": at}
    result = await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == DRAFT).values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise BroadcastError("Siaran ini sudah dikonfirmasi atau dibatalkan.", "not_draft")
    b = await session.get(Broadcast, broadcast_id, populate_existing=True)
    assert b is not None
    audience = Audience.from_json(b.audience)
    if later:
        n = await count(session, audience)
        audit.record(session, "broadcast_scheduled", actor=actor, actor_telegram_id=actor_telegram_id,
                     broadcast_id=b.id, audience=b.audience, ack=b.ack, media=b.media,
                     scheduled_at=at.isoformat(), recipients=n.total, linked=n.linked)
        return Confirmed(b, None)
    released = await _release(session, b, now)
    audit.record(session, "broadcast_sent", actor=actor, actor_telegram_id=actor_telegram_id,
                 broadcast_id=b.id, audience=b.audience, ack=b.ack, media=b.media, recipients=released.recipients,
                 queued=released.queued, not_linked=released.not_linked, unreachable=released.unreachable)
    return Confirmed(b, released)


async def start_due(sessions: async_sessionmaker[AsyncSession], now: datetime | None = None) -> list[Released]:
    """Release scheduled broadcasts whose time has come, each once even when several instances
    call this at the same moment (conditional UPDATE scheduled -> sending, in the transaction
    that writes the recipients and messages)."""
    now = now or utcnow()
    async with sessions() as session:
        due = list((await session.scalars(select(Broadcast.id).where(
            Broadcast.status == SCHEDULED, Broadcast.scheduled_at <= now).order_by(Broadcast.scheduled_at))).all())
    released: list[Released] = []
    for broadcast_id in due:
        async with sessions() as session:
            result = await session.execute(
                update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == SCHEDULED)
                .values(status=SENDING, started_at=now).execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                await session.rollback()  # another instance took it, or it was cancelled
                continue
            b = await session.get(Broadcast, broadcast_id, populate_existing=True)
            assert b is not None
            r = await _release(session, b, now)
            audit.record(session, "broadcast_sent", actor="scheduler", broadcast_id=b.id, audience=b.audience,
                         ack=b.ack, media=b.media, recipients=r.recipients, queued=r.queued,
                         not_linked=r.not_linked, unreachable=r.unreachable, scheduled_at=b.scheduled_at.isoformat()
                         if b.scheduled_at else None)
            await session.commit()
            released.append(r)
    return released


async def _release(session: AsyncSession, b: Broadcast, now: datetime) -> Released:
    """Snapshot the audience and queue one message per linked recipient: bulk INSERTs (the
    outbox's enqueue_many, then executemany for the recipients), ids read back by broadcast."""
    audience = Audience.from_json(b.audience)
    tree = await unit_tree(session)
    people = (await session.execute(
        select(Employee.id, Employee.unit_id, TelegramAccount.chat_id, TelegramAccount.undeliverable_since)
        .select_from(Employee)
        .outerjoin(TelegramAccount, TelegramAccount.employee_id == Employee.id)
        .where(*_conditions(audience, tree))
        .order_by(Employee.id)
    )).all()
    method, payload = message_for(b)
    reachable: list[dict[str, Any]] = []
    unreachable: list[dict[str, Any]] = []
    for p in people:
        if p.chat_id is None:
            continue
        message = {"dedupe_key": f"bc:{b.id}:{p.id}", "chat_id": p.chat_id, "employee_id": p.id, "method": method,
                   "payload": payload, "urgent": False, "broadcast_id": b.id, "not_before": now}
        (unreachable if p.undeliverable_since is not None else reachable).append(message)
    await outbox.enqueue_many(session, reachable)
    if unreachable:
        # Blocked the bot and not written since: recorded as blocked, not sent (Telegram would
        # answer 403 again; the account becomes reachable when its owner writes to the bot).
        await session.execute(OutboxMessage.__table__.insert(), [
            {**m, "status": MSG_BLOCKED, "attempts": 0, "created_at": now,
             "last_error": "account undeliverable (blocked the bot earlier)"} for m in unreachable
        ])
    outbox_ids = dict((await session.execute(
        select(OutboxMessage.employee_id, OutboxMessage.id).where(OutboxMessage.broadcast_id == b.id)
    )).all())
    recipients = [
        {"broadcast_id": b.id, "employee_id": p.id, "opd_id": tree.opd_of(p.unit_id),
         "outbox_id": outbox_ids.get(p.id), "acked_at": None}
        for p in people
    ]
    rtable = BroadcastRecipient.__table__
    for start in range(0, len(recipients), CHUNK):
        await session.execute(rtable.insert(), recipients[start:start + CHUNK])
    return Released(broadcast_id=b.id, recipients=len(people), queued=len(reachable),
                    unreachable=len(unreachable), not_linked=len(people) - len(reachable) - len(unreachable))


# ---- cancelling and finishing ------------------------------------------------------------------
def _cancellable(broadcast_id: int, now: datetime) -> Any:
    # Messages on the wire (leased) finish and are recorded as the worker sees them.
    return and_(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == MSG_PENDING,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now))


@dataclass(frozen=True)
class Cancelled:
    broadcast_id: int
    previous_status: str
    messages_cancelled: int


async def cancel(
    session: AsyncSession, broadcast_id: int, *, actor: str, actor_telegram_id: int | None = None,
    now: datetime | None = None,
) -> Cancelled:
    """Stop a draft, scheduled or running broadcast: its messages not yet sent are not sent.
    Messages already on their way finish. Not committed here."""
    now = now or utcnow()
    b = await get(session, broadcast_id)
    previous = b.status
    if previous in (DONE, CANCELLED):
        raise BroadcastError(f"Siaran #{broadcast_id} sudah {'selesai' if previous == DONE else 'dibatalkan'}.",
                             "finished")
    values: dict[str, Any] = {"status": CANCELLED, "cancelled_at": now}
    if previous != SENDING:
        values["finished_at"] = now  # nothing was sent: no report to wait for
    result = await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == previous).values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise BroadcastError(f"Status siaran #{broadcast_id} baru saja berubah; coba lagi.", "changed")
    n = 0
    if previous == SENDING:
        res = await session.execute(update(OutboxMessage).where(_cancellable(broadcast_id, now))
                                    .values(status=MSG_CANCELLED).execution_options(synchronize_session=False))
        n = res.rowcount or 0
    await session.refresh(b)
    audit.record(session, "broadcast_cancelled", actor=actor, actor_telegram_id=actor_telegram_id,
                 broadcast_id=broadcast_id, previous_status=previous, messages_cancelled=n)
    return Cancelled(broadcast_id, previous, n)


async def resend_uncertain(
    session: AsyncSession, broadcast_id: int, *, actor: str, actor_telegram_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Queue again the messages a crash left "tidak pasti terkirim" (their request was on the wire
    when the sender died; Telegram may or may not have delivered them, and cannot be asked). Not
    sent again by default, since a second copy is as unwelcome as a missing one; staff who prefer
    a possible second copy decide it here. Returns how many were queued. Not committed here."""
    now = now or utcnow()
    b = await get(session, broadcast_id)
    if b.status == CANCELLED:
        raise BroadcastError(f"Siaran #{broadcast_id} sudah dibatalkan.", "cancelled")
    result = await session.execute(
        update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == MSG_UNCERTAIN)
        .values(status=MSG_PENDING, send_started_at=None, locked_by=None, locked_until=None, not_before=now,
                last_error="queued again by staff after an uncertain send")
        .execution_options(synchronize_session=False)
    )
    n = result.rowcount or 0
    if n:
        audit.record(session, "broadcast_uncertain_resent", actor=actor, actor_telegram_id=actor_telegram_id,
                     broadcast_id=broadcast_id, messages=n)
    return n


async def finish_due(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Broadcasts that have nothing left to send: running ones become ``done``; cancelled ones
    get their ``finished_at``. Messages of a cancelled broadcast that came back to the queue
    (a retry after an error) are cancelled first. Returns the ids finished now, each once across
    instances (conditional UPDATE), so the caller can add the final report in the same
    transaction. Not committed here."""
    now = now or utcnow()
    open_cancelled = list((await session.scalars(select(Broadcast.id).where(
        Broadcast.status == CANCELLED, Broadcast.finished_at.is_(None)))).all())
    for bid in open_cancelled:
        await session.execute(update(OutboxMessage).where(_cancellable(bid, now)).values(status=MSG_CANCELLED)
                              .execution_options(synchronize_session=False))
    pending = exists().where(OutboxMessage.broadcast_id == Broadcast.id, OutboxMessage.status == MSG_PENDING)
    candidates = list((await session.scalars(select(Broadcast.id).where(
        Broadcast.status.in_([SENDING, CANCELLED]), Broadcast.finished_at.is_(None), ~pending))).all())
    finished: list[int] = []
    for bid in candidates:
        b = await get(session, bid)
        result = await session.execute(
            update(Broadcast).where(Broadcast.id == bid, Broadcast.status == b.status, Broadcast.finished_at.is_(None))
            .values(status=DONE if b.status == SENDING else CANCELLED, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            finished.append(bid)
    return finished


async def anything_to_follow(session: AsyncSession, now: datetime | None = None) -> bool:
    """Whether :func:`start_due`, :func:`finish_due` or :func:`to_follow` could find anything:
    one small read that every instance's progress loop makes each second instead of those."""
    now = now or utcnow()
    found = await session.scalar(select(Broadcast.id).where(or_(
        and_(Broadcast.status == SCHEDULED, Broadcast.scheduled_at <= now),
        and_(Broadcast.status.in_([SENDING, CANCELLED]), Broadcast.finished_at.is_(None)),
        and_(Broadcast.report_chat_id.is_not(None), Broadcast.finished_at > now - REPORT_WINDOW),
    )).limit(1))
    return found is not None


async def to_follow(session: AsyncSession, now: datetime | None = None) -> list[Broadcast]:
    """Broadcasts whose sender's chat gets progress updates: running ones, and those finished
    within REPORT_WINDOW (for the last edit)."""
    now = now or utcnow()
    return list((await session.scalars(select(Broadcast).where(
        Broadcast.report_chat_id.is_not(None),
        Broadcast.started_at.is_not(None),
        or_(Broadcast.finished_at.is_(None), Broadcast.finished_at > now - REPORT_WINDOW),
    ).order_by(Broadcast.id))).all())


# ---- acknowledgement ---------------------------------------------------------------------------
async def ack(session: AsyncSession, broadcast_id: int, employee_id: int, now: datetime | None = None) -> bool:
    """Record "Sudah saya baca dan pahami": True the first time, False on every later press.
    Raises NotRecipient when this employee was not sent the broadcast. Not committed here."""
    result = await session.execute(
        update(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.employee_id == employee_id,
               BroadcastRecipient.acked_at.is_(None))
        .values(acked_at=now or utcnow()).execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return True
    known = await session.scalar(select(BroadcastRecipient.id).where(
        BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.employee_id == employee_id))
    if known is None:
        raise NotRecipient("Tombol ini hanya berlaku bagi penerima siaran.", "not_recipient")
    return False


# ---- reports -----------------------------------------------------------------------------------
@dataclass
class Tally:
    recipients: int = 0
    delivered: int = 0
    blocked: int = 0
    failed: int = 0
    pending: int = 0
    cancelled: int = 0
    uncertain: int = 0
    not_linked: int = 0
    acked: int = 0

    @property
    def linked(self) -> int:
        return self.recipients - self.not_linked

    @property
    def processed(self) -> int:
        """Linked recipients whose message has an outcome (sent, blocked, failed, cancelled,
        uncertain)."""
        return self.linked - self.pending

    @property
    def complete(self) -> bool:
        """Every linked recipient's message has an outcome (the status may not say so yet)."""
        return bool(self.linked) and self.processed >= self.linked

    def as_json(self) -> dict[str, int]:
        return {"recipients": self.recipients, "linked": self.linked, "delivered": self.delivered,
                "blocked": self.blocked, "failed": self.failed, "pending": self.pending,
                "cancelled": self.cancelled, "uncertain": self.uncertain, "not_linked": self.not_linked,
                "acked": self.acked}


@dataclass
class OpdTally(Tally):
    opd_id: int | None = None
    opd: str = "-"

    def as_json(self) -> dict[str, Any]:
        return {"opd_id": self.opd_id, "opd": self.opd, **super().as_json()}


@dataclass
class Report:
    broadcast: Broadcast
    total: Tally
    per_opd: list[OpdTally]

    def as_json(self) -> dict[str, Any]:
        b = self.broadcast
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "id": b.id, "status": b.status, "created_by": b.created_by_label, "created_at": iso(b.created_at),
            "scheduled_at": iso(b.scheduled_at), "started_at": iso(b.started_at), "finished_at": iso(b.finished_at),
            "cancelled_at": iso(b.cancelled_at), "ack": b.ack, "media": b.media, "document_name": b.document_name,
            "audience": b.audience, "total": self.total.as_json(), "per_opd": [o.as_json() for o in self.per_opd],
        }


def _add(t: Tally, outcome: str, n: int, acked: int) -> None:
    t.recipients += n
    setattr(t, outcome, getattr(t, outcome) + n)
    t.acked += acked


async def tally(session: AsyncSession, broadcast_id: int) -> Tally:
    """The totals only (what the progress message shows)."""
    rows = (await session.execute(
        select(OutboxMessage.status, func.count(BroadcastRecipient.id), func.count(BroadcastRecipient.acked_at))
        .select_from(BroadcastRecipient)
        .outerjoin(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.status)
    )).all()
    t = Tally()
    for status, n, acked in rows:
        _add(t, _FROM_OUTBOX.get(status, "failed"), n, acked)
    return t


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast:
    b = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if b is None:
        raise BroadcastError(f"Siaran #{broadcast_id} tidak ditemukan.", "not_found")
    return b


async def report(session: AsyncSession, broadcast_id: int) -> Report:
    """Delivered / blocked / failed / pending / cancelled / not linked / acknowledged, in total
    and per OPD (the OPD as it was when the broadcast was released)."""
    b = await get(session, broadcast_id)
    rows = (await session.execute(
        select(BroadcastRecipient.opd_id, OutboxMessage.status, func.count(BroadcastRecipient.id),
               func.count(BroadcastRecipient.acked_at))
        .select_from(BroadcastRecipient)
        .outerjoin(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(BroadcastRecipient.opd_id, OutboxMessage.status)
    )).all()
    names = dict((await session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_({r[0] for r in rows if r[0] is not None})))).all())
    total = Tally()
    per: dict[int | None, OpdTally] = {}
    for opd_id, status, n, acked in rows:
        outcome = _FROM_OUTBOX.get(status, "failed")
        _add(total, outcome, n, acked)
        o = per.setdefault(opd_id, OpdTally(opd_id=opd_id, opd=names.get(opd_id, "-") if opd_id else "-"))
        _add(o, outcome, n, acked)
    return Report(b, total, sorted(per.values(), key=lambda o: o.opd.lower()))


@dataclass(frozen=True)
class RecipientRow:
    opd: str
    unit: str
    name: str
    identifier: str
    delivery: str  # key of DELIVERY_LABELS
    acked_at: datetime | None


async def recipient_rows(session: AsyncSession, broadcast_id: int) -> list[RecipientRow]:
    """Every recipient with where they work, how delivery went and when they acknowledged:
    the list a unit head follows up with."""
    await get(session, broadcast_id)
    opd_unit = Unit.__table__.alias("opd")
    rows = (await session.execute(
        select(opd_unit.c.name, Unit.name, Employee.name, Employee.gelar_depan, Employee.gelar_belakang,
               Employee.nip, Employee.nomor_non_pns, OutboxMessage.status, BroadcastRecipient.acked_at)
        .select_from(BroadcastRecipient)
        .join(Employee, Employee.id == BroadcastRecipient.employee_id)
        .join(Unit, Unit.id == Employee.unit_id)
        .outerjoin(opd_unit, opd_unit.c.id == BroadcastRecipient.opd_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == BroadcastRecipient.outbox_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
    )).all()
    out = []
    for opd, unit, name, depan, belakang, nip, nomor, status, acked_at in rows:
        full = f"{depan} {name}" if depan else name
        full = f"{full}, {belakang}" if belakang else full
        out.append(RecipientRow(opd or "-", unit, full, nip or nomor or "", _FROM_OUTBOX.get(status, "failed"),
                                acked_at))
    out.sort(key=lambda r: (r.opd.lower(), r.unit.lower(), r.name.lower()))
    return out


EXPORT_HEADER = ("OPD", "Unit kerja", "Nama", "NIP / Nomor", "Status pengiriman", "Dibaca dan dipahami pada")


def _export_values(r: RecipientRow, zone: ZoneInfo) -> tuple[str, ...]:
    acked = r.acked_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if r.acked_at else ""
    return (r.opd, r.unit, r.name, r.identifier, DELIVERY_LABELS[r.delivery], acked)


def export_csv(rows: list[RecipientRow], zone: ZoneInfo) -> bytes:
    """UTF-8 with a BOM and ';' separators: opens correctly in Excel with Indonesian settings."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";")
    writer.writerow(EXPORT_HEADER)
    for r in rows:
        writer.writerow(_export_values(r, zone))
    return buf.getvalue().encode("utf-8-sig")


def export_xlsx(rows: list[RecipientRow], zone: ZoneInfo, *, title: str = "Penerima") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.freeze_panes = "A2"
    for col, width in zip("ABCDEF", (40, 40, 36, 22, 18, 22)):
        ws.column_dimensions[col].width = width
    from openpyxl.cell import WriteOnlyCell

    header = []
    for label in EXPORT_HEADER:
        cell = WriteOnlyCell(ws, value=label)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for r in rows:
        ws.append(list(_export_values(r, zone)))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def record_export(session: AsyncSession, broadcast_id: int, fmt: str, rows: int, *, actor: str,
                        actor_telegram_id: int | None = None) -> None:
    """Personal data left the system: who took which list. Not committed here."""
    audit.record(session, "broadcast_exported", actor=actor, actor_telegram_id=actor_telegram_id,
                 broadcast_id=broadcast_id, format=fmt, rows=rows)
