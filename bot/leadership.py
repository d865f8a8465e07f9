"""One sending process at a time among several sharing a PostgreSQL database.

Why: each process paces its outbox sender at OUTBOX_RATE (29/s); two processes would
together send 58/s and Telegram would answer 429s. Row claims (`FOR UPDATE SKIP LOCKED`)
already keep each message to one sender, so what needs electing is only who sends.

How: every process asks PostgreSQL for a session advisory lock on a dedicated connection.
The one that gets it runs the duty (the outbox sender) and keeps the connection open; the
others stand by and ask again every `retry` seconds. The lock lives as long as that
connection: a leader that stops releases it at once, a leader that dies (SIGKILL, crash,
lost machine) releases it when PostgreSQL sees the connection close, and a standby takes
over at its next try. The leader checks its connection every `check` seconds and stops the
duty as soon as it is lost, so two senders overlap by at most that long (row claims still
keep each message to one of them).

The leader also LISTENs on `CHANNEL`: a process that queues a message while another one
sends calls `wake()`, which NOTIFYs the leader, so a confirmation goes out at once rather
than at the sender's next poll.

SQLite is one process's database (one writer, a local file): there the process always
leads, with no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "dataide_outbox"
LEADER, STANDBY, STOPPED = "leader", "standby", "stopped"


class Duty(Protocol):
    """What only the leader runs: `OutboxSender` is one."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def wake(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    """Runs `duty` in this process only while it holds the lock named `name`."""

    def __init__(
        self,
        engine: AsyncEngine,
        duty: Duty,
        *,
        name: str = "dataide:outbox-sender",
        retry: float = 1.0,
        check: float = 2.0,
    ) -> None:
        self._engine = engine
        self._duty = duty
        self._key = lock_key(name)
        self.retry = retry
        self.check = check
        self.role = STOPPED
        self._shared = engine.dialect.name == "postgresql"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._notifies: set[asyncio.Task[None]] = set()

    @property
    def leading(self) -> bool:
        return self.role == LEADER

    def start(self) -> None:
        """Lead at once on SQLite; on PostgreSQL, start trying for the lock in the background."""
        if not self._shared:
            self._become(LEADER)
            self._duty.start()
            return
        if self._task is None:
            self._stopping.clear()
            self.role = STANDBY
            self._task = asyncio.create_task(self._campaign(), name="leadership")

    async def stop(self) -> None:
        """Stop the duty (the sender hands back its claimed rows), then release the lock."""
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task
        elif self.leading:
            await self._duty.stop()
        for pending in list(self._notifies):
            with contextlib.suppress(Exception):
                await pending
        self.role = STOPPED

    def wake(self) -> None:
        """Rows were queued that may be due now: wake the sender, here or in the leader."""
        if self.leading or not self._shared:
            self._duty.wake()
            return
        if self.role == STANDBY:
            task = asyncio.create_task(self._notify())
            self._notifies.add(task)
            task.add_done_callback(self._notifies.discard)

    # ------------------------------------------------------------------ PostgreSQL

    async def _campaign(self) -> None:
        """Try for the lock until stopped; lead while it is held; start again if lost."""
        while not self._stopping.is_set():
            try:
                await self._hold_or_wait()
            except Exception as exc:  # a lost connection: stand by and try again
                log.warning(
                    "Sender leadership: database connection lost (%s)",
                    type(exc).__name__,
                    extra={"event": "leadership_lost_connection"},
                )
            if self.leading:
                await self._duty.stop()
                self._become(STANDBY)
            await self._sleep(self.retry)

    async def _hold_or_wait(self) -> None:
        connection = await self._engine.connect()
        try:
            # Autocommit: a session lock needs no transaction, and an idle-in-transaction
            # connection could be killed by the server's idle timeout.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            while not self._stopping.is_set():
                got = await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                )
                if got:
                    await self._lead(connection)
                    return
                await self._sleep(self.retry)
        finally:
            # Closed, never returned to the pool: a pooled connection would keep the lock.
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _lead(self, connection: AsyncConnection) -> None:
        """Run the duty while the connection holding the lock stays alive."""
        driver = await _driver_connection(connection)
        await driver.add_listener(CHANNEL, self._on_notify)
        self._become(LEADER)
        self._duty.start()
        while not self._stopping.is_set():
            await self._sleep(self.check)
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=self.check * 2)
        await self._duty.stop()  # rows handed back before another process may lead
        self._become(STANDBY)
        with contextlib.suppress(Exception):
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})

    def _on_notify(self, *_args: Any) -> None:
        self._duty.wake()

    async def _notify(self) -> None:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL}
                )
                await connection.commit()
        except Exception as exc:  # the leader still polls: the message is only later
            log.warning("Could not wake the sending process (%s)", type(exc).__name__)

    def _become(self, role: str) -> None:
        if role != self.role:
            log.info(
                "Outbox sender: %s in this process",
                "sending" if role == LEADER else "standing by",
                extra={"event": "sender_role", "role": role},
            )
        self.role = role

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


async def _driver_connection(connection: AsyncConnection) -> Any:
    """asyncpg's own connection under SQLAlchemy's, for LISTEN."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection
