"""Where typed text goes: the step of a conversation in progress, else the FAQ.

Conversation state is read from the database on every message (see bot.dialogues), so any
process can continue any conversation. Any command ends the conversation in progress
(except /cancel, which says whether there was one), so a person is never stuck in a step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from bot.dialogues import State
from handlers import faq
from handlers.common import is_private, menu_language, remember, send

CANCEL = r"^/cancel(@\w+)?(\s|$)"
TextStep = Callable[[Update, BotContext, State], Awaitable[None]]


def dispatcher(
    flows: Mapping[str, TextStep],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    async def on_text(update: Update, context: BotContext) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is not None and chat is not None and is_private(update):
            services = context.services
            state = await services.dialogues.get(user.id, chat.id, services.clock.now())
            if state is not None and state.flow in flows:
                await remember(update, context)
                await flows[state.flow](update, context, state)
                return
        await faq.answer_question(update, context)

    return on_text


async def end_conversation(update: Update, context: BotContext) -> None:
    """Before any command: a new command means the person moved on."""
    user, chat = update.effective_user, update.effective_chat
    if user is not None and chat is not None:
        await context.services.dialogues.clear(user.id, chat.id)


async def cancel(update: Update, context: BotContext) -> None:
    """/cancel: stop the conversation in progress, and say whether there was one."""
    person = await remember(update, context)
    language = menu_language(person, update)
    user, chat = update.effective_user, update.effective_chat
    ended = False
    if user is not None and chat is not None:
        ended = await context.services.dialogues.clear(user.id, chat.id)
    key = "cancel_command_done" if ended else "cancel_command_nothing"
    await send(update, context.services.assistant.fixed(key, language))


def register(
    application: Application[Any, Any, Any, Any, Any, Any], flows: Mapping[str, TextStep]
) -> None:
    application.add_handler(
        MessageHandler(
            filters.COMMAND & ~filters.Regex(r"^/cancel(@\w+)?(\s|$)"), end_conversation
        ),
        group=-1,
    )
    application.add_handler(CommandHandler("cancel", cancel))
    application.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & ~filters.UpdateType.EDITED, dispatcher(flows)
        )
    )
