"""The edge between the process's sends and python-telegram-bot: the outbox's Transport
(Telegram's errors become outcomes) and the Application's rate limiter, both drawing on
one `SendBudget`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.outbox import Claimed
from bot.send_budget import SendBudget
from bot.sender import BLOCKED, DELIVERED, REJECTED, RETRY_AFTER, TRANSIENT, Outcome

JSONAnswer = bool | dict[str, Any] | list[dict[str, Any]]
GROUP_RATE = 20  # messages per minute in one group (Telegram's documented limit)
PAUSE_MARGIN = 0.1  # seconds added to a retry_after: the limit lifts at Telegram's clock


def retry_after_seconds(exc: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int or a timedelta depending on PTB's settings."""
    with warnings.catch_warnings():  # PTB 22 warns that the type will change
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return float(wait if isinstance(wait, int | float) else wait.total_seconds())


class TelegramTransport:
    """Sends outbox rows on a plain `Bot` (no rate limiter): the sender takes its slots from
    the process's `SendBudget` itself and must see each 429, not have it retried behind its
    back."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    @classmethod
    def sharing(cls, bot: Bot) -> TelegramTransport:
        """A transport on the same connection pool as the Application's bot, minus its rate
        limiter. The Application owns the pool: this bot is never initialised or shut down
        on its own, so stop the sender before the Application shuts down."""
        plain = Bot(
            bot.token,
            base_url=bot.base_url.removesuffix(bot.token),
            base_file_url=bot.base_file_url.removesuffix(bot.token),
            request=bot.request,
            get_updates_request=bot.request,
        )
        return cls(plain)

    async def deliver(self, message: Claimed) -> Outcome:
        markup = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.label, callback_data=b.data)] for b in message.buttons]
            )
            if message.buttons
            else None
        )
        try:
            if message.attachment is not None:
                name, content = message.attachment
                await self._bot.send_document(
                    message.chat_id,
                    document=InputFile(content, filename=name),
                    caption=message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            else:
                await self._bot.send_message(
                    message.chat_id,
                    message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except RetryAfter as exc:
            return Outcome(RETRY_AFTER, retry_after=retry_after_seconds(exc))
        except Forbidden as exc:
            return Outcome(BLOCKED, error=exc.message)
        except BadRequest as exc:  # before NetworkError: BadRequest is a subclass of it
            return Outcome(REJECTED, error=exc.message)
        except TelegramError as exc:  # timeouts, network errors, server errors: try again
            return Outcome(TRANSIENT, error=f"{type(exc).__name__}: {exc.message}")
        return Outcome(DELIVERED)


class BudgetRateLimiter(BaseRateLimiter[int]):
    """The Application's rate limiter, drawing on the process's `SendBudget`.

    Requests that post to a chat take a slot (and group chats also keep to 20 a minute);
    the rest (getUpdates, answerCallbackQuery, getMe…) carry no `chat_id` and go straight
    through. A 429 pauses the whole budget, then the request is retried up to
    `max_retries` times (`rate_limit_args` overrides it per call).
    """

    def __init__(self, budget: SendBudget, max_retries: int = 2) -> None:
        self.budget = budget
        self._max_retries = max_retries
        self._groups: dict[int, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONAnswer]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONAnswer:
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat_id = _chat_id(data.get("chat_id"))
        for attempt in range(retries + 1):
            if chat_id is not None:
                if chat_id < 0:
                    async with self._group(chat_id):
                        await self.budget.take()
                else:
                    await self.budget.take()
            try:
                answer = await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.budget.pause(retry_after_seconds(exc) + PAUSE_MARGIN)
                if attempt >= retries:
                    raise
            else:
                if chat_id is not None:
                    self.budget.sent_to(chat_id)
                return answer
        raise AssertionError("unreachable")  # the loop returns or raises

    def _group(self, chat_id: int) -> AsyncLimiter:
        if len(self._groups) > 512:  # forget groups whose minute is over
            self._groups = {
                k: v for k, v in self._groups.items() if not v.has_capacity(GROUP_RATE)
            }
        if chat_id not in self._groups:
            self._groups[chat_id] = AsyncLimiter(GROUP_RATE, 60)
        return self._groups[chat_id]


def _chat_id(value: object) -> int | None:
    """Numeric chat ids only: a channel's @username has no group limiter of its own here."""
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return 0  # an @username: counted against the budget, not grouped
