"""Information sessions for people: list, register step by step, see and cancel their own.

The registration steps live in the database (bot.dialogues), so the person can take their
time, and a restart in the middle loses nothing. Every button that names a registration is
checked against the person pressing it.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import callbacks, infosessions, registrations
from bot.assistant import Button, Html, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.infosessions import CONFIRMED, WAITLISTED
from bot.registrations import EMAIL_LENGTH, NAME_LENGTH, ORGANISATION_LENGTH, Details
from handlers.common import ids, is_private, menu_language, remember, send, send_file

FLOW = "register"
EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]{2,}$")


async def list_sessions(update: Update, context: BotContext) -> None:
    """/sessions: the upcoming sessions, with a register button each (private chats)."""
    person = await remember(update, context)
    await show_listing(update, context, menu_language(person, update))


async def show_listing(update: Update, context: BotContext, language: str) -> None:
    services = context.services
    views = await infosessions.upcoming(services.sessions, services.clock.now())
    text = services.session_text()
    await send(update, text.listing(views, language, private=is_private(update)))


async def on_session_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`sess:join-<id>`: start registering for that session."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    services = context.services
    assistant = services.assistant
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or not is_private(update):
        await send(update, assistant.fixed("register_private_only", language))
        return
    _, session_id = callbacks.numbered(pressed.value)
    view = await infosessions.get(services.sessions, session_id or 0)
    if view is None or not view.is_open(services.clock.now()):
        await send(update, assistant.fixed("register_unavailable", language))
        return
    existing = await registrations.live(services.sessions, view.id, user.id)
    if existing is not None:
        await send(update, _duplicate(context, existing.status, existing.position, language))
        return
    state = State(FLOW, "name", {"session": view.id, "language": language})
    await services.dialogues.put(user.id, chat.id, state, services.clock.now())
    when = services.session_text().when(view.starts_at, language)
    buttons = (Button(_full_name(update), callbacks.encode("reg", "usename", language)),)
    await send(
        update,
        Reply(assistant.message("register_ask_name", language, when=when), language, buttons),
    )


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """A typed answer during registration: the name, the organisation or the email."""
    message = update.effective_message
    assert message is not None
    typed = " ".join((message.text or "").split())
    language = str(state.data.get("language", "fr"))
    if state.step == "name":
        if not _fits(typed, NAME_LENGTH):
            await _ask_again(update, context, language, NAME_LENGTH)
            return
        await _ask_organisation(update, context, state, typed)
    elif state.step == "organisation":
        if not _fits(typed, ORGANISATION_LENGTH):
            await _ask_again(update, context, language, ORGANISATION_LENGTH)
            return
        await _advance(update, context, state, "email", organisation=typed)
        await send(update, _with_skip(context, "register_ask_email", language))
    elif state.step == "email":
        if len(typed) > EMAIL_LENGTH or not EMAIL.match(typed):
            await send(update, _with_skip(context, "register_bad_email", language))
            return
        await _show_summary(update, context, state, typed)
    else:  # "confirm": a typed message while the buttons wait; show them again
        await _show_summary(update, context, state, state.data.get("email"))


def _with_skip(context: BotContext, key: str, language: str) -> Reply:
    """A question about the email, with the button to go on without one."""
    assistant = context.services.assistant
    skip = Button(
        assistant.message("register_skip_email", language),
        callbacks.encode("reg", "skipemail", language),
    )
    return Reply(assistant.message(key, language), language, (skip,))


def _fits(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and not text.startswith("/")


async def _ask_again(update: Update, context: BotContext, language: str, limit: int) -> None:
    assistant = context.services.assistant
    await send(update, assistant.fixed_with("register_bad_text", language, max=str(limit)))


async def _advance(
    update: Update, context: BotContext, state: State, step: str, **values: Any
) -> State:
    user_id, chat_id = ids(update)
    services = context.services
    new = State(state.flow, step, {**state.data, **values})
    await services.dialogues.put(user_id, chat_id, new, services.clock.now())
    return new


async def _ask_organisation(update: Update, context: BotContext, state: State, name: str) -> None:
    await _advance(update, context, state, "organisation", name=name)
    language = str(state.data.get("language", "fr"))
    assistant = context.services.assistant
    await send(update, assistant.fixed_with("register_ask_organisation", language, name=name))


async def _show_summary(update: Update, context: BotContext, state: State, email: object) -> None:
    state = await _advance(update, context, state, "confirm", email=email or None)
    language = str(state.data.get("language", "fr"))
    services = context.services
    assistant = services.assistant
    view = await infosessions.get(services.sessions, int(state.data["session"]))
    when = services.session_text().when(view.starts_at, language) if view else "?"
    text = assistant.message(
        "register_summary",
        language,
        when=when,
        name=str(state.data.get("name", "")),
        organisation=str(state.data.get("organisation", "")),
        person_email=str(email) if email else assistant.message("register_no_email", language),
        consent=Html(assistant.message("register_consent", language)),
    )
    buttons = (
        Button(
            assistant.message("register_confirm", language),
            callbacks.encode("reg", "confirm", language),
        ),
        Button(
            assistant.message("register_abort", language),
            callbacks.encode("reg", "abort", language),
        ),
    )
    await send(update, Reply(text, language, buttons))


async def on_registration_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`reg:…` buttons: the registration steps, and cancelling one's own registration."""
    action, number = callbacks.numbered(pressed.value)
    if number is not None:
        await _registration_action(update, context, pressed, action, number)
        return
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    services = context.services
    user_id, chat_id = ids(update)
    state = await services.dialogues.get(user_id, chat_id, services.clock.now())
    expected = {"usename": "name", "skipemail": "email", "confirm": "confirm", "abort": None}
    if state is None or state.flow != FLOW or expected[action] not in (None, state.step):
        await send(update, services.assistant.fixed("button_expired", language))
        return
    if action == "usename":
        await _ask_organisation(update, context, state, _full_name(update))
    elif action == "skipemail":
        await _show_summary(update, context, state, None)
    elif action == "abort":
        await services.dialogues.clear(user_id, chat_id)
        await send(update, services.assistant.fixed("register_aborted", language))
    else:
        await _confirm(update, context, state)


