"""👍 / 👎 under answers, and (optionally) what was missing after a 👎."""

from __future__ import annotations

from telegram import Update

from bot import callbacks, feedback
from bot.assistant import Button, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from handlers.common import ids, is_private, menu_language, remember, send

FLOW = "feedback"


async def on_feedback_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`fb:up-<entry>`, `fb:down-<entry>`, `fb:skip`."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    services = context.services
    assistant = services.assistant
    user_id, chat_id = ids(update)
    if pressed.value == "skip":
        await services.dialogues.clear(user_id, chat_id)
        await send(update, assistant.fixed("feedback_thanks", language))
        return
    vote, _, entry_id = pressed.value.partition("-")
    if entry_id not in assistant.knowledge.entries:
        await send(update, assistant.fixed("button_expired", language))
        return
    await services.question_log.flush()  # the question may still be on its way to the log
    helpful = vote == "up"
    feedback_id = await feedback.record(
        services.sessions, user_id, entry_id, helpful, services.clock.now()
    )
    if helpful:
        await send(update, assistant.fixed("feedback_thanks", language))
        return
    buttons: tuple[Button, ...] = ()
    if is_private(update):  # a comment is typed in a private chat only
        state = State(FLOW, "missing", {"feedback": feedback_id, "language": language})
        await services.dialogues.put(user_id, chat_id, state, services.clock.now())
        buttons = (
            Button(
                assistant.message("feedback_skip", language),
                callbacks.encode("fb", "skip", language),
            ),
            Button(
                assistant.message("ask_person_button", language),
                callbacks.encode("human", "ask", language),
            ),
        )
    await send(
        update, Reply(assistant.message("feedback_what_missing", language), language, buttons)
    )


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """The answer to "what was missing?"."""
    message = update.effective_message
    assert message is not None
    services = context.services
    language = str(state.data.get("language", "fr"))
    user_id, chat_id = ids(update)
    comment = " ".join((message.text or "").split())
    await services.dialogues.clear(user_id, chat_id)
    if comment:
        await feedback.add_comment(
            services.sessions, int(state.data["feedback"]), user_id, comment
        )
    await send(update, services.assistant.fixed("feedback_comment_thanks", language))


BUTTONS = {"fb": on_feedback_button}
TEXT_FLOWS = {FLOW: on_text}
