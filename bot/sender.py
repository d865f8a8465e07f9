"""The one sender that drains the outbox, paced under Telegram's flood limits.

Pacing is ours rather than left to 429s: each message takes a slot from the process's
`SendBudget` (shared with the replies, see bot/send_budget.py) and at most one per chat per
`per_chat_interval`, launched on schedule without waiting for the previous answer (Telegram
takes ~100 ms to answer, so waiting would cap us far below the limit). A 429 pauses the
whole budget for its `retry_after`.

What happens to a row:
- accepted by Telegram -> `sent`, recorded immediately after the answer;
- 403 (the person blocked the bot) -> the person is marked blocked, the row `unreachable`;
- 400 (Telegram refuses the content or the chat) -> `failed`, no retry;
- 429 -> back to `pending` in its place, not counted as an attempt, and every send waits
  `retry_after`;
- timeout or network error -> back to `pending` with exponential backoff, `failed` after
  `max_attempts`.

The one unavoidable window: if the process dies after Telegram accepted a message and
before its row is marked `sent`, the row is sent again once its lease expires. A timeout
is the same window seen from the client: Telegram may have delivered what we count as
failed. Marking each row on its own, right after the answer, keeps the window to one
database write per message in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot import outbox
from bot.clock import Clock
from bot.db import SessionFactory
from bot.outbox import Claimed
from bot.send_budget import SendBudget

log = logging.getLogger(__name__)

DELIVERED, RETRY_AFTER, BLOCKED, REJECTED, TRANSIENT = (
    "delivered",
    "retry_after",
    "blocked",
    "rejected",
    "transient",
)


@dataclass(frozen=True)
class Outcome:
    """What Telegram made of one message."""

    kind: str
    retry_after: float = 0.0
    error: str = ""


class Transport(Protocol):
    """Sends one outbox row; the Telegram implementation is `bot.telegram_transport`."""

    async def deliver(self, message: Claimed) -> Outcome: ...


CHAT_MARGIN = 0.05  # seconds added to the per-chat spacing
MarkBlocked = Callable[[int], Awaitable[None]]


@dataclass
class SenderStats:
    """Counts since the sender started, for logs and benchmarks."""

    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retried: int = 0
    flood_waits: int = 0


class OutboxSender:
    """Claims due rows in small batches and delivers them on a paced schedule."""

    def __init__(
        self,
        sessions: SessionFactory,
        transport: Transport,
        clock: Clock,
        mark_blocked: MarkBlocked,
        *,
        budget: SendBudget | None = None,
        per_chat_interval: float = 1.0,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        max_in_flight: int = 64,
        poll_interval: float = 5.0,
        worker: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._clock = clock
        self._mark_blocked = mark_blocked
        self.budget = budget or SendBudget(29.0)
        self.per_chat_interval = per_chat_interval
        self.lease = lease
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.worker = worker or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.stats = SenderStats()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def rate(self) -> float:
        return self.budget.rate

    @property
    def batch_size(self) -> int:
        """About two seconds of sending: small enough that a lease never runs out mid-batch."""
        return max(1, int(self.rate * 2))

    # ------------------------------------------------------------------ one batch

    async def run_once(self) -> int:
        """Claim one batch of due rows and deliver it; returns how many rows were handled."""
        now = self._clock.now()
        batch = await outbox.claim(self._sessions, self.worker, now, self.lease, self.batch_size)
        if not batch:
            return 0
        # Messages to chats written to less than a second ago go last, so that waiting for
        # one chat never holds up the others (the sort is stable: order is kept otherwise).
        batch.sort(key=lambda message: max(time.monotonic(), self._chat_free(message.chat_id)))
        tasks: list[asyncio.Task[None]] = []
        released: list[int] = []
        try:
            for index, message in enumerate(batch):
                if self._stopping or self.budget.paused():
                    released = [m.id for m in batch[index:]]
                    break
                pauses_seen = self.budget.paused_until
                await self._wait_for_slot(message.chat_id)
                # A 429 came in meanwhile: the refused row goes first once it is over.
                if self._stopping or self.budget.paused_until != pauses_seen:
                    released = [m.id for m in batch[index:]]
                    break
                self.budget.sent_to(message.chat_id)
                await self._in_flight.acquire()
                tasks.append(asyncio.create_task(self._deliver(message)))
            if tasks:
                await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            # Killed mid-batch: what was never tried goes back; what was in flight keeps its
            # lease and is retried after it, which is the documented window.
            started = len(tasks)
            released = [m.id for m in batch[started:]]
            with contextlib.suppress(Exception):
                await asyncio.shield(outbox.release(self._sessions, released, self.worker))
            raise
        await outbox.release(self._sessions, released, self.worker)
        return len(batch) - len(released)

    async def drain(self) -> int:
        """Send everything due now (tests, benchmarks, the local chat); returns the count."""
        total = 0
        while True:
            pause = self.budget.paused_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            handled = await self.run_once()
            if handled == 0 and not self.budget.paused():
                return total
            total += handled

    async def _wait_for_slot(self, chat_id: int) -> None:
        """Sleep until this chat's pace allows one more message, then take a slot of the
        process's budget (replies take theirs from the same one)."""
        chat_free = self._chat_free(chat_id)
        now = time.monotonic()
        if chat_free > now:
            await asyncio.sleep(chat_free - now)
        await self.budget.take()

    def _chat_free(self, chat_id: int) -> float:
        # A little margin: requests do not reach Telegram exactly as spaced.
        return self.budget.last_sent_to(chat_id) + self.per_chat_interval + CHAT_MARGIN

    async def _deliver(self, message: Claimed) -> None:
        try:
            outcome = await self._transport.deliver(message)
            await self._record(message, outcome)
        except Exception:  # a database error must not kill the batch; the lease covers it
            log.exception("Outbox row %s: could not record the result", message.id)
        finally:
            self._in_flight.release()

    async def _record(self, message: Claimed, outcome: Outcome) -> None:
        now = self._clock.now()
        sessions, worker = self._sessions, self.worker
        if outcome.kind == DELIVERED:
            await outbox.mark_sent(sessions, message.id, worker, now)
            self.stats.sent += 1
        elif outcome.kind == BLOCKED:
            await self._mark_blocked(message.chat_id)
            await outbox.mark_unreachable(sessions, message.id, worker)
            self.stats.blocked += 1
        elif outcome.kind == REJECTED:
            await outbox.mark_failed(sessions, message.id, worker, outcome.error)
            self.stats.failed += 1
        elif outcome.kind == RETRY_AFTER:
            self.budget.pause(outcome.retry_after)
            self.budget.refused(message.chat_id)
            self.stats.flood_waits += 1
            # Not the row's fault: it goes back in its place in the queue, not counted.
            await outbox.release(sessions, [message.id], worker)
        elif message.attempts + 1 >= self.max_attempts:
            await outbox.mark_failed(sessions, message.id, worker, outcome.error)
            self.stats.failed += 1
        else:
            backoff = timedelta(seconds=min(300, 2 ** (message.attempts + 1)))
            await outbox.retry_later(
                sessions, message.id, worker, now + backoff, outcome.error, attempted=True
            )
            self.stats.retried += 1
        log.debug("Outbox row %s: %s", message.id, outcome.kind)

    # ------------------------------------------------------------------ background loop

    def wake(self) -> None:
        """New rows may be due now: stop sleeping."""
        self._wake.set()

    def start(self) -> None:
        """Run in the background until `stop()`."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="outbox-sender")

    async def stop(self) -> None:
        """Finish the message in flight, hand back the rest of the batch, and return."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("Outbox sender: could not claim rows; trying again shortly")
                handled = 0
            if handled or self._stopping:
                continue
            delay = self.poll_interval
            pause = self.budget.paused_until - time.monotonic()
            if pause > 0:
                delay = pause
            else:
                with contextlib.suppress(Exception):
                    due = await outbox.next_due(self._sessions)
                    if due is not None:
                        until_due = (due - self._clock.now()).total_seconds()
                        delay = max(0.05, min(delay, until_due))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
