"""The outbox's Transport on a python-telegram-bot `Bot`: Telegram's errors become outcomes."""

from __future__ import annotations

from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.outbox import Claimed
from bot.sender import BLOCKED, DELIVERED, REJECTED, RETRY_AFTER, TRANSIENT, Outcome


class TelegramTransport:
    """Sends outbox rows; the sender paces, so the rate limiter is told not to retry."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._limited = isinstance(bot, ExtBot) and bot.rate_limiter is not None

    async def deliver(self, message: Claimed) -> Outcome:
        extra: dict[str, Any] = {"rate_limit_args": {"max_retries": 0}} if self._limited else {}
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
                    **extra,
                )
            else:
                await self._bot.send_message(
                    message.chat_id,
                    message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    **extra,
                )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            return Outcome(RETRY_AFTER, retry_after=float(seconds))
        except Forbidden as exc:
            return Outcome(BLOCKED, error=exc.message)
        except BadRequest as exc:  # before NetworkError: BadRequest is a subclass of it
            return Outcome(REJECTED, error=exc.message)
        except NetworkError as exc:  # includes TimedOut
            return Outcome(TRANSIENT, error=type(exc).__name__ + ": " + exc.message)
        except TelegramError as exc:
            return Outcome(TRANSIENT, error=type(exc).__name__ + ": " + exc.message)
        return Outcome(DELIVERED)
