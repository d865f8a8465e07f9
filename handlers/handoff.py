"""Talking to a person: the question goes to the staff chat, a staff member's reply comes
back "from the team", and the person's follow-up goes on in the same thread.

Without STAFF_CHAT_ID (or when the bot cannot post there), people get the team's contact
details instead, so the button never leads nowhere.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot import callbacks, handoffs, outbox
from bot.assistant import Button, Html, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.handoffs import TO_PERSON, TO_STAFF, Asked
from bot.language import ui_language
from bot.outbox import OutboxItem
from handlers.common import NO_PREVIEW, ids, is_private, menu_language, remember, send

log = logging.getLogger(__name__)
FLOW = "handoff"


async def ask_person(update: Update, context: BotContext, pressed: Callback) -> None:
    """`human:ask` (under an unsure answer): the presser's own latest question goes to the
    team; `human:reply` (under a team answer): the next message continues the thread."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    services = context.services
    if services.settings.staff_chat_id is None or not is_private(update):
        await send(update, services.assistant.contact(language))
        return
    user_id, _ = ids(update)
    if pressed.value == "ask":
        await services.question_log.flush()  # the question may still be on its way
        asked = await handoffs.latest_question(services.sessions, user_id, services.clock.now())
        if asked is not None:
            await _post(update, context, asked.text, "question", language, asked)
            return
    step = "followup" if pressed.value == "reply" else "message"
    await _ask_for_text(update, context, step, language)


async def contact(update: Update, context: BotContext) -> None:
    """/contact [message]: write to the team (or get their details without a staff chat)."""
    person = await remember(update, context)
    language = menu_language(person, update)
    await open_contact(update, context, language, _arguments(update.effective_message))


async def open_contact(
    update: Update, context: BotContext, language: str, typed: str = ""
) -> None:
    """The menu's "contact" and /contact: a message for the team, typed now or next."""
    services = context.services
    if services.settings.staff_chat_id is None or not is_private(update):
        await send(update, services.assistant.contact(language))
        return
    if typed:
        await _post(update, context, typed, "message", language)
        return
    await _ask_for_text(update, context, "message", language)


async def _ask_for_text(update: Update, context: BotContext, step: str, language: str) -> None:
    services = context.services
    user_id, chat_id = ids(update)
    state = State(FLOW, step, {"language": language})
    await services.dialogues.put(user_id, chat_id, state, services.clock.now())
    await send(update, services.assistant.fixed("handoff_ask_text", language))


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """The message for the team, typed after the button or /contact."""
    language = str(state.data.get("language", "fr"))
    message = update.effective_message
    assert message is not None
    typed = (message.text or "").strip()
    if not typed:
        await send(update, context.services.assistant.fixed("handoff_empty", language))
        return
    user_id, chat_id = ids(update)
    await context.services.dialogues.clear(user_id, chat_id)
    kind = "followup" if state.step == "followup" else "message"
    await _post(update, context, typed, kind, language)


