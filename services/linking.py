"""Linking a Telegram account to an employee: by own phone number + NIK digits, or by a
one-time code from an admin. Every link, unlink and failure is audited; failures are rate
limited per Telegram account."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.audit import Action
from services.employees import find_by_identifier
from services.models import AuditLog, Employee, LinkCode, TelegramAccount, utcnow
from services.phone import PhoneError, normalize_phone
from services.security import check_verification, link_code_hash, new_link_code, normalize_link_code


@dataclass(frozen=True)
class LinkPolicy:
    max_failures: int = 5
    failure_window: timedelta = timedelta(hours=1)
    code_ttl: timedelta = timedelta(hours=72)
    nik_digits: int = 6


class Outcome(StrEnum):
    LINKED = "linked"
    LOCKED = "locked"
    NOT_OWN_CONTACT = "not_own_contact"
    BAD_PHONE = "bad_phone"
    PHONE_NOT_FOUND = "phone_not_found"
    PHONE_AMBIGUOUS = "phone_ambiguous"
    ASK_VERIFICATION = "ask_verification"
    WRONG_VERIFICATION = "wrong_verification"
    NO_VERIFICATION_DATA = "no_verification_data"
    CODE_INVALID = "code_invalid"
    CODE_EXPIRED = "code_expired"
    CODE_USED = "code_used"
    ALREADY_LINKED = "already_linked"


@dataclass
class LinkResult:
    outcome: Outcome
    employee: Employee | None = None
    wait: timedelta | None = None  # for LOCKED
    attempts_left: int | None = None  # after a counted failure
    detail: str | None = None  # e.g. a PhoneError message


@dataclass(frozen=True)
class TelegramProfile:
    user_id: int
    chat_id: int
    username: str | None = None
    first_name: str | None = None


class CodeNotIssued(Exception):
    """The identifier names no active employee."""


# Built once (every form step and menu runs it): building a statement and its cache key costs
# about a third as much CPU as running it.
LINKED_EMPLOYEE = (
    select(Employee)
    .join(TelegramAccount, TelegramAccount.employee_id == Employee.id)
    .where(TelegramAccount.telegram_user_id == bindparam("user"), Employee.active.is_(True))
)


class LinkingService:
    def __init__(self, session: AsyncSession, key: bytes, policy: LinkPolicy | None = None) -> None:
        self.session = session
        self.key = key
        self.policy = policy or LinkPolicy()

    # ---- lookups -------------------------------------------------------------------------
    async def linked_employee(self, telegram_user_id: int) -> Employee | None:
        return (await self.session.execute(LINKED_EMPLOYEE, {"user": telegram_user_id})).scalar_one_or_none()

    async def lockout(self, telegram_user_id: int, now: datetime | None = None) -> timedelta | None:
        """Time left before this account may try again, or None if it may try now."""
        now = now or utcnow()
        since = now - self.policy.failure_window
        stmt = select(func.count(), func.min(AuditLog.at)).where(
            AuditLog.actor_telegram_id == telegram_user_id,
            AuditLog.action == Action.LINK_FAILED,
            AuditLog.at > since,
        )
        count, oldest = (await self.session.execute(stmt)).one()
        if count < self.policy.max_failures:
            return None
        # The window slides: the oldest failure in it leaves first. The count of failures in
        # the window only drops below the limit once enough of them have aged out.
        stmt = (
            select(AuditLog.at)
            .where(
                AuditLog.actor_telegram_id == telegram_user_id,
                AuditLog.action == Action.LINK_FAILED,
                AuditLog.at > since,
            )
            .order_by(AuditLog.at.desc())
            .offset(self.policy.max_failures - 1)
            .limit(1)
        )
        pivot = (await self.session.execute(stmt)).scalar_one()
        return max(pivot + self.policy.failure_window - now, timedelta(seconds=1))

    async def _fail(self, who: TelegramProfile, reason: Outcome, employee_id: int | None = None) -> LinkResult:
        audit.record(
            self.session, Action.LINK_FAILED, actor_telegram_id=who.user_id, employee_id=employee_id, reason=reason.value
        )
        await self.session.commit()
        wait = await self.lockout(who.user_id)
        if wait is not None:
            return LinkResult(Outcome.LOCKED, wait=wait, detail=reason.value)
        since = utcnow() - self.policy.failure_window
        used = (
            await self.session.execute(
                select(func.count()).where(
                    AuditLog.actor_telegram_id == who.user_id,
                    AuditLog.action == Action.LINK_FAILED,
                    AuditLog.at > since,
                )
            )
        ).scalar_one()
        return LinkResult(reason, attempts_left=max(self.policy.max_failures - used, 0))

    # ---- step 1: the shared contact -------------------------------------------------------
    async def start_with_contact(
        self, who: TelegramProfile, contact_user_id: int | None, phone_number: str
    ) -> LinkResult:
        if (wait := await self.lockout(who.user_id)) is not None:
            return LinkResult(Outcome.LOCKED, wait=wait)
        if contact_user_id != who.user_id:
            # A forwarded contact proves nothing about who is typing.
            return await self._fail(who, Outcome.NOT_OWN_CONTACT)
        try:
            # Telegram sends contacts in international form; a bare "81..." is Japan, not 081.
            phone = normalize_phone(phone_number, international=True)
        except PhoneError as e:
            result = await self._fail(who, Outcome.BAD_PHONE)
            result.detail = str(e)
            return result
        ids = (
            await self.session.execute(
                select(Employee.id).where(Employee.phone == phone, Employee.active.is_(True)).limit(2)
            )
        ).scalars().all()
        if not ids:
            return await self._fail(who, Outcome.PHONE_NOT_FOUND)
        if len(ids) > 1:
            # Not counted as the user's fault, but they must use a link code instead.
            audit.record(self.session, Action.LINK_FAILED + "_ambiguous", actor_telegram_id=who.user_id)
            await self.session.commit()
            return LinkResult(Outcome.PHONE_AMBIGUOUS)
        employee = await self.session.get(Employee, ids[0])
        if employee is None or not employee.verification_hash:
            return LinkResult(Outcome.NO_VERIFICATION_DATA, employee=employee)
        return LinkResult(Outcome.ASK_VERIFICATION, employee=employee)

    # ---- step 2: the NIK digits -----------------------------------------------------------
    async def verify(self, who: TelegramProfile, employee_id: int, answer: str) -> LinkResult:
        if (wait := await self.lockout(who.user_id)) is not None:
            return LinkResult(Outcome.LOCKED, wait=wait)
        employee = await self.session.get(Employee, employee_id)
        if employee is None or not employee.active:
            return await self._fail(who, Outcome.PHONE_NOT_FOUND, employee_id)
        digits = "".join(ch for ch in answer if ch.isdigit())
        ok = len(digits) == self.policy.nik_digits and check_verification(
            self.key, employee.identifier, digits, employee.verification_hash
        )
        if not ok:
            return await self._fail(who, Outcome.WRONG_VERIFICATION, employee.id)
        await self._link(who, employee, method="phone+nik")
        return LinkResult(Outcome.LINKED, employee=employee)

    # ---- fallback: one-time codes ---------------------------------------------------------
    async def issue_code(self, identifier: str, *, created_by: str, now: datetime | None = None) -> tuple[str, datetime, Employee]:
        now = now or utcnow()
        employee = await find_by_identifier(self.session, identifier)
        if employee is None:
            raise CodeNotIssued(f"Tidak ada pegawai aktif dengan NIP/nomor {identifier}.")
        code = new_link_code()
        expires = now + self.policy.code_ttl
        self.session.add(
            LinkCode(
                code_hash=link_code_hash(self.key, code), employee_id=employee.id,
                created_by=created_by, created_at=now, expires_at=expires,
            )
        )
        audit.record(self.session, Action.LINK_CODE_ISSUED, actor=created_by, employee_id=employee.id,
                     expires_at=expires.isoformat())
        await self.session.commit()
        return code, expires, employee

    async def redeem_code(self, who: TelegramProfile, raw_code: str, now: datetime | None = None) -> LinkResult:
        now = now or utcnow()
        if (wait := await self.lockout(who.user_id, now)) is not None:
            return LinkResult(Outcome.LOCKED, wait=wait)
        code = normalize_link_code(raw_code)
        row = None
        if code:
            row = (
                await self.session.execute(select(LinkCode).where(LinkCode.code_hash == link_code_hash(self.key, code)))
            ).scalar_one_or_none()
        if row is None:
            return await self._fail(who, Outcome.CODE_INVALID)
        code_id, employee_id = row.id, row.employee_id  # plain values survive a rollback
        if row.used_at is not None:
            return await self._fail(who, Outcome.CODE_USED, row.employee_id)
        if row.expires_at <= now:
            return await self._fail(who, Outcome.CODE_EXPIRED, row.employee_id)
        # Conditional update: of two simultaneous redemptions only one wins.
        res = await self.session.execute(
            update(LinkCode)
            .where(LinkCode.id == code_id, LinkCode.used_at.is_(None))
            .values(used_at=now, used_by_telegram_id=who.user_id)
        )
        if res.rowcount != 1:
            await self.session.rollback()
            return await self._fail(who, Outcome.CODE_USED, employee_id)
        employee = await self.session.get(Employee, employee_id)
        if employee is None or not employee.active:
            await self.session.rollback()
            return await self._fail(who, Outcome.CODE_INVALID, employee_id)
        await self._link(who, employee, method="code")
        return LinkResult(Outcome.LINKED, employee=employee)

    # ---- link / unlink --------------------------------------------------------------------
    async def _link(self, who: TelegramProfile, employee: Employee, *, method: str) -> None:
        now = utcnow()
        # One Telegram account per employee: a new verified link replaces an older one.
        previous = (
            await self.session.execute(
                select(TelegramAccount).where(
                    TelegramAccount.employee_id == employee.id, TelegramAccount.telegram_user_id != who.user_id
                )
            )
        ).scalar_one_or_none()
        if previous is not None:
            previous.employee_id = None
            audit.record(self.session, Action.UNLINKED, actor_telegram_id=previous.telegram_user_id,
                         employee_id=employee.id, reason="replaced_by_new_link")
            await self.session.flush()
        account = (
            await self.session.execute(select(TelegramAccount).where(TelegramAccount.telegram_user_id == who.user_id))
        ).scalar_one_or_none()
        if account is None:
            account = TelegramAccount(telegram_user_id=who.user_id, chat_id=who.chat_id)
            self.session.add(account)
        account.chat_id = who.chat_id
        account.username = who.username
        account.first_name = who.first_name
        account.employee_id = employee.id
        account.linked_at = now
        account.undeliverable_since = None
        audit.record(self.session, Action.LINKED, actor_telegram_id=who.user_id, employee_id=employee.id, method=method)
        await self.session.commit()

    async def unlink(self, telegram_user_id: int) -> Employee | None:
        account = (
            await self.session.execute(select(TelegramAccount).where(TelegramAccount.telegram_user_id == telegram_user_id))
        ).scalar_one_or_none()
        if account is None or account.employee_id is None:
            return None
        employee = await self.session.get(Employee, account.employee_id)
        audit.record(self.session, Action.UNLINKED, actor_telegram_id=telegram_user_id,
                     employee_id=account.employee_id, reason="user_request")
        account.employee_id = None
        account.linked_at = None
        await self.session.commit()
        return employee

    async def link_directly(self, who: TelegramProfile, identifier: str, *, method: str) -> Employee:
        """Used by the local console chat (`asnbot chat --as NIP`): a developer on the
        machine itself already has full database access, so no verification is asked."""
        employee = await find_by_identifier(self.session, identifier, active_only=False)
        if employee is None:
            raise CodeNotIssued(f"Tidak ada pegawai dengan NIP/nomor {identifier}.")
        await self._link(who, employee, method=method)
        return employee
