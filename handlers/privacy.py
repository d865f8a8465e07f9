"""/privacy, /mydata and /forget: the notice, a person's own data, and erasing it.

These handlers never call `remember`: reading or erasing one's data must not record a
new profile. /mydata and /forget answer only in a private chat (a group would see the
data), and act only on the person who sent the command or pressed the button.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import callbacks, privacy, privacy_text
from bot.assistant import Button, Html, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.language import ui_language
from handlers.common import ids, is_private, send, send_file

FLOW = "forget"
log = logging.getLogger(__name__)


async def show_notice(update: Update, context: BotContext) -> None:
    """/privacy: what is kept, why, for how long, who sees it, and the person's rights."""
    language = await _language(update, context)
    settings = context.services.settings
    notice = context.services.assistant.fixed_with(
        "privacy_notice",
        language,
        question_days=str(settings.question_log_retention_days),
        registration_days=str(settings.registration_retention_days),
    )
    await send(update, notice)


async def send_my_data(update: Update, context: BotContext) -> None:
    """/mydata: everything held about the sender, as a message and a JSON file."""
    language = await _language(update, context)
    if not await _private(update, context, language, "/mydata"):
        return
    services = context.services
    user_id, _ = ids(update)
    await services.question_log.flush()  # their latest questions too
    data = await privacy.collect(services.sessions, user_id)
    if data.empty:
        await send(update, services.assistant.fixed("mydata_none", language))
        return
    text = services.session_text()
    summary = privacy_text.describe(data, services.assistant, text, language)
    await send(update, Reply(summary, language))
    day = services.clock.now().astimezone(text.zone).date().isoformat()
    caption = services.assistant.message("mydata_caption", language)
    await send_file(update, f"dataide-mydata-{day}.json", data.to_json(), caption)


async def ask_to_forget(update: Update, context: BotContext) -> None:
    """/forget: ask for a confirmation, valid while the conversation lasts."""
    language = await _language(update, context)
    if not await _private(update, context, language, "/forget"):
        return
    services = context.services
    user_id, chat_id = ids(update)
    state = State(FLOW, "confirm", {"language": language})
    await services.dialogues.put(user_id, chat_id, state, services.clock.now())
    assistant = services.assistant
    buttons = (
        Button(
            assistant.message("forget_yes", language),
            callbacks.encode("priv", "forgetyes", language),
        ),
        Button(
            assistant.message("forget_no", language),
            callbacks.encode("priv", "forgetno", language),
        ),
    )
    await send(update, Reply(assistant.message("forget_ask", language), language, buttons))


async def on_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`priv:forgetyes|forgetno`: only with the presser's own confirmation pending."""
    language = pressed.language or await _language(update, context)
    services = context.services
    assistant = services.assistant
    user_id, chat_id = ids(update)
    state = await services.dialogues.get(user_id, chat_id, services.clock.now())
    if state is None or state.flow != FLOW or not is_private(update):
        await send(update, assistant.fixed("forget_expired", language))
        return
    if pressed.value == "forgetno":
        await services.dialogues.clear(user_id, chat_id)
        await send(update, assistant.fixed("forget_kept", language))
        return
    await services.question_log.flush()  # nothing of theirs may land after the erasure
    done = await privacy.forget(
        services.sessions, user_id, services.clock.now(), services.session_text()
    )
    services.people.forget(user_id)
    services.dialogues.forget_person(user_id)
    services.outbox_changed()  # promotions from the waitlist
    log.info("Erased a person's data: %d registration(s) cancelled", done.cancelled)
    cancelled = Html(
        assistant.message("forget_cancelled_registrations", language, count=str(done.cancelled))
        if done.cancelled
        else ""
    )
    await send(update, assistant.fixed_with("forget_done", language, cancelled=cancelled))


async def _language(update: Update, context: BotContext) -> str:
    user = update.effective_user
    if user is None:
        return "fr"
    chosen = await privacy.chosen_language(context.services.sessions, user.id)
    return ui_language(chosen, user.language_code)


async def _private(update: Update, context: BotContext, language: str, command: str) -> bool:
    """True in a private chat; in a group, say to ask privately (True means: go on)."""
    if is_private(update) and update.effective_user is not None:
        return True
    reply = context.services.assistant.fixed_with(
        "privacy_private_only", language, command=command
    )
    await send(update, reply)
    return False


BUTTONS = {"priv": on_button}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("privacy", show_notice))
    application.add_handler(CommandHandler("mydata", send_my_data))
    application.add_handler(CommandHandler("forget", ask_to_forget))