async def _post(
    update: Update,
    context: BotContext,
    text: str,
    kind: str,
    language: str,
    asked: Asked | None = None,
) -> None:
    """Post in the staff chat (in the person's thread when there is one) and record it."""
    services = context.services
    assistant = services.assistant
    staff_chat = services.settings.staff_chat_id
    assert staff_chat is not None
    user = update.effective_user
    assert user is not None
    _, chat_id = ids(update)
    text = text[: handoffs.MAX_TEXT]
    team = "fr"  # posts in the staff chat are in the team's language, French
    guess = assistant.message("handoff_no_guess", team)
    entry = asked.best_entry if asked is not None else None
    if asked is not None and entry is not None and entry in assistant.knowledge.entries:
        title = assistant.knowledge.title(entry, team)
        guess = f"{title} ({asked.score:.2f})"
    post = assistant.message(
        "handoff_staff_post",
        team,
        name=user.full_name,
        username=f" @{user.username}" if user.username else "",
        spoken=language.upper(),
        person=str(user.id),
        kind=assistant.message(f"handoff_kind_{kind}", team),
        text=text,
        guess=guess,
    )
    thread = await handoffs.last_post(services.sessions, user.id, staff_chat)
    try:
        sent = await context.bot.send_message(
            staff_chat,
            post,
            parse_mode=ParseMode.HTML,
            reply_to_message_id=thread,
            allow_sending_without_reply=True,
            link_preview_options=NO_PREVIEW,
        )
    except TelegramError as exc:  # not in the staff chat, or the chat is gone
        log.warning("Hand-off not posted to the staff chat: %s", type(exc).__name__)
        unavailable = assistant.message("handoff_unavailable", language)
        details = assistant.contact(language).text
        await send(update, Reply(f"{unavailable}\n\n{details}", language))
        return
    await handoffs.record(
        services.sessions,
        person_id=user.id,
        chat_id=chat_id,
        direction=TO_STAFF,
        text=text,
        staff_chat_id=staff_chat,
        staff_message_id=sent.message_id,
        now=services.clock.now(),
    )
    await send(update, assistant.fixed("handoff_sent", language))
    log.info("hand-off: %s posted to the staff chat", kind)


async def on_staff_reply(update: Update, context: BotContext) -> None:
    """A reply, in the staff chat, to a hand-off post: delivered to the person."""
    message = update.effective_message
    assert message is not None
    replied = message.reply_to_message
    services = context.services
    staff_chat = services.settings.staff_chat_id
    if replied is None or staff_chat is None:
        return
    thread = await handoffs.thread_of(services.sessions, staff_chat, replied.message_id)
    if thread is None:
        return  # a reply to something else: not ours to route
    assistant = services.assistant
    staff_language = menu_language(await remember(update, context), update)
    user = update.effective_user
    if not services.is_staff(user.id if user else None):
        await message.reply_text(assistant.message("handoff_not_staff", staff_language))
        return
    if not thread.reachable:
        await message.reply_text(assistant.message("handoff_person_gone", staff_language))
        return
    body = message.text_html if message.text else ""
    if not body.strip():
        await message.reply_text(assistant.message("handoff_reply_empty", staff_language))
        return
    language = ui_language(thread.language, None)
    now = services.clock.now()
    answer = assistant.message("handoff_from_team", language, text=Html(body))
    button = Button(
        assistant.message("handoff_reply_button", language),
        callbacks.encode("human", "reply", language),
    )
    await outbox.enqueue(
        services.sessions,
        [OutboxItem(thread.chat_id, "handoff", answer, now, buttons=(button,))],
        now,
    )
    services.outbox_changed()
    await handoffs.record(
        services.sessions,
        person_id=thread.person_id,
        chat_id=thread.chat_id,
        direction=TO_PERSON,
        text=message.text or "",
        staff_chat_id=staff_chat,
        staff_message_id=message.message_id,
        staff_user_id=user.id if user else None,
        now=now,
    )
    done = assistant.message("handoff_delivered", staff_language, name=thread.first_name)
    await message.reply_text(done, parse_mode=ParseMode.HTML)
    log.info("hand-off: staff reply queued")


def _arguments(message: Message | None) -> str:
    """What follows the command, with its own spacing (context.args would split it)."""
    return (message.text or "").partition(" ")[2].strip() if message else ""


BUTTONS = {"human": ask_person}
TEXT_FLOWS = {FLOW: on_text}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Before the text handlers: a staff reply to a post must not be read as a question."""
    application.add_handler(CommandHandler("contact", contact))
    staff_chat = application.bot_data["services"].settings.staff_chat_id
    if staff_chat is not None:
        application.add_handler(
            MessageHandler(
                filters.Chat(staff_chat)
                & filters.REPLY
                & ~filters.COMMAND
                & ~filters.UpdateType.EDITED,
                on_staff_reply,
            )
        )
