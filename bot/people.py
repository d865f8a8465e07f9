"""People who write to the bot: created on first contact, language remembered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import SessionFactory
from bot.models import Person


@dataclass(frozen=True)
class Profile:
    """What Telegram tells us about a person on each update."""

    telegram_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class PersonView:
    telegram_id: int
    first_name: str
    chosen_language: str | None
    telegram_language: str | None


async def touch(sessions: SessionFactory, profile: Profile, now: datetime) -> PersonView:
    """Record the person (insert or refresh) in one statement; returns what we hold."""
    values: dict[str, Any] = {
        "telegram_id": profile.telegram_id,
        "first_name": profile.first_name[:256],
        "last_name": (profile.last_name or None) and profile.last_name[:256],
        "username": profile.username,
        "telegram_language": profile.language_code,
        "created_at": now,
        "last_seen_at": now,
        "blocked_at": None,
    }
    refreshed = {k: v for k, v in values.items() if k not in ("telegram_id", "created_at")}
    async with sessions.begin() as session:
        statement = insert_for(session)(Person).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[Person.telegram_id], set_=refreshed
        ).returning(
            Person.telegram_id, Person.first_name, Person.chosen_language, Person.telegram_language
        )
        row = (await session.execute(statement)).one()
        return PersonView(*row)


async def set_language(sessions: SessionFactory, telegram_id: int, language: str) -> None:
    """Remember the language chosen with /lang: it wins over Telegram's setting."""
    async with sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_id == telegram_id)
            .values(chosen_language=language)
        )


async def mark_blocked(sessions: SessionFactory, telegram_id: int, now: datetime) -> None:
    """The person blocked the bot: don't write to them again until they come back."""
    async with sessions.begin() as session:
        await session.execute(
            update(Person).where(Person.telegram_id == telegram_id).values(blocked_at=now)
        )


async def set_announcements(
    sessions: SessionFactory, telegram_id: int, wanted: bool, now: datetime
) -> None:
    """Opt out of announcements (or back in); reminders are not announcements."""
    async with sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_id == telegram_id)
            .values(opted_out_at=None if wanted else now)
        )


async def wants_announcements(sessions: SessionFactory, telegram_id: int) -> bool:
    async with sessions() as session:
        opted_out = await session.scalar(
            select(Person.opted_out_at).where(Person.telegram_id == telegram_id)
        )
        return opted_out is None


def insert_for(session: AsyncSession) -> Any:
    """The one dialect check for upserts: both SQLite and PostgreSQL speak ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class People:
    """The people functions with a short memory, so a chat of ten messages is one write.

    The cache lives one minute: long enough to absorb a conversation or a burst, short
    enough that a change made by another process (e.g. /lang) is seen soon after.
    """

    TTL = timedelta(seconds=60)
    MAX_CACHED = 10_000

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._seen: dict[int, tuple[Profile, PersonView, datetime]] = {}
        self._writing: dict[int, tuple[Profile, asyncio.Future[PersonView]]] = {}

    async def touch(self, profile: Profile, now: datetime) -> PersonView:
        """Record the person unless we did so within the last minute with the same profile.

        Messages sent in a quick row arrive together: while the first is being recorded,
        the others wait for that write instead of each making its own (on SQLite, writes
        queue behind one connection, and a burst of newcomers waited seconds for it).
        """
        cached = self._seen.get(profile.telegram_id)
        if cached is not None and cached[0] == profile and now - cached[2] < self.TTL:
            return cached[1]
        writing = self._writing.get(profile.telegram_id)
        if writing is not None and writing[0] == profile:
            return await asyncio.shield(writing[1])
        task = asyncio.ensure_future(touch(self._sessions, profile, now))
        self._writing[profile.telegram_id] = (profile, task)
        try:
            view = await asyncio.shield(task)  # a cancelled reader leaves it to the others
        finally:
            if self._writing.get(profile.telegram_id, (None, None))[1] is task:
                del self._writing[profile.telegram_id]
        if len(self._seen) >= self.MAX_CACHED:
            self._seen.clear()
        self._seen[profile.telegram_id] = (profile, view, now)
        return view

    async def set_language(self, telegram_id: int, language: str) -> None:
        await set_language(self._sessions, telegram_id, language)
        self._seen.pop(telegram_id, None)

    async def mark_blocked(self, telegram_id: int, now: datetime) -> None:
        await mark_blocked(self._sessions, telegram_id, now)
        self._seen.pop(telegram_id, None)

    def forget(self, telegram_id: int) -> None:
        """Drop the cached profile of a person just erased (/forget), so their next message
        records them anew instead of trusting a row that is gone."""
        self._seen.pop(telegram_id, None)
