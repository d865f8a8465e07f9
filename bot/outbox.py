"""The outbox: every message the bot sends on its own initiative is a row here first.

Rows are written in the same transaction as the change that causes them (a registration,
a cancellation), so a crash can never keep the change and lose the message. The sender
(`bot.sender`) claims due rows with a lease: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
two processes never claim the same row; SQLite has one writer, so its UPDATE is already
atomic. A row whose claimer died is claimable again once its lease has expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.assistant import Button
from bot.db import SessionFactory
from bot.models import OutboxMessage

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
EXPIRED = "expired"
UNREACHABLE = "unreachable"  # the person blocked the bot (403): not retried
ERROR_LENGTH = 200


@dataclass(frozen=True)
class OutboxItem:
    """A message to queue: who, what, when, and what it belongs to (to cancel it later)."""

    chat_id: int
    kind: str
    text: str  # Telegram HTML
    due_at: datetime
    buttons: tuple[Button, ...] = ()
    attachment: tuple[str, bytes] | None = None  # (file name, content)
    registration_id: int | None = None
    session_id: int | None = None
    expires_at: datetime | None = None  # not sent at all after this (it would mislead)
    broadcast_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds until `claimed_until`."""

    id: int
    chat_id: int
    kind: str
    text: str
    buttons: tuple[Button, ...]
    attachment: tuple[str, bytes] | None
    attempts: int
    claimed_until: datetime


@dataclass
class Backlog:
    """How many rows are in each state, and how many pending ones are already due."""

    counts: dict[str, int] = field(default_factory=dict)
    due: int = 0


def add(session: AsyncSession, items: Iterable[OutboxItem], now: datetime) -> None:
    """Queue messages inside the caller's transaction."""
    session.add_all(
        OutboxMessage(
            chat_id=item.chat_id,
            kind=item.kind,
            text=item.text,
            buttons=_dump_buttons(item.buttons),
            attachment_name=item.attachment[0] if item.attachment else None,
            attachment=item.attachment[1] if item.attachment else None,
            due_at=item.due_at,
            expires_at=item.expires_at,
            status=PENDING,
            attempts=0,
            registration_id=item.registration_id,
            session_id=item.session_id,
            broadcast_id=item.broadcast_id,
            created_at=now,
        )
        for item in items
    )


async def add_many(session: AsyncSession, items: Sequence[OutboxItem], now: datetime) -> None:
    """Queue many messages inside the caller's transaction in one multi-row INSERT (a
    broadcast to 10 000 people). Rows must not depend on objects not yet flushed."""
    if not items:
        return
    await session.execute(
        insert(OutboxMessage),
        [
            {
                "chat_id": item.chat_id,
                "kind": item.kind,
                "text": item.text,
                "buttons": _dump_buttons(item.buttons),
                "due_at": item.due_at,
                "expires_at": item.expires_at,
                "status": PENDING,
                "attempts": 0,
                "registration_id": item.registration_id,
                "session_id": item.session_id,
                "broadcast_id": item.broadcast_id,
                "created_at": now,
            }
            for item in items
        ],
    )


async def enqueue(sessions: SessionFactory, items: Iterable[OutboxItem], now: datetime) -> None:
    """Queue messages in a transaction of their own."""
    async with sessions.begin() as session:
        add(session, items, now)


