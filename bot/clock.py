"""Time as a dependency, so tests pin it instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to: tests and demos use it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward (never backward: nothing in the bot expects that)."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += delta

    def set(self, moment: datetime) -> None:
        """Jump to a moment, e.g. the day before a session."""
        self._now = moment.astimezone(UTC)
