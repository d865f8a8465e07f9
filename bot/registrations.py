"""Registering, cancelling and the waitlist, each in one transaction with its messages.

Seats are counted under a lock on the session row (`SELECT … FOR UPDATE` on PostgreSQL;
SQLite has a single writer), so fifty people racing for the last three seats get exactly
three. A unique partial index refuses a second live registration for the same person and
session, whatever the timing. Reminders and promotion notices are queued in the outbox in
the same transaction as the change that causes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db import SessionFactory
from bot.infosessions import (
    CANCELLED,
    CONFIRMED,
    WAITLISTED,
    RegistrationView,
    SessionView,
    registration_view,
    view_in,
)
from bot.models import InfoSession, Registration
from bot.outbox import OutboxItem

NAME_LENGTH, ORGANISATION_LENGTH, EMAIL_LENGTH = 100, 200, 254


class Notices(Protocol):
    """How the messages a registration change causes are worded (see bot.session_text)."""

    def reminders(
        self, view: SessionView, registration: RegistrationView, now: datetime
    ) -> list[OutboxItem]: ...

    def promoted(
        self, view: SessionView, registration: RegistrationView, now: datetime
    ) -> OutboxItem: ...


@dataclass(frozen=True)
class Details:
    """What a person gives when registering."""

    name: str
    organisation: str
    email: str | None
    language: str


@dataclass(frozen=True)
class Registered:
    """The result of a registration attempt.

    `status` is confirmed, waitlisted, duplicate (already registered: `registration` is the
    existing one), unavailable (cancelled, started or unknown session) or limit (too many
    upcoming registrations).
    """

    status: str
    session: SessionView | None = None
    registration: RegistrationView | None = None


@dataclass(frozen=True)
class Cancelled:
    session: SessionView
    registration: RegistrationView
    promoted: RegistrationView | None


async def register(
    sessions: SessionFactory,
    session_id: int,
    person_id: int,
    details: Details,
    now: datetime,
    notices: Notices,
    *,
    limit: int | None = None,
) -> Registered:
    """Take a seat, or a waitlist place when the session is full."""
    try:
        async with sessions.begin() as session:
            return await _register(session, session_id, person_id, details, now, notices, limit)
    except IntegrityError:  # a concurrent press of the same button won the race
        async with sessions() as session:
            existing = await _live(session, session_id, person_id)
            view = await view_in(session, session_id)
        return Registered("duplicate", view, existing)


async def _register(
    session: AsyncSession,
    session_id: int,
    person_id: int,
    details: Details,
    now: datetime,
    notices: Notices,
    limit: int | None,
) -> Registered:
    row = await session.get(InfoSession, session_id, with_for_update=True)
    if row is None or row.cancelled_at is not None or row.starts_at <= now:
        return Registered("unavailable")
    existing = await _live(session, session_id, person_id)
    if existing is not None:
        return Registered("duplicate", await view_in(session, session_id), existing)
    if limit and await _upcoming_count(session, person_id, now) >= limit:
        return Registered("limit", await view_in(session, session_id))
    taken = await session.scalar(
        select(func.count()).where(
            Registration.session_id == session_id, Registration.status == CONFIRMED
        )
    )
    status = CONFIRMED if int(taken or 0) < row.capacity else WAITLISTED
    registration = Registration(
        session_id=session_id,
        person_id=person_id,
        name=details.name[:NAME_LENGTH],
        organisation=details.organisation[:ORGANISATION_LENGTH],
        email=details.email[:EMAIL_LENGTH] if details.email else None,
        language=details.language,
        status=status,
        created_at=now,
    )
    session.add(registration)
    await session.flush()
    view = await view_in(session, session_id)
    assert view is not None
    result = await _viewed(session, registration)
    if status == CONFIRMED:
        outbox.add(session, notices.reminders(view, result, now), now)
    return Registered(status, view, result)


async def cancel(
    sessions: SessionFactory, registration_id: int, person_id: int, now: datetime, notices: Notices
) -> Cancelled | None:
    """Cancel one's own registration; the head of the waitlist takes the freed seat.

    Acts only on a registration of `person_id`: a forged button naming someone else's
    registration finds nothing and changes nothing.
    """
    async with sessions.begin() as session:
        found = await session.scalar(
            select(Registration.session_id).where(
                Registration.id == registration_id,
                Registration.person_id == person_id,
                Registration.status != CANCELLED,
            )
        )
        if found is None:
            return None
        info = await session.get(InfoSession, found, with_for_update=True)
        registration = await session.get(Registration, registration_id, populate_existing=True)
        if info is None or registration is None or registration.status == CANCELLED:
            return None
        was_confirmed = registration.status == CONFIRMED
        registration.status = CANCELLED
        registration.cancelled_at = now
        await outbox.cancel_pending(session, registration_id=registration_id)
        promoted = None
        if was_confirmed and info.cancelled_at is None and info.starts_at > now:
            promoted = await _promote(session, info, now, notices)
        view = await view_in(session, info.id)
        assert view is not None
        return Cancelled(view, registration_view(registration), promoted)


async def _promote(
    session: AsyncSession, info: InfoSession, now: datetime, notices: Notices
) -> RegistrationView | None:
    await session.flush()
    taken = await session.scalar(
        select(func.count()).where(
            Registration.session_id == info.id, Registration.status == CONFIRMED
        )
    )
    if int(taken or 0) >= info.capacity:
        return None
    first = await session.scalar(
        select(Registration)
        .where(Registration.session_id == info.id, Registration.status == WAITLISTED)
        .order_by(Registration.id)
        .limit(1)
    )
    if first is None:
        return None
    first.status = CONFIRMED
    first.promoted_at = now
    await session.flush()
    view = await view_in(session, info.id)
    assert view is not None
    promoted = registration_view(first)
    outbox.add(
        session,
        [notices.promoted(view, promoted, now), *notices.reminders(view, promoted, now)],
        now,
    )
    return promoted


async def of_person(
    sessions: SessionFactory, person_id: int, now: datetime
) -> list[tuple[SessionView, RegistrationView]]:
    """A person's live registrations for sessions still to come, soonest first."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Registration)
                .join(InfoSession, InfoSession.id == Registration.session_id)
                .where(*_live_upcoming(person_id, now))
                .order_by(InfoSession.starts_at, Registration.id)
            )
        ).scalars()
        result = []
        for row in rows:
            view = await view_in(session, row.session_id)
            assert view is not None
            result.append((view, await _viewed(session, row)))
        return result


