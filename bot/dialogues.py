"""Where each person is in a multi-step conversation, kept in the database.

The database is the truth, so a restart or a second process in the middle of a
registration loses nothing: the next message continues where the person was. A conversation
left idle longer than `idle` is forgotten.

Every typed message asks "is this person in a conversation?", and the answer is nearly
always no: on PostgreSQL, where several processes may share the conversations, that is a
read each time. On SQLite, which is one process's database (see bot.leadership), every write
goes through this object, so it also keeps what it read or wrote and answers from memory:
that read was half the cost of an answered question (docs/benchmarks.md).
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


Key = tuple[int, int]  # (user id, chat id)
Known = tuple[State, datetime] | None  # the conversation and when it last moved, or none


class Dialogues:
    """Get, set and clear one conversation per (person, chat).

    `remember=True` is only right when this process is the database's one writer (SQLite).
    """

    MAX_REMEMBERED = 10_000

    def __init__(
        self, sessions: SessionFactory, idle: timedelta = IDLE, *, remember: bool = False
    ) -> None:
        self._sessions = sessions
        self.idle = idle
        self._remember = remember
        self._known: dict[Key, Known] = {}

    async def get(self, user_id: int, chat_id: int, now: datetime) -> State | None:
        key = (user_id, chat_id)
        if self._remember and key in self._known:
            known = self._known[key]
        else:
            known = await self._read(user_id, chat_id)
            if key not in self._known:  # a put or clear while we read is newer: keep it
                self._keep(key, known)
        if known is None or now - known[1] > self.idle:
            return None
        return known[0]

    async def _read(self, user_id: int, chat_id: int) -> Known:
        async with self._sessions() as session:
            row = await session.get(Dialogue, (user_id, chat_id))
            if row is None:
                return None
            return State(row.flow, row.step, json.loads(row.data)), row.updated_at

    def _keep(self, key: Key, known: Known) -> None:
        if not self._remember:
            return
        if len(self._known) >= self.MAX_REMEMBERED and key not in self._known:
            self._known.clear()
        self._known[key] = known

    def forget_person(self, user_id: int) -> None:
        """After their data was erased elsewhere (/forget): nothing of theirs is kept here."""
        for key in [key for key in self._known if key[0] == user_id]:
            del self._known[key]

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
        self._keep((user_id, chat_id), (state, now))

    async def clear(self, user_id: int, chat_id: int) -> bool:
        """Forget the conversation; True if there was one."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(Dialogue).where(Dialogue.user_id == user_id, Dialogue.chat_id == chat_id)
            )
        self._keep((user_id, chat_id), None)
        return bool(getattr(result, "rowcount", 0))
