"""Unknown commands, stale or forged buttons, and the error handler."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, MessageHandler, filters

from bot.context import BotContext
from handlers.common import menu_language, remember, send

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command we don't have: say so and point to /help (in groups, only if ours)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split()[0]
    name, _, target = command.partition("@")
    if message.chat.type != ChatType.PRIVATE and target.lower() != context.bot.username.lower():
        return
    person = await remember(update, context)
    language = menu_language(person, update)
    reply = context.services.assistant
    await send(update, reply.fixed_with("unknown_command", language, command=name[:64]))


async def handle_error(update: object, context: BotContext) -> None:
    """Log first; then tell the person something went wrong, if we still can."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("A person blocked the bot; marking them unreachable")
        if isinstance(update, Update) and update.effective_user is not None:
            services = context.services
            await services.people.mark_blocked(update.effective_user.id, services.clock.now())
        return
    if isinstance(error, RetryAfter | TimedOut | NetworkError) and not isinstance(
        error, BadRequest
    ):
        log.warning("Telegram did not take a reply: %s", type(error).__name__)
        return
    log.error("Error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        language = menu_language(None, update)
        await send(update, context.services.assistant.fixed("error", language))
    except Exception:  # never let the error handler raise
        log.warning("Could not tell the person about the error")


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_error_handler(handle_error)
