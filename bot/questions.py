"""The question log: every free-text question, for the staff's reports.

Rows are written by a background task in batches, after the reply has gone out: a person
never waits for the log, and under load one transaction carries many rows instead of each
question queueing for SQLite's single write lock. A crash can lose the rows of the last few
milliseconds; a normal shutdown (`close`) writes them all.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bot.db import SessionFactory
from bot.models import Person, QuestionLog

MAX_LOGGED_CHARS = 4096
BATCH_SIZE = 500
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedQuestion:
    person_id: int | None
    text: str
    language: str
    best_entry: str | None
    score: float
    answered: bool
    asked_at: datetime


class QuestionLogWriter:
    """Collects questions and writes them in batches from one background task."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._queue: asyncio.Queue[LoggedQuestion] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def add(self, question: LoggedQuestion) -> None:
        """Queue a question; returns at once. Starts the writer on first use."""
        self._queue.put_nowait(question)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Wait until every question added so far is in the database."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        """Write what is pending, then stop the writer."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:  # a failed batch must not stop the log for good
                log.exception("Could not write %d logged questions", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[LoggedQuestion]) -> None:
        rows = [
            {
                "person_id": q.person_id,
                "text": q.text[:MAX_LOGGED_CHARS],
                "language": q.language,
                "best_entry": q.best_entry,
                "score": round(q.score, 4),
                "answered": q.answered,
                "asked_at": q.asked_at,
            }
            for q in batch
        ]
        try:
            async with self._sessions.begin() as session:
                await session.execute(insert(QuestionLog), rows)
        except IntegrityError:
            # Someone in the batch erased their data (/forget) a moment ago, in another
            # process that still knew them: keep their question, without them.
            known = await self._known({q.person_id for q in batch if q.person_id is not None})
            for row in rows:
                if row["person_id"] not in known:
                    row["person_id"] = None
            async with self._sessions.begin() as session:
                await session.execute(insert(QuestionLog), rows)

    async def _known(self, ids: set[int]) -> set[int]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(Person.telegram_id).where(Person.telegram_id.in_(ids))
            )
            return set(found.all())
