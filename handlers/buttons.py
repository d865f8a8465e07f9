"""Every inline button goes through one dispatcher: decode once, acknowledge, route by prefix.

A single entry point means one place decides what an unreadable button is (PTB skips a
handler's pattern when the data is empty, so per-handler patterns are not enough), and one
place acknowledges the press: a failed acknowledgement must not stop the action itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks
from bot.callbacks import Callback
from bot.context import BotContext
from handlers.common import menu_language, remember

log = logging.getLogger(__name__)
ButtonAction = Callable[[Update, BotContext, Callback], Awaitable[None]]


def dispatcher(
    routes: Mapping[str, ButtonAction],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """The one CallbackQueryHandler callback, routing each prefix to its action."""

    async def on_button(update: Update, context: BotContext) -> None:
        query = update.callback_query
        assert query is not None
        pressed = callbacks.decode(query.data)
        action = routes.get(pressed.prefix) if pressed is not None else None
        if pressed is None or action is None:
            await expire(update, context)
            return
        try:
            await query.answer()
        except TelegramError as exc:  # the spinner stays a little longer; act anyway
            log.warning("Could not acknowledge a button press: %s", type(exc).__name__)
        await action(update, context, pressed)

    return on_button


async def expire(update: Update, context: BotContext) -> None:
    """A button we can't read (stale, from an old version, or forged): an alert, nothing else."""
    query = update.callback_query
    assert query is not None
    person = await remember(update, context)
    text = context.services.assistant.message("button_expired", menu_language(person, update))
    await query.answer(text, show_alert=True)


def register(
    application: Application[Any, Any, Any, Any, Any, Any], routes: Mapping[str, ButtonAction]
) -> None:
    application.add_handler(CallbackQueryHandler(dispatcher(routes)))
