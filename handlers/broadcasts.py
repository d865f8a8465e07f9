"""Staff announcements: /broadcast (audience → message → preview → confirm), /broadcasts
(recent ones, with a stop button while one is sending), and the progress reports.

Rights are checked on every command, typed step and button. Nothing is queued before
"Send": the dialogue holds the audience and the text until then, in the database, so a
restart in between loses nothing either.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CommandHandler

from bot import broadcasts, callbacks, infosessions
from bot.assistant import Button, Html, Reply
from bot.broadcasts import Audience, BroadcastWatcher, Progress
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.services import Services
from handlers.common import (
    NO_PREVIEW,
    choices,
    ids,
    is_private,
    menu_language,
    refuse_unless_staff,
    remember,
    send,
    staff_language,
)

log = logging.getLogger(__name__)
FLOW = "broadcast"
RECENT_SESSIONS = timedelta(days=30)  # a session ended since can still be written to


async def start_broadcast(update: Update, context: BotContext) -> None:
    """/broadcast: choose the audience (in the private chat, where the preview goes)."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    if not is_private(update):
        await send(update, services.assistant.fixed("broadcast_private_only", language))
        return
    user_id, chat_id = ids(update)
    state = State(FLOW, "audience", {"language": language})
    await services.dialogues.put(user_id, chat_id, state, services.clock.now())
    await _ask_audience(update, context, language)


async def _ask_audience(update: Update, context: BotContext, language: str) -> None:
    services = context.services
    assistant = services.assistant

    everyone = await broadcasts.recipients(services.sessions, Audience("all"))
    spoken = Counter(person.language for person in everyone)
    counted = (
        ("broadcast_audience_all", Audience("all"), len(everyone)),
        ("broadcast_audience_fr", Audience("lang", language="fr"), spoken["fr"]),
        ("broadcast_audience_en", Audience("lang", language="en"), spoken["en"]),
    )
    buttons = (
        *(audience_button(services, key, who, count, language) for key, who, count in counted),
        Button(
            assistant.message("broadcast_audience_session", language),
            callbacks.encode("cast", "sessions", language),
        ),
    )
    ask = assistant.message("broadcast_ask_audience", language)
    await send(update, Reply(ask, language, buttons))


async def on_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`cast:…` buttons; nothing happens for someone who is not staff."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    if await refuse_unless_staff(update, context, language):
        return
    action, _, rest = pressed.value.partition("-")
    if action in ("stop", "stopyes", "keep"):
        await _stop_action(update, context, action, rest, language)
        return
    services = context.services
    user_id, chat_id = ids(update)
    state = await services.dialogues.get(user_id, chat_id, services.clock.now())
    expected = {"aud": "audience", "sessions": "audience", "sess": "audience", "send": "confirm"}
    if action == "discard":
        await services.dialogues.clear(user_id, chat_id)
        await send(update, services.assistant.fixed("broadcast_discarded", language))
    elif state is None or state.flow != FLOW or expected.get(action) != state.step:
        key = "broadcast_nothing_to_send" if action == "send" else "button_expired"
        await send(update, services.assistant.fixed(key, language))
    elif action == "sessions":
        await _ask_session(update, context, language)
    elif action == "sess":
        await _ask_waitlist(update, context, int(rest), language)
    elif action == "aud":
        await _chose_audience(update, context, state, rest, language)
    else:
        await _send_it(update, context, state, language)


async def _ask_session(update: Update, context: BotContext, language: str) -> None:
    services = context.services
    assistant = services.assistant
    text = services.session_text()
    since = services.clock.now() - RECENT_SESSIONS
    views = await infosessions.upcoming(services.sessions, since)
    if not views:
        await send(update, assistant.fixed("broadcast_no_session", language))
        return
    buttons = tuple(
        Button(
            assistant.message(
                "broadcast_session_button",
                language,
                when=text.when(view.starts_at, language, year=False),
                confirmed=str(view.confirmed),
                waitlisted=str(view.waitlisted),
            ),
            callbacks.encode("cast", f"sess-{view.id}", language),
        )
        for view in views
    )
    await send(
        update, Reply(assistant.message("broadcast_choose_session", language), language, buttons)
    )


