"""Tables. Portable column types only, so SQLite and PostgreSQL share one schema."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every table and by Alembic's autogenerate."""


class Person(Base):
    """Someone who wrote to the bot. Telegram's user id is the key."""

    __tablename__ = "people"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    last_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    telegram_language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    chosen_language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Opted out of announcements (/stop); reminders of their own sessions still go out.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestionLog(Base):
    """Every free-text question and what the bot did with it, for the staff's reports."""

    __tablename__ = "question_log"
    __table_args__ = (Index("ix_question_log_asked_at", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("people.telegram_id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    )
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    best_entry: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    answered: Mapped[bool] = mapped_column(Boolean)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InfoSession(Base):
    """An information session people register for; times are stored in UTC."""

    __tablename__ = "info_sessions"
    __table_args__ = (Index("ix_info_sessions_starts_at", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Registration(Base):
    """A person's place (or waitlist place) at a session; waitlist order is the id order."""

    __tablename__ = "registrations"
    __table_args__ = (
        # One live registration per person and session, even under concurrent presses.
        Index(
            "ux_registrations_live",
            "session_id",
            "person_id",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_registrations_session_status", "session_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("info_sessions.id", ondelete="CASCADE")
    )
    # None once anonymised (bot.retention), long after the session.
    person_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("people.telegram_id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))  # confirmed | waitlisted | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OutboxMessage(Base):
    """A message the bot sends on its own initiative; the sender drains due rows."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON rows of buttons
    attachment_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # After this moment the message would mislead (a reminder once the next one is due):
    # it is marked expired instead of being sent late.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(
        String(16)
    )  # pending|sending|sent|failed|cancelled|expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registration_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("registrations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("info_sessions.id", ondelete="SET NULL"), nullable=True
    )
    # The announcement this row delivers; its counts are read from here.
    broadcast_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_outbox_broadcast_status", OutboxMessage.broadcast_id, OutboxMessage.status)


class Broadcast(Base):
    """An announcement staff sent to an audience; one outbox row per recipient."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2))  # the staff member's, for the reports
    # "all", "lang-fr", "lang-en", "session-<id>" or "session-<id>-waitlist"
    audience: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # Telegram HTML, as staff wrote it
    recipients: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # sending | stopped | done
    # Every recipient is accounted for and the summary was sent (by one process only).
    # The staff member's progress message, edited as the broadcast goes.
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    progress_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Handoff(Base):
    """One message of a conversation between a person and the team, through the staff chat.

    `staff_message_id` is the post in the staff chat a staff member replies to (for a
    question or follow-up), or the staff member's reply itself (for an answer)."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("people.telegram_id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)  # the person's private chat
    direction: Mapped[str] = mapped_column(String(16))  # to_staff | to_person
    text: Mapped[str] = mapped_column(Text)
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    staff_message_id: Mapped[int] = mapped_column(Integer)
    staff_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_handoffs_staff_message", Handoff.staff_chat_id, Handoff.staff_message_id)


class Dialogue(Base):
    """Where a person is in a multi-step conversation, so any process can continue it."""

    __tablename__ = "dialogues"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)  # JSON object
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Feedback(Base):
    """👍 or 👎 on an answer, tied to the presser's own question, with what was missing."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("people.telegram_id", ondelete="SET NULL"), nullable=True
    )
    question_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("question_log.id", ondelete="SET NULL"), nullable=True, index=True
    )
    entry_id: Mapped[str] = mapped_column(String(64))
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