def _full_name(update: Update) -> str:
    """The name Telegram shows for the person: the one offered as a one-tap answer."""
    user = update.effective_user
    parts = [user.first_name, user.last_name] if user else []
    return (" ".join(filter(None, parts)) or "?")[:NAME_LENGTH]


async def _confirm(update: Update, context: BotContext, state: State) -> None:
    user_id, chat_id = ids(update)
    services = context.services
    assistant = services.assistant
    language = str(state.data.get("language", "fr"))
    details = Details(
        name=str(state.data.get("name", "")),
        organisation=str(state.data.get("organisation", "")),
        email=state.data.get("email") or None,
        language=language,
    )
    limit = services.settings.max_upcoming_registrations or None
    text = services.session_text()
    result = await registrations.register(
        services.sessions,
        int(state.data["session"]),
        user_id,
        details,
        services.clock.now(),
        text,
        limit=limit,
    )
    await services.dialogues.clear(user_id, chat_id)
    services.outbox_changed()
    view, registration = result.session, result.registration
    if result.status == CONFIRMED and view is not None and registration is not None:
        when = text.when(view.starts_at, language)
        await send(
            update,
            assistant.fixed_with(
                "register_confirmed",
                language,
                name=details.name,
                when=when,
                details=text.details(view, language),
                link=text.link(view, language),
            ),
        )
        calendar = text.calendar(view, registration.id, language, services.clock.now())
        day = view.starts_at.astimezone(text.zone).date().isoformat()
        caption = assistant.message("calendar_caption", language)
        await send_file(update, f"dataide-{day}.ics", calendar, caption)
    elif result.status == WAITLISTED and registration is not None:
        await send(
            update,
            assistant.fixed_with(
                "register_waitlisted", language, position=str(registration.position)
            ),
        )
    elif result.status == "duplicate" and registration is not None:
        await send(
            update, _duplicate(context, registration.status, registration.position, language)
        )
    elif result.status == "limit":
        await send(update, assistant.fixed_with("register_limit", language, limit=str(limit)))
    else:
        await send(update, assistant.fixed("register_unavailable", language))


def _duplicate(context: BotContext, status: str, position: int | None, language: str) -> Reply:
    assistant = context.services.assistant
    if status == WAITLISTED:
        return assistant.fixed_with(
            "register_duplicate_waitlist", language, position=str(position)
        )
    return assistant.fixed("register_duplicate", language)


# ---------------------------------------------------------------------- one's own registrations


async def my_sessions(update: Update, context: BotContext) -> None:
    """/mysessions: the person's registrations to come, each with a Cancel button."""
    person = await remember(update, context)
    language = menu_language(person, update)
    services = context.services
    user = update.effective_user
    if user is None:
        return
    if not is_private(update):
        await send(update, services.assistant.fixed("register_private_only", language))
        return
    mine = await registrations.of_person(services.sessions, user.id, services.clock.now())
    if not mine:
        await send(update, services.assistant.fixed("mysessions_none", language))
        return
    text = services.session_text()
    lines = [services.assistant.message("mysessions_header", language)]
    buttons = []
    for view, registration in mine:
        when = text.when(view.starts_at, language)
        lines.append(f"• <b>{when}</b> — {text.status(registration, language)}")
        buttons.append(
            Button(
                services.assistant.message(
                    "mysessions_cancel_button",
                    language,
                    when=text.when(view.starts_at, language, year=False),
                ),
                callbacks.encode("reg", f"cancel-{registration.id}", language),
            )
        )
    await send(update, Reply("\n".join(lines), language, tuple(buttons)))


async def _registration_action(
    update: Update, context: BotContext, pressed: Callback, action: str, registration_id: int
) -> None:
    """cancel-<id> asks, cancelyes-<id> cancels, keep-<id> keeps: only one's own."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    services = context.services
    assistant = services.assistant
    user_id, _ = ids(update)
    text = services.session_text()
    if action == "cancelyes":
        done = await registrations.cancel(
            services.sessions, registration_id, user_id, services.clock.now(), text
        )
        if done is None:
            await send(update, assistant.fixed("cancel_gone", language))
            return
        services.outbox_changed()
        when = text.when(done.session.starts_at, language)
        await send(update, assistant.fixed_with("cancel_done", language, when=when))
        return
    found = await registrations.find(services.sessions, registration_id, user_id)
    if found is None:
        await send(update, assistant.fixed("cancel_gone", language))
        return
    if action == "keep":
        await send(update, assistant.fixed("cancel_kept", language))
        return
    view, _ = found
    buttons = (
        Button(
            assistant.message("cancel_yes", language),
            callbacks.encode("reg", f"cancelyes-{registration_id}", language),
        ),
        Button(
            assistant.message("cancel_no", language),
            callbacks.encode("reg", f"keep-{registration_id}", language),
        ),
    )
    when = text.when(view.starts_at, language)
    await send(
        update, Reply(assistant.message("cancel_ask", language, when=when), language, buttons)
    )


BUTTONS = {"sess": on_session_button, "reg": on_registration_button}
TEXT_FLOWS = {FLOW: on_text}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("sessions", list_sessions))
    application.add_handler(CommandHandler("mysessions", my_sessions))