async def _ask_waitlist(
    update: Update, context: BotContext, session_id: int, language: str
) -> None:
    services = context.services
    assistant = services.assistant
    view = await infosessions.get(services.sessions, session_id)
    if view is None or view.cancelled:
        await send(update, assistant.fixed("button_expired", language))
        return
    buttons = []
    for key, waitlist in (
        ("broadcast_session_confirmed", False),
        ("broadcast_session_waitlist", True),
    ):
        audience = Audience("session", session_id=view.id, waitlist=waitlist)
        count = len(await broadcasts.recipients(services.sessions, audience))
        buttons.append(audience_button(services, key, audience, count, language))
    when = services.session_text().when(view.starts_at, language)
    reply = assistant.fixed_with("broadcast_session_which", language, when=when)
    await send(update, Reply(reply.text, language, tuple(buttons)))


async def _chose_audience(
    update: Update, context: BotContext, state: State, key: str, language: str
) -> None:
    services = context.services
    audience = Audience.parse(key)
    if audience is None:
        await send(update, services.assistant.fixed("button_expired", language))
        return
    user_id, chat_id = ids(update)
    data = {**state.data, "audience": audience.key}
    await services.dialogues.put(
        user_id, chat_id, State(FLOW, "message", data), services.clock.now()
    )
    who = await describe(services, audience, language)
    await send(update, services.assistant.fixed_with("broadcast_ask_text", language, audience=who))


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """The message itself (step "message"); any other step shows its buttons again."""
    language = str(state.data.get("language", "fr"))
    services = context.services
    user_id, chat_id = ids(update)
    if await refuse_unless_staff(update, context, language):
        await services.dialogues.clear(user_id, chat_id)
        return
    if state.step == "audience":
        await _ask_audience(update, context, language)
        return
    message = update.effective_message
    assert message is not None
    audience = Audience.parse(str(state.data.get("audience")))
    if audience is None:  # cannot happen unless the row was edited by hand
        await services.dialogues.clear(user_id, chat_id)
        await send(update, services.assistant.fixed("broadcast_discarded", language))
        return
    if state.step == "message":
        body = (message.text_html or "").strip() if message.text else ""
        problem = _problem(context, message.text or "", language)
        if problem is not None:
            await send(update, problem)
            return
        data = {**state.data, "text": body}
        await services.dialogues.put(
            user_id, chat_id, State(FLOW, "confirm", data), services.clock.now()
        )
        state = State(FLOW, "confirm", data)
    await _preview(update, context, state, audience, language)


def _problem(context: BotContext, typed: str, language: str) -> Reply | None:
    assistant = context.services.assistant
    if not typed.strip():
        return assistant.fixed("broadcast_text_empty", language)
    if len(typed) > broadcasts.MAX_TEXT:
        return assistant.fixed_with(
            "broadcast_text_too_long",
            language,
            length=str(len(typed)),
            limit=str(broadcasts.MAX_TEXT),
        )
    return None


async def _preview(
    update: Update, context: BotContext, state: State, audience: Audience, language: str
) -> None:
    """The message exactly as recipients of the staff member's language will get it, then
    the count and the two buttons."""
    services = context.services
    assistant = services.assistant
    wrapped = await wrap(services, audience, str(state.data["text"]))
    language_name = assistant.message(f"broadcast_language_{language}", language)
    await send(
        update, assistant.fixed_with("broadcast_preview_intro", language, spoken=language_name)
    )
    await send(update, Reply(wrapped[language], language))
    count = len(await broadcasts.recipients(services.sessions, audience))
    who = await describe(services, audience, language)
    buttons = (
        Button(
            assistant.message("broadcast_send_button", language, count=str(count)),
            callbacks.encode("cast", "send", language),
        ),
        *choices(assistant, language, ("broadcast_discard_button", "cast", "discard")),
    )
    text = assistant.message("broadcast_confirm", language, count=str(count), audience=who)
    await send(update, Reply(text, language, buttons))