async def find(
    sessions: SessionFactory, registration_id: int, person_id: int
) -> tuple[SessionView, RegistrationView] | None:
    """One of the person's own live registrations, or None (unknown, cancelled, not theirs)."""
    async with sessions() as session:
        row = await session.scalar(
            select(Registration).where(
                Registration.id == registration_id,
                Registration.person_id == person_id,
                Registration.status != CANCELLED,
            )
        )
        if row is None:
            return None
        view = await view_in(session, row.session_id)
        assert view is not None
        return view, await _viewed(session, row)


async def live(
    sessions: SessionFactory, session_id: int, person_id: int
) -> RegistrationView | None:
    """The person's live registration for a session, if any."""
    async with sessions() as session:
        return await _live(session, session_id, person_id)


async def _live(session: AsyncSession, session_id: int, person_id: int) -> RegistrationView | None:
    row = await session.scalar(
        select(Registration).where(
            Registration.session_id == session_id,
            Registration.person_id == person_id,
            Registration.status != CANCELLED,
        )
    )
    return None if row is None else await _viewed(session, row)


async def _viewed(session: AsyncSession, row: Registration) -> RegistrationView:
    """The registration as its person sees it, with the waitlist position if waiting."""
    position = await _position(session, row) if row.status == WAITLISTED else None
    return registration_view(row, position)


async def _position(session: AsyncSession, row: Registration) -> int:
    ahead = await session.scalar(
        select(func.count()).where(
            Registration.session_id == row.session_id,
            Registration.status == WAITLISTED,
            Registration.id <= row.id,
        )
    )
    return int(ahead or 0)


async def _upcoming_count(session: AsyncSession, person_id: int, now: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Registration)
        .join(InfoSession, InfoSession.id == Registration.session_id)
        .where(*_live_upcoming(person_id, now))
    )
    return int(count or 0)


def _live_upcoming(person_id: int, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """A person's registrations that still count: not cancelled, for a session still to
    come and not cancelled (the query joins InfoSession)."""
    return (
        Registration.person_id == person_id,
        Registration.status != CANCELLED,
        InfoSession.cancelled_at.is_(None),
        InfoSession.starts_at > now,
    )


async def of_session(sessions: SessionFactory, session_id: int) -> list[RegistrationView]:
    """Everyone on a session (confirmed first, then the waitlist in order): staff exports."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Registration)
                .where(Registration.session_id == session_id, Registration.status != CANCELLED)
                .order_by(Registration.status, Registration.id)
            )
        ).scalars()
        return [registration_view(row) for row in rows]
