"""The question log: every free-text question, for the staff's reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.db import SessionFactory
from bot.models import QuestionLog

MAX_LOGGED_CHARS = 4096


@dataclass(frozen=True)
class LoggedQuestion:
    person_id: int | None
    text: str
    language: str
    best_entry: str | None
    score: float
    answered: bool


async def log_question(sessions: SessionFactory, question: LoggedQuestion, now: datetime) -> int:
    """Store one question and return its id (a hand-off button refers to it)."""
    async with sessions.begin() as session:
        row = QuestionLog(
            person_id=question.person_id,
            text=question.text[:MAX_LOGGED_CHARS],
            language=question.language,
            best_entry=question.best_entry,
            score=round(question.score, 4),
            answered=question.answered,
            asked_at=now,
        )
        session.add(row)
        await session.flush()
        return row.id


async def get_question(sessions: SessionFactory, question_id: int) -> QuestionLog | None:
    async with sessions() as session:
        return await session.get(QuestionLog, question_id)
