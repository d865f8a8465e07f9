"""Free-text questions and suggestion buttons ("talk to a person" is handlers.handoff)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bot.assistant import LONG_MESSAGE
from bot.callbacks import Callback
from bot.context import BotContext
from bot.questions import LoggedQuestion
from handlers.common import addressed_text, menu_language, remember, send

log = logging.getLogger(__name__)


async def answer_question(update: Update, context: BotContext) -> None:
    """Any text that is not a command: understand it, log it (in the background), answer."""
    message = update.effective_message
    assert message is not None
    services = context.services
    text = addressed_text(message, services.bot_username, context.bot.id)
    if text is None:
        return  # a group conversation not meant for us
    person = await remember(update, context)
    assistant = services.assistant
    understood = assistant.understand(
        text,
        person.chosen_language if person else None,
        person.telegram_language if person else None,
    )
    if understood.kind in ("answer", "unsure", "smalltalk"):
        services.question_log.add(
            LoggedQuestion(
                person_id=person.telegram_id if person else None,
                text=text,
                language=understood.language,
                best_entry=understood.match.entry_id,
                score=understood.match.score,
                answered=understood.kind != "unsure",
                asked_at=services.clock.now(),
            )
        )
    if len(text) > LONG_MESSAGE:
        await send(update, assistant.fixed("too_long", understood.language))
    await send(update, assistant.reply_to(understood))
    log.info(
        "question: %s (%s, %.2f)",
        understood.kind,
        understood.match.entry_id,
        understood.match.score,
    )


async def answer_non_text(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice notes: say kindly that only text is read (private chats)."""
    person = await remember(update, context)
    await send(update, context.services.assistant.fixed("non_text", menu_language(person, update)))


async def show_entry(update: Update, context: BotContext, pressed: Callback) -> None:
    """A suggestion or related-topic button: the entry's answer, in the button's language."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    assistant = context.services.assistant
    if pressed.value not in assistant.knowledge.entries:
        await send(update, assistant.fixed("button_expired", language))
        return
    await send(update, assistant.entry(pressed.value, language))


BUTTONS = {"faq": show_entry}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Typed questions reach answer_question through handlers.text (conversations first)."""
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & ~filters.TEXT
            & ~filters.COMMAND
            & ~filters.StatusUpdate.ALL
            & ~filters.UpdateType.EDITED,
            answer_non_text,
        )
    )
