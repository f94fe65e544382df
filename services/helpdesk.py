"""Hand-off to a human: questions the bot could not answer go to BKPSDM staff, their reply goes
back to the employee, who can rate it. Unanswerable questions are also counted, without personal
data, so staff know which knowledge-base content to add (`asnbot kb gaps`)."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
    await record_gaps(session, {normalized: 1}, now=now)


async def record_gaps(session: AsyncSession, counts: Mapping[str, int], *, now: datetime | None = None) -> None:
    """Adds each question's count to the gap list and commits (the bot collects a second's worth
    of questions and records them together: bot.app.GapRecorder)."""
    now = now or utcnow()
    merged: Counter[str] = Counter()
    for text, n in counts.items():
        if key := scrub(text):
            merged[key] += n
    if merged:
        # One upsert for the whole batch instead of a statement per text (questions became 5-9 %
        # cheaper in the in-process benchmark). ON CONFLICT also settles two instances adding the
        # same new text at once. A fixed order: two instances never wait on each other's rows.
        rows = [{"text": key, "count": n, "first_seen": now, "last_seen": now} for key, n in sorted(merged.items())]
        await session.execute(_gap_upsert(session.get_bind().dialect.name), rows)
    await session.commit()


def _gap_upsert(dialect: str) -> Insert:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = insert(KnowledgeGap)
    return stmt.on_conflict_do_update(
        index_elements=[KnowledgeGap.text],
        set_={"count": KnowledgeGap.count + stmt.excluded["count"], "last_seen": stmt.excluded.last_seen})


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
