"""Opting out of announcements (/stop) and back in; reminders of one's sessions still come."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import broadcasts, callbacks, people
from bot.assistant import Button, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from handlers.common import ids, menu_language, remember, send


async def stop(update: Update, context: BotContext) -> None:
    """/stop: no more announcements."""
    person = await remember(update, context)
    await _set(update, context, False, menu_language(person, update))


async def show(update: Update, context: BotContext) -> None:
    """/announcements: whether they come, with the button to change it."""
    person = await remember(update, context)
    await show_state(update, context, menu_language(person, update))


async def show_state(update: Update, context: BotContext, language: str) -> None:
    services = context.services
    user_id, _ = ids(update)
    wanted = await people.wants_announcements(services.sessions, user_id)
    key = "announcements_status_on" if wanted else "announcements_status_off"
    await send(update, _with_toggle(context, key, language, wanted))


async def on_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`notif:on` / `notif:off`: one's own setting only (the presser's id, never data's)."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    await _set(update, context, pressed.value == "on", language)


async def _set(update: Update, context: BotContext, wanted: bool, language: str) -> None:
    services = context.services
    user_id, _ = ids(update)
    await people.set_announcements(services.sessions, user_id, wanted, services.clock.now())
    if not wanted:  # announcements already queued for them do not go out either
        await broadcasts.withdraw_for(services.sessions, user_id)
    key = "announcements_on" if wanted else "announcements_off"
    await send(update, _with_toggle(context, key, language, wanted))


def _with_toggle(context: BotContext, key: str, language: str, wanted: bool) -> Reply:
    assistant = context.services.assistant
    toggle = Button(
        assistant.message(
            "announcements_button_off" if wanted else "announcements_button_on", language
        ),
        callbacks.encode("notif", "off" if wanted else "on", language),
    )
    return Reply(assistant.message(key, language), language, (toggle,))


BUTTONS = {"notif": on_button}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("stop", stop))
    application.add_handler(CommandHandler("announcements", show))
