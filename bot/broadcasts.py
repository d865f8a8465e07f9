"""Announcements from staff to an audience, delivered through the outbox at Telegram's pace.

A broadcast is one `broadcasts` row and one outbox row per recipient, written in one
transaction when staff confirm. From then on it is the outbox's: paced with everything else
the process sends, resumed after a restart, sent once even with several processes. Its
progress is read back from its outbox rows, so any process can report it and the counts
cannot drift from what was really sent.

Who receives it is decided at that moment:
- "everyone" and "by language": people who wrote to the bot, minus those who opted out of
  announcements (/stop) and those who blocked the bot;
- a session's registrants (and optionally its waitlist): minus those who blocked the bot,
  but including those who opted out of announcements, because a message about the session
  they registered for is like its reminders, which /stop does not stop either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from bot import outbox
from bot.clock import Clock
from bot.db import SessionFactory
from bot.infosessions import CONFIRMED, WAITLISTED
from bot.language import ui_language
from bot.models import Broadcast, OutboxMessage, Person, Registration
from bot.outbox import OutboxItem

log = logging.getLogger(__name__)
SENDING, STOPPED, DONE = "sending", "stopped", "done"
KIND = "broadcast"
MAX_TEXT = 3500  # Telegram's 4096 minus room for the header and footer in either language


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to; `key` is how it is stored and carried by buttons."""

    kind: str  # all | lang | session
    language: str | None = None
    session_id: int | None = None
    waitlist: bool = False

    @property
    def key(self) -> str:
        if self.kind == "lang":
            return f"lang-{self.language}"
        if self.kind == "session":
            return f"session-{self.session_id}" + ("-waitlist" if self.waitlist else "")
        return "all"

    @property
    def about_a_session(self) -> bool:
        return self.kind == "session"

    @classmethod
    def parse(cls, key: str) -> Audience | None:
        """The audience a stored or pressed key names, or None if it names none."""
        if key == "all":
            return cls("all")
        if key in ("lang-fr", "lang-en"):
            return cls("lang", language=key[-2:])
        parts = key.split("-")
        if parts[0] == "session" and len(parts) in (2, 3) and parts[1].isdigit():
            if len(parts) == 3 and parts[2] != "waitlist":
                return None
            return cls("session", session_id=int(parts[1]), waitlist=len(parts) == 3)
        return None


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    language: str


@dataclass(frozen=True)
class Progress:
    """Where a broadcast stands, counted from its outbox rows."""

    id: int
    audience: str
    status: str
    recipients: int
    sent: int
    failed: int
    unreachable: int
    cancelled: int
    created_at: datetime
    created_by: int
    language: str
    progress_chat_id: int | None
    progress_message_id: int | None

    @property
    def remaining(self) -> int:
        return self.recipients - self.sent - self.failed - self.unreachable - self.cancelled

    @property
    def finished(self) -> bool:
        return self.remaining <= 0


async def recipients(sessions: SessionFactory, audience: Audience) -> list[Recipient]:
    """Who would receive a broadcast to `audience` now, each in their language."""
    async with sessions() as session:
        if audience.kind == "session":
            statuses = (CONFIRMED, WAITLISTED) if audience.waitlist else (CONFIRMED,)
            rows = await session.execute(
                select(Registration.person_id, func.min(Registration.language))
                .join(Person, Person.telegram_id == Registration.person_id)
                .where(
                    Registration.session_id == audience.session_id,
                    Registration.status.in_(statuses),
                    Person.blocked_at.is_(None),
                )
                .group_by(Registration.person_id)
                .order_by(Registration.person_id)
            )
            # The join drops anonymised registrations (no person any more).
            return [
                Recipient(int(person), str(language))
                for person, language in rows
                if person is not None
            ]
        people = await session.execute(
            select(Person.telegram_id, Person.chosen_language, Person.telegram_language)
            .where(Person.blocked_at.is_(None), Person.opted_out_at.is_(None))
            .order_by(Person.telegram_id)
        )
        everyone = [
            Recipient(int(person), ui_language(chosen, spoken))
            for person, chosen, spoken in people
        ]
    if audience.kind == "lang":
        return [r for r in everyone if r.language == audience.language]
    return everyone


async def create(
    sessions: SessionFactory,
    *,
    created_by: int,
    language: str,
    audience: Audience,
    text: str,
    wrapped: Mapping[str, str],
    now: datetime,
) -> tuple[int, int]:
    """Record the broadcast and queue one message per recipient, in one transaction.

    `text` is what staff wrote (kept for /broadcasts and exports); `wrapped` is the message
    each language receives. Returns (broadcast id, number of recipients).
    """
    people = await recipients(sessions, audience)
    async with sessions.begin() as session:
        row = Broadcast(
            created_by=created_by,
            language=language,
            audience=audience.key,
            text=text,
            recipients=len(people),
            status=SENDING if people else DONE,
            created_at=now,
            finished_at=None if people else now,
        )
        session.add(row)
        await session.flush()
        items = [
            OutboxItem(
                chat_id=person.chat_id,
                kind=KIND,
                text=wrapped[person.language],
                due_at=now,
                broadcast_id=row.id,
            )
            for person in people
        ]
        await outbox.add_many(session, items, now)
        return row.id, len(people)


async def set_progress_message(
    sessions: SessionFactory, broadcast_id: int, chat_id: int, message_id: int
) -> None:
    """Remember the staff member's progress message, to edit it as the broadcast goes."""
    async with sessions.begin() as session:
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(progress_chat_id=chat_id, progress_message_id=message_id)
        )


