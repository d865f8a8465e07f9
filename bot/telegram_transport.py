"""The outbox's Transport on a python-telegram-bot `Bot`: Telegram's errors become outcomes."""

from __future__ import annotations

import warnings

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.outbox import Claimed
from bot.sender import BLOCKED, DELIVERED, REJECTED, RETRY_AFTER, TRANSIENT, Outcome


class TelegramTransport:
    """Sends outbox rows on a plain `Bot` (no rate limiter): the sender does the pacing and
    must see each 429 itself, not have it retried behind its back."""

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
            with warnings.catch_warnings():  # PTB 22.2 warns that the type will change
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            return Outcome(RETRY_AFTER, retry_after=float(seconds))
        except Forbidden as exc:
            return Outcome(BLOCKED, error=exc.message)
        except BadRequest as exc:  # before NetworkError: BadRequest is a subclass of it
            return Outcome(REJECTED, error=exc.message)
        except TelegramError as exc:  # timeouts, network errors, server errors: try again
            return Outcome(TRANSIENT, error=f"{type(exc).__name__}: {exc.message}")
        return Outcome(DELIVERED)
