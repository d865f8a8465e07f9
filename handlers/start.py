"""Welcome, help, the main menu and its buttons."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.assistant import Reply
from bot.callbacks import Callback
from bot.context import BotContext
from handlers import announcements, eligibility, handoff, sessions
from handlers.common import menu_language, remember, send


async def welcome(update: Update, context: BotContext) -> None:
    """/start: a short welcome in the person's language, with the menu.

    `/start sessions` and `/start eligibility` (the links shown in groups) go straight to
    the session list and the questionnaire."""
    person = await remember(update, context)
    language = menu_language(person, update)
    if context.args and context.args[0] == "sessions":
        await sessions.show_listing(update, context, language)
        return
    if context.args and context.args[0] == "eligibility":
        await eligibility.begin(update, context, language)
        return
    name = update.effective_user.first_name if update.effective_user else ""
    await send(update, context.services.assistant.welcome(name, language))


async def show_help(update: Update, context: BotContext) -> None:
    """/help: the commands, in the person's language (and the staff's, to staff)."""
    person = await remember(update, context)
    language = menu_language(person, update)
    assistant = context.services.assistant
    text = assistant.message("help", language)
    user = update.effective_user
    if context.services.is_staff(user.id if user else None):  # staff also see theirs
        text += "\n\n" + assistant.message("help_staff", language)
    await send(update, Reply(text, language))


async def choose_from_menu(update: Update, context: BotContext, pressed: Callback) -> None:
    """A menu or follow-up button: run the action in the language of its message."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    assistant = context.services.assistant
    if pressed.value == "ask":
        await send(update, assistant.fixed("ask_prompt", language))
    elif pressed.value == "eligibility":
        await eligibility.begin(update, context, language)
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
