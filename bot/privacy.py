"""What the bot holds about one person (/mydata), and erasing it (/forget).

Personal information lives in: people (the profile), registrations, question_log and
feedback (by person_id), handoffs (messages with the team), outbox (chat_id is the
person's id: reminders, notices, announcements) and dialogues (a conversation in
progress). `collect` reads all of it; `forget` erases it: registrations are cancelled
through bot.registrations first, so seats are freed, the waitlist is promoted and pending
reminders withdrawn; logged questions and feedback stay only as anonymous rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import registrations
from bot.db import SessionFactory
from bot.models import (
    Dialogue,
    Feedback,
    Handoff,
    InfoSession,
    OutboxMessage,
    Person,
    QuestionLog,
    Registration,
)
from bot.registrations import Notices

Row = dict[str, Any]


@dataclass(frozen=True)
class PersonalData:
    """Everything held about one person, as plain values (dates in UTC)."""

    person_id: int
    profile: Row | None = None
    registrations: list[Row] = field(default_factory=list)
    questions: list[Row] = field(default_factory=list)
    feedback: list[Row] = field(default_factory=list)
    handoffs: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)  # outbox rows addressed to them
    conversations: list[Row] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.profile,
                self.registrations,
                self.questions,
                self.feedback,
                self.handoffs,
                self.messages,
                self.conversations,
            )
        )

    def to_json(self) -> bytes:
        """The file /mydata sends: readable JSON, UTF-8, dates in ISO 8601."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, default=_iso).encode()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} in JSON")


async def collect(sessions: SessionFactory, person_id: int) -> PersonalData:
    """Read everything the bot holds about `person_id`, and nothing about anyone else."""
    async with sessions() as session:
        person = await session.get(Person, person_id)
        return PersonalData(
            person_id=person_id,
            profile=_profile(person) if person is not None else None,
            registrations=await _registrations(session, person_id),
            questions=await _rows(
                session,
                select(
                    QuestionLog.asked_at,
                    QuestionLog.text,
                    QuestionLog.language,
                    QuestionLog.best_entry,
                    QuestionLog.answered,
                )
                .where(QuestionLog.person_id == person_id)
                .order_by(QuestionLog.id),
            ),
            feedback=await _rows(
                session,
                select(Feedback.created_at, Feedback.entry_id, Feedback.helpful, Feedback.comment)
                .where(Feedback.person_id == person_id)
                .order_by(Feedback.id),
            ),
            handoffs=await _rows(
                session,
                select(Handoff.created_at, Handoff.direction, Handoff.text)
                .where(Handoff.person_id == person_id)
                .order_by(Handoff.id),
            ),
            messages=await _rows(
                session,
                select(
                    OutboxMessage.created_at,
                    OutboxMessage.kind,
                    OutboxMessage.status,
                    OutboxMessage.due_at,
                    OutboxMessage.sent_at,
                    OutboxMessage.text,
                )
                .where(OutboxMessage.chat_id == person_id)
                .order_by(OutboxMessage.id),
            ),
            conversations=await _rows(
                session,
                select(Dialogue.flow, Dialogue.step, Dialogue.data, Dialogue.updated_at).where(
                    Dialogue.user_id == person_id
                ),
            ),
        )


def _profile(person: Person) -> Row:
    return {
        "telegram_id": person.telegram_id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "username": person.username,
        "telegram_language": person.telegram_language,
        "chosen_language": person.chosen_language,
        "first_contact": person.created_at,
        "last_seen": person.last_seen_at,
        "blocked_the_bot_at": person.blocked_at,
        "announcements_stopped_at": person.opted_out_at,
    }


async def _registrations(session: AsyncSession, person_id: int) -> list[Row]:
    result = await session.execute(
        select(
            InfoSession.starts_at.label("session_starts_at"),
            InfoSession.title.label("session_title"),
            Registration.name,
            Registration.organisation,
            Registration.email,
            Registration.language,
            Registration.status,
            Registration.created_at,
            Registration.cancelled_at,
        )
        .join(InfoSession, InfoSession.id == Registration.session_id)
        .where(Registration.person_id == person_id)
        .order_by(InfoSession.starts_at, Registration.id)
    )
    return [dict(row._mapping) for row in result]


async def _rows(session: AsyncSession, query: Any) -> list[Row]:
    return [dict(row._mapping) for row in await session.execute(query)]


@dataclass(frozen=True)
class Forgotten:
    """What /forget did: how many registrations it cancelled, and whom it promoted."""

    cancelled: int
    promoted: tuple[int, ...]  # person ids moved from the waitlist into a freed seat


async def forget(
    sessions: SessionFactory, person_id: int, now: datetime, notices: Notices
) -> Forgotten:
    """Erase the person: cancel their live registrations (promoting the waitlist), then
    delete or detach every row about them in one transaction. Safe to run twice."""
    cancelled, promoted = 0, []
    while mine := await registrations.of_person(sessions, person_id, now):
        for _view, registration in mine:  # one transaction each, as a Cancel button does
            done = await registrations.cancel(sessions, registration.id, person_id, now, notices)
            if done is not None:
                cancelled += 1
                if done.promoted is not None:
                    promoted.append(done.promoted.person_id)
    async with sessions.begin() as session:
        await _erase(session, person_id)
    return Forgotten(cancelled, tuple(promoted))


async def _erase(session: AsyncSession, person_id: int) -> None:
    await session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == person_id))
    await session.execute(delete(Registration).where(Registration.person_id == person_id))
    await session.execute(delete(Handoff).where(Handoff.person_id == person_id))
    await session.execute(delete(Dialogue).where(Dialogue.user_id == person_id))
    # Kept for statistics, no longer linked to anyone.
    for table in (QuestionLog, Feedback):
        await session.execute(
            update(table).where(table.person_id == person_id).values(person_id=None)
        )
    # A staff member's own traces in team records.
    await session.execute(
        update(InfoSession).where(InfoSession.created_by == person_id).values(created_by=None)
    )
    await session.execute(
        update(Handoff).where(Handoff.staff_user_id == person_id).values(staff_user_id=None)
    )
    await session.execute(delete(Person).where(Person.telegram_id == person_id))


async def chosen_language(sessions: SessionFactory, person_id: int) -> str | None:
    """The language the person chose with /lang, read without recording them: the privacy
    commands must not create the very profile /forget erased."""
    async with sessions() as session:
        return await session.scalar(
            select(Person.chosen_language).where(Person.telegram_id == person_id)
        )