async def _send_it(update: Update, context: BotContext, state: State, language: str) -> None:
    services = context.services
    assistant = services.assistant
    user_id, chat_id = ids(update)
    # Only the press that ends the dialogue sends: a double tap sends once.
    if not await services.dialogues.clear(user_id, chat_id):
        await send(update, assistant.fixed("broadcast_nothing_to_send", language))
        return
    audience = Audience.parse(str(state.data.get("audience")))
    assert audience is not None
    text = str(state.data["text"])
    broadcast_id, count = await broadcasts.create(
        services.sessions,
        created_by=user_id,
        language=language,
        audience=audience,
        text=text,
        wrapped=await wrap(services, audience, text),
        now=services.clock.now(),
    )
    who = await describe(services, audience, language)
    if count == 0:
        await send(update, assistant.fixed_with("broadcast_nobody", language, audience=who))
        return
    services.outbox_changed()
    started = await broadcasts.progress(services.sessions, broadcast_id)
    assert started is not None
    sent = await send(update, Reply(progress_text(services, started, who), language))
    if sent is not None:
        await broadcasts.set_progress_message(
            services.sessions, broadcast_id, sent.chat_id, sent.message_id
        )


# ---------------------------------------------------------------------- /broadcasts


async def list_broadcasts(update: Update, context: BotContext) -> None:
    """/broadcasts: the ten latest, with their counts, and a stop button for running ones."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    assistant = services.assistant
    items = await broadcasts.recent(services.sessions)
    if not items:
        await send(update, assistant.fixed("broadcasts_none", language))
        return
    text = services.session_text()
    lines = [assistant.message("broadcasts_title", language)]
    buttons = []
    for item in items:
        lines.append(
            assistant.message(
                "broadcasts_line",
                language,
                id=str(item.id),
                when=text.when(item.created_at, language, year=False),
                audience=await describe(services, Audience.parse(item.audience), language),
                state=assistant.message(f"broadcasts_state_{item.status}", language),
                **_counts(item),
            )
        )
        if item.status == broadcasts.SENDING:
            buttons.append(
                Button(
                    assistant.message("broadcasts_stop_button", language, id=str(item.id)),
                    callbacks.encode("cast", f"stop-{item.id}", language),
                )
            )
    await send(update, Reply("\n".join(lines), language, tuple(buttons)))


async def _stop_action(
    update: Update, context: BotContext, action: str, number: str, language: str
) -> None:
    services = context.services
    assistant = services.assistant
    if action == "keep":
        await send(update, assistant.fixed("broadcasts_kept", language))
        return
    item = await broadcasts.progress(services.sessions, int(number))
    if item is None:
        await send(update, assistant.fixed("broadcasts_gone", language))
        return
    if item.status != broadcasts.SENDING:
        await send(update, assistant.fixed_with("broadcasts_already_over", language, id=number))
        return
    if action == "stop":
        buttons = choices(
            assistant,
            language,
            ("broadcasts_stop_yes", "cast", f"stopyes-{item.id}"),
            ("broadcasts_stop_no", "cast", "keep"),
        )
        ask = assistant.message(
            "broadcasts_stop_ask", language, id=number, remaining=str(item.remaining)
        )
        await send(update, Reply(ask, language, buttons))
        return
    stopped = await broadcasts.stop(services.sessions, item.id, services.clock.now())
    assert stopped is not None
    who = await describe(services, Audience.parse(stopped.audience), language)
    summary = assistant.message(
        "broadcast_summary_stopped", language, id=number, audience=who, **_counts(stopped)
    )
    await send(update, Reply(summary, language))


# ---------------------------------------------------------------------- wording


def audience_button(
    services: Services, key: str, audience: Audience, count: int, language: str
) -> Button:
    """A choice of audience, with how many people it reaches now."""
    return Button(
        services.assistant.message(key, language, count=str(count)),
        callbacks.encode("cast", f"aud-{audience.key}", language),
    )


async def describe(services: Services, audience: Audience | None, language: str) -> str:
    """Who an audience is, in words (a session by its date)."""
    assistant = services.assistant
    if audience is None:
        return "?"
    if audience.kind != "session":
        key = "all" if audience.kind == "all" else str(audience.language)
        return assistant.message(f"broadcast_who_{key}", language)
    view = await infosessions.get(services.sessions, audience.session_id or 0)
    if view is None:
        return assistant.message("broadcast_who_gone", language)
    key = "broadcast_who_session_waitlist" if audience.waitlist else "broadcast_who_session"
    when = services.session_text().when(view.starts_at, language, year=False)
    return assistant.message(key, language, when=when)


async def wrap(services: Services, audience: Audience, text: str) -> dict[str, str]:
    """What each language receives: the staff's text (HTML from Telegram's own entities)
    between a header and, for announcements one can opt out of, the way to do so."""
    assistant = services.assistant
    wrapped = {}
    view = None
    if audience.about_a_session:
        view = await infosessions.get(services.sessions, audience.session_id or 0)
    for language in ("fr", "en"):
        if view is not None:
            when = services.session_text().when(view.starts_at, language)
            wrapped[language] = assistant.message(
                "broadcast_wrap_session", language, when=when, body=Html(text)
            )
        else:
            wrapped[language] = assistant.message(
                "broadcast_wrap_everyone", language, body=Html(text)
            )
    return wrapped


def _counts(item: Progress) -> dict[str, str]:
    return {
        "sent": str(item.sent),
        "failed": str(item.failed),
        "unreachable": str(item.unreachable),
        "cancelled": str(item.cancelled),
        "remaining": str(max(0, item.remaining)),
        "total": str(item.recipients),
    }


def progress_text(services: Services, item: Progress, who: str) -> str:
    return services.assistant.message(
        "broadcast_progress", item.language, id=str(item.id), audience=who, **_counts(item)
    )


# ---------------------------------------------------------------------- progress reports


def watcher_for(application: Application[Any, Any, Any, Any, Any, Any]) -> BroadcastWatcher:
    """The watcher that edits staff progress messages and sends summaries for this bot."""
    services: Services = application.bot_data["services"]
    bot = application.bot

    async def report(item: Progress) -> None:
        if item.progress_chat_id is None or item.progress_message_id is None:
            return
        who = await describe(services, Audience.parse(item.audience), item.language)
        try:
            await bot.edit_message_text(
                progress_text(services, item, who),
                chat_id=item.progress_chat_id,
                message_id=item.progress_message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as exc:  # "message is not modified", or deleted by the staff
            log.debug("Progress of broadcast %s not edited: %s", item.id, exc.message)
        except TelegramError as exc:
            log.warning("Progress of broadcast %s not edited: %s", item.id, type(exc).__name__)

    async def summarise(item: Progress) -> None:
        await report(item)
        chat = item.progress_chat_id or item.created_by
        who = await describe(services, Audience.parse(item.audience), item.language)
        text = services.assistant.message(
            "broadcast_summary_done", item.language, id=str(item.id), audience=who, **_counts(item)
        )
        try:
            await bot.send_message(chat, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.warning("Summary of broadcast %s not sent: %s", item.id, type(exc).__name__)

    return BroadcastWatcher(services.sessions, services.clock, report, summarise)


BUTTONS: dict[str, Callable[[Update, BotContext, Callback], Awaitable[None]]] = {"cast": on_button}
TEXT_FLOWS = {FLOW: on_text}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("broadcast", start_broadcast))
    application.add_handler(CommandHandler("broadcasts", list_broadcasts))
