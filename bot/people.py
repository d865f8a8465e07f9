"""People who write to the bot: created on first contact, language remembered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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


# What a returning person's row takes from their latest message (not their id or first contact).
REFRESHED = (
    "first_name",
    "last_name",
    "username",
    "telegram_language",
    "last_seen_at",
    "blocked_at",
)
# People recorded in one statement at most: 8 values each stays under the 999 bound values
# older SQLite builds accept.
BATCH_ROWS = 100


async def touch(sessions: SessionFactory, profile: Profile, now: datetime) -> PersonView:
    """Record the person (insert or refresh) in one statement; returns what we hold."""
    return (await touch_many(sessions, [(profile, now)]))[profile.telegram_id]


async def touch_many(
    sessions: SessionFactory, seen: Sequence[tuple[Profile, datetime]]
) -> dict[int, PersonView]:
    """Record several people (distinct ids) in one statement: what each row now holds."""
    rows = [_row(profile, now) for profile, now in seen]
    async with sessions.begin() as session:
        statement = insert_for(session)(Person).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[Person.telegram_id],
            set_={column: statement.excluded[column] for column in REFRESHED},
        ).returning(
            Person.telegram_id, Person.first_name, Person.chosen_language, Person.telegram_language
        )
        result = await session.execute(statement)
        return {row[0]: PersonView(*row) for row in result}


def _row(profile: Profile, now: datetime) -> dict[str, Any]:
    return {
        "telegram_id": profile.telegram_id,
        "first_name": profile.first_name[:256],
        "last_name": (profile.last_name or None) and profile.last_name[:256],
        "username": profile.username,
        "telegram_language": profile.language_code,
        "created_at": now,
        "last_seen_at": now,
        "blocked_at": None,
    }


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


# People waiting to be written, by id: their latest profile, its time, the messages waiting.
Batch = dict[int, tuple[Profile, datetime, list[asyncio.Future[PersonView]]]]


def _settle(batch: Batch, error: Exception | None) -> None:
    """End the waits of a batch that was not written: with its error, or cancelled."""
    for _, _, futures in batch.values():
        for future in futures:
            if not future.done():
                if error is None:
                    future.cancel()
                else:
                    future.set_exception(error)


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
        # Writes asked for and not yet done, by person: for messages that join them.
        self._writing: dict[int, tuple[Profile, asyncio.Future[PersonView]]] = {}
        # The next statement's people, gathered while the current one runs.
        self._batch: Batch = {}
        self._writer: asyncio.Task[None] | None = None

    async def touch(self, profile: Profile, now: datetime) -> PersonView:
        """Record the person unless we did so within the last minute with the same profile.

        Messages sent in a quick row arrive together: while the first is being recorded,
        the others wait for that write instead of each making its own. Newcomers arriving
        together are recorded together, in one statement per batch (on SQLite, writes
        queue behind one connection, and a burst of newcomers waited seconds for them).
        """
        cached = self._seen.get(profile.telegram_id)
        if cached is not None and cached[0] == profile and now - cached[2] < self.TTL:
            return cached[1]
        writing = self._writing.get(profile.telegram_id)
        if writing is not None and writing[0] == profile:
            return await asyncio.shield(writing[1])
        future = self._ask(profile, now)
        self._writing[profile.telegram_id] = (profile, future)
        try:
            view = await asyncio.shield(future)  # a cancelled reader leaves it to the others
        finally:
            if self._writing.get(profile.telegram_id, (None, None))[1] is future:
                del self._writing[profile.telegram_id]
        if len(self._seen) >= self.MAX_CACHED:
            self._seen.clear()
        self._seen[profile.telegram_id] = (profile, view, now)
        return view

    def _ask(self, profile: Profile, now: datetime) -> asyncio.Future[PersonView]:
        """A write of this profile in the next batch (the latest profile of a person wins)."""
        future: asyncio.Future[PersonView] = asyncio.get_running_loop().create_future()
        # Nobody may be left to read a failure (their handlers were cancelled): mark it read.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        waiting = self._batch.get(profile.telegram_id, (profile, now, []))[2]
        self._batch[profile.telegram_id] = (profile, now, [*waiting, future])
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_batches())
        return future

    async def _write_batches(self) -> None:
        """Write the gathered people, batch after batch, until nobody is waiting."""
        while self._batch:
            ids = list(self._batch)[:BATCH_ROWS]
            batch = {person: self._batch.pop(person) for person in ids}
            try:
                views = await touch_many(
                    self._sessions, [(p, now) for p, now, _ in batch.values()]
                )
            except Exception as exc:  # each waiting message gets the error, to handle as any
                _settle(batch, exc)
                continue
            except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
                _settle(batch, None)
                _settle(self._batch, None)
                self._batch.clear()
                raise
            for person, (_, _, futures) in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(views[person])

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
