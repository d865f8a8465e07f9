"""Keeping personal information no longer than needed: the daily sweep.

- Logged questions older than QUESTION_LOG_RETENTION_DAYS are deleted, text and all
  (👍/👎 votes stay, unlinked, for the satisfaction figures).
- Registrations of sessions that started more than REGISTRATION_RETENTION_DAYS ago are
  anonymised: no person, no name, no email; the organisation and the status stay, so the
  team can still count who came.
- Messages the outbox finished with (sent, failed, cancelled, expired) are deleted after
  the same period.
- Conversations idle past their timeout (bot.dialogues) are deleted: they may hold a
  half-typed registration.

Every statement is a set-based UPDATE or DELETE whose WHERE excludes rows already swept,
so running it again changes nothing. Several processes may run it at the same moment: on
PostgreSQL a transaction-scoped advisory lock lets one of them sweep and the others skip;
SQLite has a single writer, so the second simply finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Executable, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import SessionFactory
from bot.dialogues import IDLE
from bot.models import Dialogue, InfoSession, OutboxMessage, QuestionLog, Registration
from bot.outbox import PENDING, SENDING

LOCK_KEY = 0x44415441  # "DATA": the advisory lock of the sweep on PostgreSQL
INTERVAL = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    """How long each kind of personal information is kept."""

    questions: timedelta
    registrations: timedelta
    conversations: timedelta = IDLE

    @classmethod
    def of(cls, question_days: int, registration_days: int) -> Policy:
        return cls(timedelta(days=question_days), timedelta(days=registration_days))


@dataclass(frozen=True)
class Swept:
    """How many rows one sweep changed; `skipped` when another process held the lock."""

    questions: int = 0
    registrations: int = 0
    messages: int = 0
    conversations: int = 0
    skipped: bool = False


async def sweep(sessions: SessionFactory, now: datetime, policy: Policy) -> Swept:
    """Apply the policy once, in one transaction."""
    async with sessions.begin() as session:
        if not await _lock(session):
            return Swept(skipped=True)
        return Swept(
            questions=await _count(
                session,
                delete(QuestionLog).where(QuestionLog.asked_at < now - policy.questions),
            ),
            registrations=await _anonymise_registrations(session, now - policy.registrations),
            messages=await _count(
                session,
                delete(OutboxMessage).where(
                    OutboxMessage.status.not_in((PENDING, SENDING)),
                    OutboxMessage.created_at < now - policy.registrations,
                ),
            ),
            conversations=await _count(
                session,
                delete(Dialogue).where(Dialogue.updated_at < now - policy.conversations),
            ),
        )


async def _lock(session: AsyncSession) -> bool:
    """True when this transaction may sweep (always on SQLite: one writer at a time)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


async def _anonymise_registrations(session: AsyncSession, before: datetime) -> int:
    long_past = select(InfoSession.id).where(InfoSession.starts_at < before)
    return await _count(
        session,
        update(Registration)
        .where(
            Registration.session_id.in_(long_past),
            or_(
                Registration.person_id.is_not(None),
                Registration.name != "",
                Registration.email.is_not(None),
            ),
        )
        .values(person_id=None, name="", email=None),
    )


async def _count(session: AsyncSession, statement: Executable) -> int:
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
