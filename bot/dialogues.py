"""Where each person is in a multi-step conversation, kept in the database.

Read on every update rather than held in memory, so a restart or a second process in the
middle of a registration loses nothing: the next message continues where the person was.
A conversation left idle longer than `idle` is forgotten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from bot.db import SessionFactory
from bot.models import Dialogue
from bot.people import insert_for

IDLE = timedelta(hours=2)


@dataclass(frozen=True)
class State:
    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


class Dialogues:
    """Get, set and clear one conversation per (person, chat)."""

    def __init__(self, sessions: SessionFactory, idle: timedelta = IDLE) -> None:
        self._sessions = sessions
        self.idle = idle

    async def get(self, user_id: int, chat_id: int, now: datetime) -> State | None:
        async with self._sessions() as session:
            row = await session.get(Dialogue, (user_id, chat_id))
            if row is None:
                return None
            if now - row.updated_at > self.idle:
                return None
            return State(row.flow, row.step, json.loads(row.data))

    async def put(self, user_id: int, chat_id: int, state: State, now: datetime) -> None:
        values = {
            "user_id": user_id,
            "chat_id": chat_id,
            "flow": state.flow,
            "step": state.step,
            "data": json.dumps(state.data, ensure_ascii=False),
            "updated_at": now,
        }
        async with self._sessions.begin() as session:
            statement = insert_for(session)(Dialogue).values(**values)
            statement = statement.on_conflict_do_update(
                index_elements=[Dialogue.user_id, Dialogue.chat_id],
                set_={k: v for k, v in values.items() if k not in ("user_id", "chat_id")},
            )
            await session.execute(statement)

    async def clear(self, user_id: int, chat_id: int) -> bool:
        """Forget the conversation; True if there was one."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(Dialogue).where(Dialogue.user_id == user_id, Dialogue.chat_id == chat_id)
            )
            return bool(getattr(result, "rowcount", 0))
