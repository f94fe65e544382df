"""The personnel database: units, employees, Telegram links, staff roles, link codes, audit.

Later features (cuti, izin belajar, notifications) hang off `employees.id`, `units.id` and
`telegram_accounts`, so they are added as new tables without reworking these.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both engines (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(timezone.utc)")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class EmploymentStatus(StrEnum):
    PNS = "PNS"
    CPNS = "CPNS"
    PPPK = "PPPK"
    NON_PNS = "NON-PNS"


class JenisJabatan(StrEnum):
    STRUKTURAL = "struktural"  # JPT / administrator / pengawas
    FUNGSIONAL = "fungsional"
    PELAKSANA = "pelaksana"


class Role(StrEnum):
    ADMIN = "admin"
    VERIFIER = "verifier"  # scope = bidang code (pka, apka, pkom)
    BROADCASTER = "broadcaster"
    APPROVER = "approver"  # pejabat yang berwenang; scope = unit code or None


class Unit(Base):
    """Perangkat Daerah (OPD) and its sub-units, as a tree."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), default="unit")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    # Working week for leave counting, e.g. "1-5" (Mon-Fri) or "1-6"; NULL inherits from the parent.
    work_days: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="raise")
    __table_args__ = (UniqueConstraint("parent_id", "name", name="parent_name"),)


class Employee(Base):
    __tablename__ = "employees"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nip: Mapped[str | None] = mapped_column(String(18), unique=True)
    # Non-PNS staff have no NIP; the agency's own number identifies them.
    nomor_non_pns: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(150))
    gelar_depan: Mapped[str | None] = mapped_column(String(60))
    gelar_belakang: Mapped[str | None] = mapped_column(String(80))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    golongan: Mapped[str | None] = mapped_column(String(8))
    jenis_jabatan: Mapped[str | None] = mapped_column(String(20))
    eselon: Mapped[str | None] = mapped_column(String(8))
    jabatan: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    superior_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    tmt_cpns: Mapped[date | None] = mapped_column(Date)  # PPPK: start of the first agreement
    tmt_pns: Mapped[date | None] = mapped_column(Date)
    tmt_pangkat: Mapped[date | None] = mapped_column(Date)
    tmt_kgb: Mapped[date | None] = mapped_column(Date)
    education: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(16), index=True)  # E.164 digits, no '+'
    # Keyed hash of the last six NIK digits: verifies a link without storing the NIK.
    verification_hash: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(lazy="raise")
    superior: Mapped[Employee | None] = relationship(remote_side=[id], lazy="raise")

    __table_args__ = (
        CheckConstraint("nip IS NOT NULL OR nomor_non_pns IS NOT NULL", name="has_identifier"),
        CheckConstraint("sex IN ('L', 'P')", name="sex"),
    )

    @property
    def identifier(self) -> str:
        return self.nip or self.nomor_non_pns or ""

    @property
    def full_name(self) -> str:
        name = self.name
        if self.gelar_depan:
            name = f"{self.gelar_depan} {name}"
        if self.gelar_belakang:
            name = f"{name}, {self.gelar_belakang}"
        return name


class TelegramAccount(Base):
    """A Telegram user who has linked (or once linked) to an employee."""

    __tablename__ = "telegram_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), unique=True)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(128))
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when Telegram answers 403 (blocked / deleted); cleared when the user writes again.
    undeliverable_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    employee: Mapped[Employee | None] = relationship(lazy="raise")


class LinkCode(Base):
    """One-time code an admin issues for an employee who cannot link by phone."""

    __tablename__ = "link_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_telegram_id: Mapped[int | None] = mapped_column(BigInteger)


class StaffRole(Base):
    __tablename__ = "staff_roles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # Empty string = everywhere; otherwise a bidang code or unit code (NULLs would defeat the unique key).
    scope: Mapped[str] = mapped_column(String(120), default="")
    granted_by: Mapped[str] = mapped_column(String(80))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    __table_args__ = (UniqueConstraint("employee_id", "role", "scope", name="employee_role_scope"),)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(String(80))  # CLI user / system component
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_actor_action_at", "actor_telegram_id", "action", "at"),)