async def progress(sessions: SessionFactory, broadcast_id: int) -> Progress | None:
    found = await _progress(sessions, [broadcast_id])
    return found[0] if found else None


async def recent(sessions: SessionFactory, limit: int = 10) -> list[Progress]:
    """The latest broadcasts, newest first, with their counts."""
    async with sessions() as session:
        ids = list(
            await session.scalars(select(Broadcast.id).order_by(Broadcast.id.desc()).limit(limit))
        )
    return await _progress(sessions, ids)


async def sending(sessions: SessionFactory) -> list[Progress]:
    """Broadcasts not yet finished (their summary not yet sent)."""
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Broadcast.id).where(Broadcast.status == SENDING).order_by(Broadcast.id)
            )
        )
    return await _progress(sessions, ids)


async def stop(sessions: SessionFactory, broadcast_id: int, now: datetime) -> Progress | None:
    """Withdraw what has not gone out yet; messages already on their way finish. None when
    the broadcast does not exist; a finished one is left as it is."""
    async with sessions.begin() as session:
        row = await session.get(Broadcast, broadcast_id, with_for_update=True)
        if row is None:
            return None
        if row.status == SENDING:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.broadcast_id == broadcast_id,
                    OutboxMessage.status == outbox.PENDING,
                )
                .values(status=outbox.CANCELLED)
            )
            row.status = STOPPED
            row.finished_at = now
    return await progress(sessions, broadcast_id)


async def finish(sessions: SessionFactory, broadcast_id: int, now: datetime) -> bool:
    """Mark a broadcast done; True for the one caller (of any process) that did it, who
    then sends the summary."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == SENDING)
            .values(status=DONE, finished_at=now)
        )
        return bool(getattr(result, "rowcount", 0))


async def withdraw_for(sessions: SessionFactory, chat_id: int) -> int:
    """Someone opted out: announcements queued for them and not yet sent are withdrawn."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.kind == KIND,
                OutboxMessage.status == outbox.PENDING,
                OutboxMessage.broadcast_id.in_(
                    select(Broadcast.id).where(~Broadcast.audience.startswith("session-"))
                ),
            )
            .values(status=outbox.CANCELLED)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def _progress(sessions: SessionFactory, ids: Sequence[int]) -> list[Progress]:
    if not ids:
        return []
    async with sessions() as session:
        rows = {
            row.id: row
            for row in await session.scalars(select(Broadcast).where(Broadcast.id.in_(ids)))
        }
        counted = await session.execute(
            select(OutboxMessage.broadcast_id, OutboxMessage.status, func.count())
            .where(OutboxMessage.broadcast_id.in_(ids))
            .group_by(OutboxMessage.broadcast_id, OutboxMessage.status)
        )
        counts: dict[int, dict[str, int]] = {}
        for broadcast_id, status, count in counted:
            counts.setdefault(int(broadcast_id or 0), {})[status] = int(count)
    found = []
    for broadcast_id in ids:
        row = rows.get(broadcast_id)
        if row is None:
            continue
        by_status = counts.get(broadcast_id, {})
        found.append(
            Progress(
                id=row.id,
                audience=row.audience,
                status=row.status,
                recipients=row.recipients,
                sent=by_status.get(outbox.SENT, 0),
                failed=by_status.get(outbox.FAILED, 0) + by_status.get(outbox.EXPIRED, 0),
                unreachable=by_status.get(outbox.UNREACHABLE, 0),
                cancelled=by_status.get(outbox.CANCELLED, 0),
                created_at=row.created_at,
                created_by=row.created_by,
                language=row.language,
                progress_chat_id=row.progress_chat_id,
                progress_message_id=row.progress_message_id,
            )
        )
    return found


Report = Callable[[Progress], Awaitable[None]]


class BroadcastWatcher:
    """Keeps each staff member's progress message current and sends each summary once.

    It looks every `interval` seconds, so the summary follows the last message closely, but
    edits a progress message at most every `edit_every` seconds: each edit is a message
    taken from the budget the broadcast itself is sent with.

    Runs in every process: the counts come from the database, and `finish` lets exactly one
    process send a broadcast's summary. A restart loses nothing: a broadcast still
    `sending` is picked up again on the next tick.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        report: Report,
        summarise: Report,
        *,
        interval: float = 0.5,
        edit_every: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._report = report
        self._summarise = summarise
        self.interval = interval
        self.edit_every = edit_every
        self._shown: dict[int, tuple[tuple[int, ...], float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """Edit the progress messages whose counts changed; summarise finished broadcasts."""
        for item in await sending(self._sessions):
            if item.finished:
                if await finish(self._sessions, item.id, self._clock.now()):
                    final = await progress(self._sessions, item.id)
                    if final is not None:
                        await self._summarise(final)
                self._shown.pop(item.id, None)
                continue
            counts = (item.sent, item.failed, item.unreachable, item.cancelled)
            shown, at = self._shown.get(item.id, ((), -self.edit_every))
            if shown != counts and time.monotonic() - at >= self.edit_every:
                await self._report(item)
                self._shown[item.id] = (counts, time.monotonic())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="broadcast-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a database or Telegram error: report again next time
                log.exception("Broadcast progress could not be updated; trying again")
            await asyncio.sleep(self.interval)
