"""👍 / 👎 under answers: recorded against the presser's own latest question on that topic.

The buttons carry only the entry id, never a question id: a forged button can at most
rate one's own question, never someone else's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bot.db import SessionFactory
from bot.models import Feedback, QuestionLog

COMMENT_LENGTH = 1000
LOOKBACK = timedelta(days=7)  # a vote on an answer older than this rates no question


async def record(
    sessions: SessionFactory, person_id: int, entry_id: str, helpful: bool, now: datetime
) -> int:
    """Store the vote (a second press on the same answer changes it); returns its id."""
    async with sessions.begin() as session:
        question_id = await session.scalar(
            select(QuestionLog.id)
            .where(
                QuestionLog.person_id == person_id,
                QuestionLog.best_entry == entry_id,
                QuestionLog.asked_at >= now - LOOKBACK,
            )
            .order_by(QuestionLog.id.desc())
            .limit(1)
        )
        existing = None
        if question_id is not None:
            existing = await session.scalar(
                select(Feedback).where(
                    Feedback.person_id == person_id, Feedback.question_id == question_id
                )
            )
        if existing is not None:
            existing.helpful = helpful
            existing.created_at = now
            return existing.id
        row = Feedback(
            person_id=person_id,
            question_id=question_id,
            entry_id=entry_id,
            helpful=helpful,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return row.id


async def add_comment(
    sessions: SessionFactory, feedback_id: int, person_id: int, comment: str
) -> bool:
    """What was missing, on one's own 👎 only."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(Feedback)
            .where(Feedback.id == feedback_id, Feedback.person_id == person_id)
            .values(comment=comment[:COMMENT_LENGTH])
        )
        return bool(getattr(result, "rowcount", 0))


async def satisfaction(sessions: SessionFactory, since: datetime) -> tuple[int, int]:
    """(👍, 👎) since a moment, for /stats."""
    async with sessions() as session:
        rows = await session.execute(
            select(Feedback.helpful, func.count())
            .where(Feedback.created_at >= since)
            .group_by(Feedback.helpful)
        )
        counts = {bool(helpful): int(count) for helpful, count in rows.all()}
    return counts.get(True, 0), counts.get(False, 0)