class ConversationState(Base):
    """Persisted conversation (FSM) state, so a half-filled form survives a restart when no
    Redis is configured. Keyed by the framework's storage key; holds no framework types."""

    __tablename__ = "conversation_states"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class HelpdeskQuestion(Base):
    """A question the bot could not answer, handed to BKPSDM staff in the helpdesk chat."""

    __tablename__ = "helpdesk_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open / answered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The copy posted in the helpdesk chat: a staff reply to it is routed back by this id.
    staff_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_message_id: Mapped[int | None] = mapped_column(BigInteger)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(80))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rating: Mapped[int | None] = mapped_column(Integer)  # 1 = membantu, 0 = tidak membantu
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_helpdesk_staff_message", "staff_chat_id", "staff_message_id"),)


class KnowledgeGap(Base):
    """A question the knowledge base could not answer, kept as normalised text with digits
    masked (no NIP, NIK or phone), counted so staff see what content to add."""

    __tablename__ = "kb_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(300), unique=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CutiLedgerEntry(Base):
    """One dated movement of an employee's cuti tahunan days. The balance is always the sum of
    entries (never an editable column), so every day can be traced to its decision or import.

    kind: "hak" yearly entitlement, "pakai" used (negative), "tangguh" deferred by the PYBMC,
    "tambah" compensation for duty during cuti bersama, "hangus" lapsed (negative),
    "saldo-awal" opening balance import, "koreksi" staff correction.
    """

    __tablename__ = "cuti_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the (employee_id, year) index below.
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)  # the leave year the days belong to
    kind: Mapped[str] = mapped_column(String(20))
    days: Mapped[int] = mapped_column(Integer)  # signed hari kerja
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))  # decree / request number / import file
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_cuti_ledger_employee_year", "employee_id", "year"),)


class Application(Base):
    """One request an employee files (cuti, izin belajar) and its place in the approval chain.

    The form's answers live in `data` (JSON) because each type asks different things; the
    columns are what the workflow, the queues and the authorisation checks query on.
    `version` increases with every transition: an action quoting an older version (a stale or
    repeated button, or a second approver acting at the same moment) is refused.
    """

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)  # CUTI-2026-000012
    type: Mapped[str] = mapped_column(String(20))  # "cuti" / "izin-belajar"
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # see services.applications.engine.Status
    step: Mapped[str | None] = mapped_column(String(20))  # atasan / verifikasi / pejabat while pending
    # Who is expected to act at `step` (NULL: a queue, e.g. BKPSDM verifiers).
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Idempotency key of the submitting form: a double tap or resend files one application.
    submit_key: Mapped[str] = mapped_column(String(120), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    step_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # for approver reminders
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    employee: Mapped[Employee] = relationship(foreign_keys=[employee_id], lazy="raise")

    __table_args__ = (Index("ix_applications_status_step", "status", "step"),)


class ApplicationEvent(Base):
    """Every transition: who acted (and for whom, when standing in), when, what, and why."""

    __tablename__ = "application_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    actor_label: Mapped[str | None] = mapped_column(String(200))  # e.g. "Plh. Kepala Dinas ..." / "sistem"
    step: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApplicationFile(Base):
    """A document attached to an application, stored content-addressed on disk (not only as a
    Telegram file id, which staff outside Telegram cannot open)."""

    __tablename__ = "application_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    doc_key: Mapped[str] = mapped_column(String(80))  # which requirement it answers
    label: Mapped[str] = mapped_column(String(300))
    file_name: Mapped[str | None] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))  # relative to DATA_DIR/files
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
    # A document replaced during revision stays for the record but no longer counts.
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Letter(Base):
    """An issued letter (surat izin cuti / surat izin belajar), kept and verifiable by code."""

    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    path: Mapped[str] = mapped_column(String(200))  # relative to DATA_DIR/letters
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)


