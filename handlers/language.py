"""/lang: choose French or English for menus and fixed replies."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.callbacks import Callback
from bot.context import BotContext
from handlers.common import menu_language, remember, send


async def ask_language(update: Update, context: BotContext) -> None:
    """/lang (or /lang en): offer both languages, or set one directly."""
    person = await remember(update, context)
    wanted = (context.args[0].lower() if context.args else "")[:2]
    if person is not None and wanted in ("fr", "en"):
        await context.services.people.set_language(person.telegram_id, wanted)
        await send(update, context.services.assistant.fixed("language_set", wanted))
        return
    await send(update, context.services.assistant.language_choice(menu_language(person, update)))


async def set_language(update: Update, context: BotContext, pressed: Callback) -> None:
    """A language button: remember the choice and confirm in that language."""
    person = await remember(update, context)
    if person is None:
        return
    await context.services.people.set_language(person.telegram_id, pressed.value)
    assistant = context.services.assistant
    confirmation = assistant.fixed("language_set", pressed.value)
    await send(update, confirmation)
    await send(update, assistant.welcome_menu(pressed.value))


BUTTONS = {"lang": set_language}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("lang", ask_language))
