"""Information sessions: listing, creating, declaring from YAML, cancelling. No Telegram here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db import SessionFactory
from bot.models import InfoSession, Registration
from bot.outbox import OutboxItem

CONFIRMED, WAITLISTED, CANCELLED = "confirmed", "waitlisted", "cancelled"


@dataclass(frozen=True)
class NewSession:
    """A session as staff describe it (validated by `bot.session_input`)."""

    starts_at: datetime  # aware, UTC
    duration_minutes: int
    capacity: int
    language: str
    title: str
    link: str | None = None
    key: str | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class RegistrationView:
    """A registration as its person sees it; `position` is 1 for the head of the waitlist."""

    id: int
    session_id: int
    person_id: int
    name: str
    organisation: str
    email: str | None
    language: str
    status: str
    position: int | None = None


def registration_view(row: Registration, position: int | None = None) -> RegistrationView:
    return RegistrationView(
        id=row.id,
        session_id=row.session_id,
        person_id=row.person_id or 0,  # 0: anonymised (bot.retention), never notified
        name=row.name,
        organisation=row.organisation,
        email=row.email,
        language=row.language,
        status=row.status,
        position=position,
    )


@dataclass(frozen=True)
class SessionView:
    """A session with its seat counts, as people and staff see it."""

    id: int
    key: str | None
    title: str
    language: str
    starts_at: datetime
    duration_minutes: int
    capacity: int
    link: str | None
    cancelled: bool
    confirmed: int
    waitlisted: int

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.confirmed)

    @property
    def full(self) -> bool:
        return self.seats_left == 0

    def is_open(self, now: datetime) -> bool:
        """Shown and open to registration: not cancelled and not started yet."""
        return not self.cancelled and self.starts_at > now


def _counted() -> tuple[ScalarSelect[int], ScalarSelect[int]]:
    """Confirmed and waitlisted counts of the session in the enclosing query."""
    return _count_of(CONFIRMED), _count_of(WAITLISTED)


def _count_of(status: str) -> ScalarSelect[int]:
    return (
        select(func.count())
        .where(Registration.session_id == InfoSession.id, Registration.status == status)
        .correlate(InfoSession)
        .scalar_subquery()
    )


def _view(row: InfoSession, confirmed: int, waitlisted: int) -> SessionView:
    return SessionView(
        id=row.id,
        key=row.key,
        title=row.title,
        language=row.language,
        starts_at=row.starts_at,
        duration_minutes=row.duration_minutes,
        capacity=row.capacity,
        link=row.link,
        cancelled=row.cancelled_at is not None,
        confirmed=int(confirmed),
        waitlisted=int(waitlisted),
    )


async def upcoming(sessions: SessionFactory, now: datetime, limit: int = 20) -> list[SessionView]:
    """Sessions not cancelled and not started, soonest first."""
    confirmed, waitlisted = _counted()
    async with sessions() as session:
        rows = await session.execute(
            select(InfoSession, confirmed, waitlisted)
            .where(InfoSession.cancelled_at.is_(None), InfoSession.starts_at > now)
            .order_by(InfoSession.starts_at, InfoSession.id)
            .limit(limit)
        )
        return [_view(row, c, w) for row, c, w in rows.all()]


async def get(sessions: SessionFactory, session_id: int) -> SessionView | None:
    async with sessions() as session:
        return await view_in(session, session_id)


async def view_in(session: AsyncSession, session_id: int) -> SessionView | None:
    """The session with its counts, inside the caller's transaction."""
    confirmed, waitlisted = _counted()
    row = (
        await session.execute(
            select(InfoSession, confirmed, waitlisted).where(InfoSession.id == session_id)
        )
    ).first()
    return None if row is None else _view(row[0], row[1], row[2])


async def create(
    sessions: SessionFactory, new: NewSession, created_by: int | None, now: datetime
) -> SessionView:
    async with sessions.begin() as session:
        row = _row(new, created_by, now)
        session.add(row)
        await session.flush()
        return _view(row, 0, 0)


def _row(new: NewSession, created_by: int | None, now: datetime) -> InfoSession:
    return InfoSession(
        key=new.key,
        title=new.title,
        language=new.language,
        starts_at=new.starts_at,
        duration_minutes=new.duration_minutes,
        capacity=new.capacity,
        link=new.link,
        cancelled_at=now if new.cancelled else None,
        created_by=created_by,
        created_at=now,
    )


async def upsert_declared(
    sessions: SessionFactory, declared: Sequence[NewSession], now: datetime
) -> int:
    """Create or update the sessions of knowledge/sessions.yaml by their id (key).

    Updating keeps registrations; a declared cancellation is applied like a staff one
    except that nobody is notified here (use /cancelsession to tell people).
    """
    changed = 0
    async with sessions.begin() as session:
        for new in declared:
            row = await session.scalar(select(InfoSession).where(InfoSession.key == new.key))
            if row is None:
                session.add(_row(new, None, now))
                changed += 1
                continue
            values = {
                "title": new.title,
                "language": new.language,
                "starts_at": new.starts_at,
                "duration_minutes": new.duration_minutes,
                "capacity": new.capacity,
                "link": new.link,
            }
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
                    changed += 1
            if new.cancelled and row.cancelled_at is None:
                row.cancelled_at = now
                changed += 1
    return changed


async def cancel(
    sessions: SessionFactory,
    session_id: int,
    now: datetime,
    notice: Callable[[SessionView, RegistrationView, datetime], OutboxItem],
) -> tuple[SessionView, int] | None:
    """Cancel a session, withdraw its reminders and queue a notice to each person on it.

    Returns the session and the number of people told, or None when it was already
    cancelled or is unknown (a stale button).
    """
    async with sessions.begin() as session:
        row = await session.get(InfoSession, session_id, with_for_update=True)
        if row is None or row.cancelled_at is not None:
            return None
        row.cancelled_at = now
        view = await view_in(session, session_id)
        assert view is not None
        people = list(
            (
                await session.execute(
                    select(Registration).where(
                        Registration.session_id == session_id,
                        Registration.status != CANCELLED,
                    )
                )
            ).scalars()
        )
        for registration in people:
            registration.status = CANCELLED
            registration.cancelled_at = now
        await outbox.cancel_pending(session, session_id=session_id)
        outbox.add(session, [notice(view, registration_view(r), now) for r in people], now)
        return view, len(people)