async def cancel_pending(
    session: AsyncSession, *, registration_id: int | None = None, session_id: int | None = None
) -> int:
    """Withdraw what has not gone out yet for a registration or a whole session."""
    belongs = (
        OutboxMessage.registration_id == registration_id
        if registration_id is not None
        else OutboxMessage.session_id == session_id
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(belongs, OutboxMessage.status == PENDING)
        .values(status=CANCELLED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def claim(
    sessions: SessionFactory, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Take up to `limit` due rows (oldest due first), including rows whose lease ran out."""
    claimable = and_(
        or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now),
            and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),
        ),
        or_(OutboxMessage.expires_at.is_(None), OutboxMessage.expires_at > now),
    )
    async with sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status.in_((PENDING, SENDING)),
                OutboxMessage.expires_at <= now,
                or_(OutboxMessage.status == PENDING, OutboxMessage.claimed_until < now),
            )
            .values(status=EXPIRED, claimed_by=None, claimed_until=None)
        )
        pick = (
            select(OutboxMessage.id)
            .where(claimable)
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            # MATERIALIZED: run the pick once. As a plain subquery PostgreSQL may re-run it
            # for each row of a semi-join, each run skipping other claimers' locks and
            # picking new rows, so one claim could take far more than `limit`.
            picked = pick.with_for_update(skip_locked=True).cte("pick").prefix_with("MATERIALIZED")
            chosen = select(picked.c.id).scalar_subquery()
        else:
            chosen = pick.scalar_subquery()
        until = now + lease
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chosen), claimable)
            .values(status=SENDING, claimed_by=worker, claimed_until=until)
            .returning(
                OutboxMessage.id,
                OutboxMessage.chat_id,
                OutboxMessage.kind,
                OutboxMessage.text,
                OutboxMessage.buttons,
                OutboxMessage.attachment_name,
                OutboxMessage.attachment,
                OutboxMessage.attempts,
                OutboxMessage.due_at,
            )
        )
        rows = sorted(result.all(), key=lambda row: (row.due_at, row.id))
    return [
        Claimed(
            id=row.id,
            chat_id=row.chat_id,
            kind=row.kind,
            text=row.text,
            buttons=_load_buttons(row.buttons),
            attachment=(row.attachment_name, row.attachment) if row.attachment else None,
            attempts=row.attempts,
            claimed_until=until,
        )
        for row in rows
    ]


async def mark_sent(sessions: SessionFactory, row_id: int, worker: str, now: datetime) -> None:
    """Telegram accepted the message: record it at once, to keep the duplicate window small."""
    await _finish(sessions, row_id, worker, status=SENT, sent_at=now, claimed_until=None)


async def mark_unreachable(sessions: SessionFactory, row_id: int, worker: str) -> None:
    """The person blocked the bot: this row (and their next ones) will not be retried."""
    await _finish(
        sessions,
        row_id,
        worker,
        status=UNREACHABLE,
        last_error="blocked by the person",
        attempts=OutboxMessage.attempts + 1,
        claimed_until=None,
    )


async def mark_failed(
    sessions: SessionFactory, row_id: int, worker: str, error: str, *, attempted: bool = True
) -> None:
    """Give up on a row (refused by Telegram, or out of attempts)."""
    values: dict[str, Any] = {"status": FAILED, "last_error": error[:ERROR_LENGTH]}
    if attempted:
        values["attempts"] = OutboxMessage.attempts + 1
    await _finish(sessions, row_id, worker, claimed_until=None, **values)


async def retry_later(
    sessions: SessionFactory,
    row_id: int,
    worker: str,
    due_at: datetime,
    error: str | None,
    *,
    attempted: bool,
) -> None:
    """Put a row back in the queue for later; `attempted` counts it against the bound."""
    values: dict[str, Any] = {"status": PENDING, "due_at": due_at, "claimed_by": None}
    if error is not None:
        values["last_error"] = error[:ERROR_LENGTH]
    if attempted:
        values["attempts"] = OutboxMessage.attempts + 1
    await _finish(sessions, row_id, worker, claimed_until=None, **values)


async def release(sessions: SessionFactory, row_ids: Sequence[int], worker: str) -> None:
    """Hand back rows claimed but not tried (shutdown, or a flood wait): pending again."""
    if not row_ids:
        return
    async with sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(row_ids),
                OutboxMessage.claimed_by == worker,
                OutboxMessage.status == SENDING,
            )
            .values(status=PENDING, claimed_by=None, claimed_until=None)
        )


async def backlog(sessions: SessionFactory, now: datetime) -> Backlog:
    """Counts by status, and pending rows already due (what `health` reports)."""
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        counts = {status: int(count) for status, count in rows.all()}
        due = await session.scalar(
            select(func.count()).where(
                OutboxMessage.status == PENDING, OutboxMessage.due_at <= now
            )
        )
    return Backlog(counts, int(due or 0))


async def next_due(sessions: SessionFactory) -> datetime | None:
    """When the earliest pending row falls due, so the sender can sleep until then."""
    async with sessions() as session:
        return await session.scalar(
            select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == PENDING)
        )


async def _finish(sessions: SessionFactory, row_id: int, worker: str, **values: Any) -> None:
    """Update a row only if this worker still holds it (a lease may have been taken over)."""
    async with sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.claimed_by == worker,
                OutboxMessage.status == SENDING,
            )
            .values(**values)
        )


def _dump_buttons(buttons: tuple[Button, ...]) -> str | None:
    if not buttons:
        return None
    return json.dumps([{"label": b.label, "data": b.data} for b in buttons], ensure_ascii=False)


def _load_buttons(text: str | None) -> tuple[Button, ...]:
    if not text:
        return ()
    return tuple(Button(item["label"], item["data"]) for item in json.loads(text))
