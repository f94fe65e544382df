"""Hand-off to a human: questions the bot could not answer go to BKPSDM staff, their reply goes
back to the employee, who can rate it. Unanswerable questions are also counted, without personal
data, so staff know which knowledge-base content to add (`asnbot kb gaps`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import HelpdeskQuestion, KnowledgeGap, utcnow

MAX_QUESTION = 1000
_DIGITS = re.compile(r"\d{4,}")  # NIP, NIK, phone numbers, any long number
_EMAIL = re.compile(r"\S+@\S+")


def scrub(text: str) -> str:
    """Normalised text with long numbers and e-mail addresses masked, for the gap list."""
    text = _EMAIL.sub("<email>", text.lower())
    text = _DIGITS.sub("#", text)
    return " ".join(text.split())[:300]


async def record_gap(session: AsyncSession, normalized: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    key = scrub(normalized)
    if not key:
        return
    bump = update(KnowledgeGap).where(KnowledgeGap.text == key).values(count=KnowledgeGap.count + 1, last_seen=now)
    if (await session.execute(bump)).rowcount == 0:
        try:
            async with session.begin_nested():
                session.add(KnowledgeGap(text=key, count=1, first_seen=now, last_seen=now))
        except IntegrityError:  # another instance inserted the same text a moment ago
            await session.execute(bump)
    await session.commit()


@dataclass(frozen=True)
class Gap:
    text: str
    count: int
    last_seen: datetime


async def top_gaps(session: AsyncSession, limit: int = 30) -> list[Gap]:
    rows = await session.execute(
        select(KnowledgeGap.text, KnowledgeGap.count, KnowledgeGap.last_seen)
        .order_by(KnowledgeGap.count.desc(), KnowledgeGap.last_seen.desc())
        .limit(limit)
    )
    return [Gap(t, c, s) for t, c, s in rows.all()]


async def open_question(
    session: AsyncSession, *, telegram_user_id: int, chat_id: int, employee_id: int | None, question: str
) -> HelpdeskQuestion:
    q = HelpdeskQuestion(
        telegram_user_id=telegram_user_id, chat_id=chat_id, employee_id=employee_id,
        question=question.strip()[:MAX_QUESTION], status="open",
    )
    session.add(q)
    await session.commit()
    return q


async def attach_staff_message(session: AsyncSession, question_id: int, chat_id: int, message_id: int) -> None:
    await session.execute(
        update(HelpdeskQuestion)
        .where(HelpdeskQuestion.id == question_id)
        .values(staff_chat_id=chat_id, staff_message_id=message_id)
    )
    await session.commit()


async def answer(
    session: AsyncSession, *, staff_chat_id: int, staff_message_id: int, text: str, answered_by: str
) -> HelpdeskQuestion | None:
    """Record a staff reply to the helpdesk copy of a question. Later replies overwrite the
    answer (a correction) and are delivered again."""
    q = (
        await session.execute(
            select(HelpdeskQuestion).where(
                HelpdeskQuestion.staff_chat_id == staff_chat_id, HelpdeskQuestion.staff_message_id == staff_message_id
            )
        )
    ).scalar_one_or_none()
    if q is None:
        return None
    q.answer = text.strip()[:3500]
    q.answered_by = answered_by
    q.answered_at = utcnow()
    q.status = "answered"
    await session.commit()
    return q


async def rate(session: AsyncSession, *, question_id: int, telegram_user_id: int, helpful: bool) -> bool:
    """Only the asker may rate, only an answered question, only once."""
    res = await session.execute(
        update(HelpdeskQuestion)
        .where(
            HelpdeskQuestion.id == question_id,
            HelpdeskQuestion.telegram_user_id == telegram_user_id,
            HelpdeskQuestion.status == "answered",
            HelpdeskQuestion.rating.is_(None),
        )
        .values(rating=1 if helpful else 0, rated_at=utcnow())
    )
    await session.commit()
    return res.rowcount == 1