class Delegation(Base):
    """An acting official (Plt/Plh) standing in for an approver for a period, set by staff."""

    __tablename__ = "delegations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    acting_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(4))  # Plt / Plh
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message to send, written in the same transaction as the change that causes it
    (transactional outbox). The delivery worker in bot/ sends it and records the outcome;
    services never call Telegram. `dedupe_key` makes every message go out at most once.

    payload: Bot API parameters without chat_id, e.g. {"text": ..., "parse_mode": "HTML",
    "reply_markup": {"inline_keyboard": [...]}} for method sendMessage, or for sendDocument
    {"document_path": "letters/x.pdf" (relative to DATA_DIR), "file_name": ..., "caption": ...}.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(30), default="sendMessage")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # urgent: application steps; non-urgent (reminders, broadcasts) wait for the end of quiet hours.
    urgent: Mapped[bool] = mapped_column(Boolean, default=True)
    broadcast_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/sent/failed/blocked
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A worker holds a row while sending it; another worker may take it once the lease ends.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(80))
    # Set (committed) just before the request goes to Telegram: a row that has it but no outcome
    # after its worker died may have been delivered (see services/outbox.py, "in doubt").
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_outbox_status_not_before", "status", "not_before"),)


class WorkerLease(Base):
    """One process at a time does a bot-wide job, e.g. "outbox": Telegram's overall send limit is
    per bot, so one sender keeps it exactly and the others stand by. The holder renews
    ``expires_at``; when it stops (or dies and the lease runs out) another instance takes over,
    starting no earlier than the old sender's last send plus Telegram's one-second window and any
    bot-wide pause (``paused_until``) Telegram asked for."""

    __tablename__ = "worker_leases"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Broadcast(Base):
    """A message BKPSDM staff send to many employees (e.g. a discipline regulation)."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_by_label: Mapped[str] = mapped_column(String(120))  # "telegram:123" / "cli:root"
    text: Mapped[str] = mapped_column(Text)  # Telegram HTML
    document_path: Mapped[str | None] = mapped_column(String(200))  # relative to DATA_DIR
    document_name: Mapped[str | None] = mapped_column(String(200))
    media: Mapped[str | None] = mapped_column(String(10))  # document / photo
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the filters chosen
    ack: Mapped[bool] = mapped_column(Boolean, default=False)  # "Sudah saya baca dan pahami" button
    # draft / scheduled / sending / done / cancelled
    status: Mapped[str] = mapped_column(String(12), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where progress is reported (the sender's chat).
    report_chat_id: Mapped[int | None] = mapped_column(BigInteger)


class BroadcastRecipient(Base):
    """The audience as resolved when the broadcast was confirmed (personnel data change later;
    the report must not). outbox_id is NULL for employees without a linked Telegram account."""

    __tablename__ = "broadcast_recipients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("broadcast_id", "employee_id", name="broadcast_employee"),
        Index("ix_broadcast_recipients_opd", "broadcast_id", "opd_id"),
    )


class NotificationPreference(Base):
    """A person's choice to receive (or not) one kind of proactive message; absent = on."""

    __tablename__ = "notification_prefs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # kgb / pangkat / pensiun / approver / revisi / broadcast
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    __table_args__ = (UniqueConstraint("employee_id", "kind", name="employee_kind"),)


class ReminderSent(Base):
    """One reminder per event (e.g. KGB due 2027-04-01, 3 months before): never twice."""

    __tablename__ = "reminders_sent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    event_key: Mapped[str] = mapped_column(String(80))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    __table_args__ = (UniqueConstraint("kind", "employee_id", "event_key", name="kind_employee_event"),)


class JobRun(Base):
    """A scheduled job's run for one period (e.g. daily-reminders 2026-11-27). The unique key
    makes it run once even when several bot instances wake at the same time."""

    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    instance: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("job", "period", name="job_period"),)
