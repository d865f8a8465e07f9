"""A person's conversation with the team, carried through the staff chat.

Each message either way is a row: what the person wrote and the post it became in the
staff chat, or what a staff member replied and to whom. A staff reply is routed by the
post it replies to, so the staff chat needs no command and no id typed by hand; and the
person's side never carries an id either: their follow-up continues their own thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.db import SessionFactory
from bot.models import Handoff, Person, QuestionLog

TO_STAFF, TO_PERSON = "to_staff", "to_person"
RECENT_QUESTION = timedelta(hours=24)  # "talk to a person" refers to a question this recent
MAX_TEXT = 3000  # what one message carries, with room for the header in the staff chat


@dataclass(frozen=True)
class Asked:
    """The question a person's "talk to a person" refers to, with the bot's best guess."""

    text: str
    language: str
    best_entry: str | None
    score: float


@dataclass(frozen=True)
class Thread:
    """Whom a post in the staff chat is about."""

    person_id: int
    chat_id: int
    first_name: str
    language: str | None
    reachable: bool


async def latest_question(sessions: SessionFactory, person_id: int, now: datetime) -> Asked | None:
    """The person's own latest question of the last day, if any."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    QuestionLog.text,
                    QuestionLog.language,
                    QuestionLog.best_entry,
                    QuestionLog.score,
                )
                .where(
                    QuestionLog.person_id == person_id,
                    QuestionLog.asked_at >= now - RECENT_QUESTION,
                )
                .order_by(QuestionLog.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return Asked(row.text, row.language, row.best_entry, float(row.score))


async def record(
    sessions: SessionFactory,
    *,
    person_id: int,
    chat_id: int,
    direction: str,
    text: str,
    staff_chat_id: int,
    staff_message_id: int,
    now: datetime,
    staff_user_id: int | None = None,
) -> None:
    async with sessions.begin() as session:
        session.add(
            Handoff(
                person_id=person_id,
                chat_id=chat_id,
                direction=direction,
                text=text,
                staff_chat_id=staff_chat_id,
                staff_message_id=staff_message_id,
                staff_user_id=staff_user_id,
                created_at=now,
            )
        )


async def thread_of(
    sessions: SessionFactory, staff_chat_id: int, staff_message_id: int
) -> Thread | None:
    """The person a staff-chat message belongs to (a post, or an earlier reply), if any."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(Handoff.person_id, Handoff.chat_id, Person)
                .join(Person, Person.telegram_id == Handoff.person_id)
                .where(
                    Handoff.staff_chat_id == staff_chat_id,
                    Handoff.staff_message_id == staff_message_id,
                )
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    person: Person = row[2]
    return Thread(
        person_id=int(row[0]),
        chat_id=int(row[1]),
        first_name=person.first_name,
        language=person.chosen_language or person.telegram_language,
        reachable=person.blocked_at is None,
    )


async def last_post(sessions: SessionFactory, person_id: int, staff_chat_id: int) -> int | None:
    """The staff-chat message of the person's thread to attach a follow-up to."""
    async with sessions() as session:
        return await session.scalar(
            select(Handoff.staff_message_id)
            .where(Handoff.person_id == person_id, Handoff.staff_chat_id == staff_chat_id)
            .order_by(Handoff.id.desc())
            .limit(1)
        )


async def of_person(sessions: SessionFactory, person_id: int) -> list[Handoff]:
    """Everything exchanged with the team, oldest first (for /mydata)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Handoff).where(Handoff.person_id == person_id).order_by(Handoff.id)
        )
        return list(rows.all())
