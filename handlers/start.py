"""Welcome, help, the main menu, and the commands whose features are still to come."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.callbacks import Callback
from bot.context import BotContext
from handlers import announcements, handoff, sessions
from handlers.common import menu_language, remember, send


async def welcome(update: Update, context: BotContext) -> None:
    """/start: a short welcome in the person's language, with the menu.

    `/start sessions` (the link shown in groups) goes straight to the session list."""
    person = await remember(update, context)
    language = menu_language(person, update)
    if context.args and context.args[0] == "sessions":
        await sessions.show_listing(update, context, language)
        return
    name = update.effective_user.first_name if update.effective_user else ""
    await send(update, context.services.assistant.welcome(name, language))


async def show_help(update: Update, context: BotContext) -> None:
    """/help: the commands, in the person's language."""
    person = await remember(update, context)
    language = menu_language(person, update)
    await send(update, context.services.assistant.fixed("help", language))


async def show_eligibility(update: Update, context: BotContext) -> None:
    """/eligibility: until the questionnaire exists, the prerequisites."""
    person = await remember(update, context)
    language = menu_language(person, update)
    await send(update, context.services.assistant.interim("eligibility_coming", language))


async def choose_from_menu(update: Update, context: BotContext, pressed: Callback) -> None:
    """A menu or follow-up button: run the action in the language of its message."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    assistant = context.services.assistant
    if pressed.value == "ask":
        await send(update, assistant.fixed("ask_prompt", language))
    elif pressed.value == "eligibility":
        await send(update, assistant.interim("eligibility_coming", language))
    elif pressed.value == "sessions":
        await sessions.show_listing(update, context, language)
    elif pressed.value == "announcements":
        await announcements.show_state(update, context, language)
    elif pressed.value == "contact":
        await handoff.open_contact(update, context, language)
    else:  # "language"
        await send(update, assistant.language_choice(language))


BUTTONS = {"menu": choose_from_menu}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("start", welcome))
    application.add_handler(CommandHandler("help", show_help))
    application.add_handler(CommandHandler("eligibility", show_eligibility))
