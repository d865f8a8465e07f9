"""One process's share of Telegram's overall flood limit, taken by replies and the outbox alike.

Telegram allows a bot about 30 messages per second in all, whoever sends them. Replies go
through the Application's bot, outbox rows through the sender's plain bot; if each paced
itself, a burst of replies during a broadcast would push the sum past the limit and every
429 would stop all sending for at least a second (measured: the drain fell to 0.46 of the
limit with 2 replies/s). So both take their slots from one `SendBudget`: the Application's
`BudgetRateLimiter` (bot/telegram_transport.py) for replies, `OutboxSender` for the outbox.
A 429 seen by either pauses both.

Slots are handed out in the order they are asked for, one at a time: the sender only ever
holds the next slot, so a reply waits at most one slot (1/rate s) behind a broadcast.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

WINDOW_MARGIN = 0.01  # seconds: Telegram counts arrivals, which jitter a little


class SendBudget:
    """Hands out send slots `1/rate` seconds apart, and pauses everyone after a 429."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._chat_last: dict[int, float] = {}
        # The slots of the last second: at most floor(rate) + 1 (30 at 29.5/s, Telegram's
        # limit) may fall within any one second, however late the event loop hands them out.
        self._recent: deque[float] = deque(maxlen=int(rate) + 1)

    @property
    def paused_until(self) -> float:
        """`time.monotonic()` value before which nothing may be sent."""
        return self._paused_until

    def paused(self) -> bool:
        return self._paused_until > time.monotonic()

    def pause(self, seconds: float) -> None:
        """Telegram said to wait: no slot is handed out before then, to anyone."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def take(self) -> None:
        """Wait for the next free slot. A pause that starts while waiting is honoured, and
        so is the window: slots handed out late (the event loop was busy) must not bunch
        up into more messages within one second than Telegram allows."""
        while True:
            now = time.monotonic()
            at = max(now, self._next_slot, self._paused_until, self._window_free())
            self._next_slot = at + 1.0 / self.rate
            if at > now:
                await asyncio.sleep(at - now)
            # Checked again on waking: a 429, or another taker, may have come in meanwhile.
            now = time.monotonic()
            if self._paused_until <= now and self._window_free() <= now:
                self._recent.append(now)
                return

    def _window_free(self) -> float:
        """When the window lets one more message in (0 while it is not full)."""
        if len(self._recent) < (self._recent.maxlen or 0):
            return 0.0
        return self._recent[0] + 1.0 + WINDOW_MARGIN

    def sent_to(self, chat_id: int) -> None:
        """Note a message to this chat, so the outbox spaces its next one to it (a staff
        member's progress message and their copy of the broadcast, for instance)."""
        self._chat_last[chat_id] = time.monotonic()
        if len(self._chat_last) > 10_000:
            horizon = time.monotonic() - 60
            self._chat_last = {c: t for c, t in self._chat_last.items() if t > horizon}

    def last_sent_to(self, chat_id: int) -> float:
        """`time.monotonic()` of the last message to this chat (0 if none lately)."""
        return self._chat_last.get(chat_id, 0.0)

    def refused(self, chat_id: int) -> None:
        """Telegram refused the message (429): it does not count against the chat's pace.
        The one before it was at least a second earlier, so the chat is simply free."""
        self._chat_last.pop(chat_id, None)
