"""Staff: create sessions (one line, or step by step) and cancel them, telling everyone.

Rights are checked on every command, every typed step and every button: a person removed
from STAFF_IDS mid-dialogue can go no further, and a forged staff button does nothing.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import callbacks, infosessions
from bot.assistant import Button, Html, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.infosessions import NewSession
from bot.session_input import (
    InputError,
    Problem,
    local_instant,
    parse_capacity,
    parse_command,
    parse_date,
    parse_duration,
    parse_language,
    parse_link,
    parse_time,
    parse_title,
)
from handlers.common import (
    choices,
    ids,
    is_private,
    menu_language,
    refuse_unless_staff,
    remember,
    send,
    staff_language,
)

FLOW = "newsession"
# The steps of /newsession without arguments, in order, with what reads each answer.
STEPS = ("date", "time", "duration", "capacity", "lang", "link", "title", "confirm")


async def new_session(update: Update, context: BotContext) -> None:
    """/newsession [YYYY-MM-DD HH:MM key=value… title=…]"""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    assistant = services.assistant
    text = services.session_text()
    message = update.effective_message
    # The raw text rather than context.args: the title keeps its own spacing.
    arguments = (message.text or "").partition(" ")[2].strip() if message else ""
    if not arguments:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None or not is_private(update):
            await send(
                update, assistant.fixed_with("newsession_usage", language, zone=text.zone_label())
            )
            return
        await services.dialogues.put(
            user.id, chat.id, State(FLOW, "date", {"language": language}), services.clock.now()
        )
        await send(update, assistant.fixed("newsession_ask_date", language))
        return
    try:
        new = parse_command(
            arguments,
            services.clock.now(),
            text.zone,
            lambda spoken: assistant.message("session_default_title", spoken),
        )
    except InputError as error:
        await _explain(update, context, error.problems, language)
        return
    await _publish(update, context, new, language)


async def _explain(
    update: Update, context: BotContext, problems: list[Problem], language: str
) -> None:
    assistant = context.services.assistant
    listed = "\n".join(
        "• " + assistant.message(problem.key, language, value=problem.value)
        for problem in problems
    )
    text = assistant.message("newsession_problems", language, problems=Html(listed))
    usage = assistant.message(
        "newsession_usage", language, zone=context.services.session_text().zone_label()
    )
    await send(update, Reply(text + "\n\n" + usage, language))


async def _publish(update: Update, context: BotContext, new: NewSession, language: str) -> None:
    services = context.services
    user = update.effective_user
    view = await infosessions.create(
        services.sessions, new, user.id if user else None, services.clock.now()
    )
    text = services.session_text()
    await send(
        update,
        services.assistant.fixed_with(
            "newsession_created",
            language,
            when=text.when(view.starts_at, language),
            details=text.details(view, language),
            capacity=str(view.capacity),
        ),
    )


# ---------------------------------------------------------------------- step by step


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """A typed answer to the current /newsession question."""
    language = str(state.data.get("language", "fr"))
    if await refuse_unless_staff(update, context, language):
        await _end(update, context)
        return
    message = update.effective_message
    assert message is not None
    typed = (message.text or "").strip()
    services = context.services
    readers = {
        "date": parse_date,
        "time": parse_time,
        "duration": parse_duration,
        "capacity": parse_capacity,
        "lang": parse_language,
        "link": parse_link,
        "title": parse_title,
    }
    if state.step not in readers:  # "confirm": the buttons are waiting
        await _ask(update, context, state)
        return
    value = readers[state.step](typed)
    if state.step == "time" and isinstance(value, time):
        instant = local_instant(
            date.fromisoformat(state.data["date"]),
            value,
            services.session_text().zone,
            services.clock.now(),
        )
        if isinstance(instant, Problem):  # past, or skipped by a clock change: start over
            await _try_again(update, context, instant, language)
            state = State(FLOW, "date", state.data)
            await _save(update, context, state)
            await _ask(update, context, state)
            return
    if isinstance(value, Problem):
        await _try_again(update, context, value, language)
        return
    stored = value.isoformat() if isinstance(value, date | time) else value
    await _next(update, context, state, stored)


async def _try_again(update: Update, context: BotContext, problem: Problem, language: str) -> None:
    assistant = context.services.assistant
    reason = assistant.message(problem.key, language, value=problem.value)
    await send(
        update, assistant.fixed_with("newsession_try_again", language, problem=Html(reason))
    )


async def _next(update: Update, context: BotContext, state: State, value: object) -> None:
    """Store the answer to the current step and ask the next question."""
    data = {**state.data, state.step: value}
    following = STEPS[STEPS.index(state.step) + 1]
    new = State(FLOW, following, data)
    await _save(update, context, new)
    await _ask(update, context, new)


async def _save(update: Update, context: BotContext, state: State) -> None:
    user_id, chat_id = ids(update)
    services = context.services
    await services.dialogues.put(user_id, chat_id, state, services.clock.now())


async def _end(update: Update, context: BotContext) -> None:
    user_id, chat_id = ids(update)
    await context.services.dialogues.clear(user_id, chat_id)


async def _ask(update: Update, context: BotContext, state: State) -> None:
    language = str(state.data.get("language", "fr"))
    services = context.services
    assistant = services.assistant
    text = services.session_text()

    def button(key: str, value: str) -> Button:
        return Button(assistant.message(key, language), callbacks.encode("staff", value, language))

    step = state.step
    if step == "date":
        reply = assistant.fixed("newsession_ask_date", language)
    elif step == "time":
        reply = assistant.fixed_with("newsession_ask_time", language, zone=text.zone_label())
    elif step in ("duration", "capacity"):
        reply = assistant.fixed(f"newsession_ask_{step}", language)
    elif step == "lang":
        reply = Reply(
            assistant.message("newsession_ask_language", language),
            language,
            (
                Button("Français", callbacks.encode("staff", "lang-fr", language)),
                Button("English", callbacks.encode("staff", "lang-en", language)),
            ),
        )
    elif step == "link":
        reply = Reply(
            assistant.message("newsession_ask_link", language),
            language,
            (button("newsession_link_later", "nolink"),),
        )
    elif step == "title":
        default = assistant.message("session_default_title", str(state.data.get("lang", "fr")))
        reply = Reply(
            assistant.message("newsession_ask_title", language, default=default),
            language,
            (button("newsession_default_title_button", "deftitle"),),
        )
    else:
        new = _collected(context, state)
        if new is None:
            await _end(update, context)
            await send(update, assistant.fixed("newsession_discarded", language))
            return
        view_when = text.when(new.starts_at, language)
        spoken = assistant.message(f"session_language_{new.language}", language)
        minutes = assistant.message("session_minutes", language, count=str(new.duration_minutes))
        reply = Reply(
            assistant.message(
                "newsession_summary",
                language,
                when=view_when,
                details=f"{minutes}, {spoken}",
                title=new.title,
                capacity=str(new.capacity),
                link=new.link or assistant.message("link_to_come", language),
            ),
            language,
            (button("newsession_create", "create"), button("newsession_discard", "discard")),
        )
    await send(update, reply)


def _collected(context: BotContext, state: State) -> NewSession | None:
    """The session described by the answers (validated when typed); None if its time has
    passed while the staff member was typing."""
    data = state.data
    zone = context.services.session_text().zone
    instant = local_instant(
        date.fromisoformat(data["date"]),
        time.fromisoformat(data["time"]),
        zone,
        context.services.clock.now(),
    )
    if isinstance(instant, Problem):
        return None
    session_language = str(data.get("lang") or "fr")
    title = data.get("title") or context.services.assistant.message(
        "session_default_title", session_language
    )
    return NewSession(
        starts_at=instant,
        duration_minutes=int(data["duration"]),
        capacity=int(data["capacity"]),
        language=session_language,
        title=str(title),
        link=data.get("link") or None,
    )


async def on_staff_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`staff:…` buttons; nothing happens for someone who is not staff."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    if await refuse_unless_staff(update, context, language):
        return
    action, number = callbacks.numbered(pressed.value)
    if number is not None or action == "keep":
        await _cancel_action(update, context, action, number, language)
        return
    services = context.services
    user_id, chat_id = ids(update)
    state = await services.dialogues.get(user_id, chat_id, services.clock.now())
    expected = {
        "lang": "lang",
        "nolink": "link",
        "deftitle": "title",
        "create": "confirm",
        "discard": None,
    }
    if state is None or state.flow != FLOW or expected[action] not in (None, state.step):
        await send(update, services.assistant.fixed("button_expired", language))
        return
    if action == "lang":
        await _next(update, context, state, pressed.value[-2:])
    elif action in ("nolink", "deftitle"):
        await _next(update, context, state, None)
    elif action == "discard":
        await _end(update, context)
        await send(update, services.assistant.fixed("newsession_discarded", language))
    else:
        new = _collected(context, state)
        await _end(update, context)
        if new is None:
            await send(update, services.assistant.fixed("newsession_discarded", language))
            return
        await _publish(update, context, new, language)


# ---------------------------------------------------------------------- cancelling


async def cancel_session(update: Update, context: BotContext) -> None:
    """/cancelsession: choose among the upcoming sessions."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    views = await infosessions.upcoming(services.sessions, services.clock.now())
    if not views:
        await send(update, services.assistant.fixed("cancelsession_none", language))
        return
    text = services.session_text()
    buttons = tuple(
        Button(
            services.assistant.message(
                "cancelsession_button",
                language,
                when=text.when(view.starts_at, language, year=False),
                count=str(view.confirmed + view.waitlisted),
            ),
            callbacks.encode("staff", f"cancel-{view.id}", language),
        )
        for view in views
    )
    await send(
        update,
        Reply(services.assistant.message("cancelsession_choose", language), language, buttons),
    )


async def _cancel_action(
    update: Update, context: BotContext, action: str, session_id: int | None, language: str
) -> None:
    services = context.services
    assistant = services.assistant
    text = services.session_text()
    if action == "keep":
        await send(update, assistant.fixed("cancelsession_kept", language))
        return
    if action == "cancelyes" and session_id is not None:
        done = await infosessions.cancel(
            services.sessions, session_id, services.clock.now(), text.session_cancelled
        )
        if done is None:
            await send(update, assistant.fixed("cancelsession_gone", language))
            return
        services.outbox_changed()
        view, told = done
        await send(
            update,
            assistant.fixed_with(
                "cancelsession_done",
                language,
                when=text.when(view.starts_at, language),
                count=str(told),
            ),
        )
        return
    current = await infosessions.get(services.sessions, session_id or 0)
    if current is None or not current.is_open(services.clock.now()):
        await send(update, assistant.fixed("cancelsession_gone", language))
        return
    buttons = choices(
        assistant,
        language,
        ("cancelsession_yes", "staff", f"cancelyes-{current.id}"),
        ("cancelsession_no", "staff", "keep"),
    )
    await send(
        update,
        Reply(
            assistant.message(
                "cancelsession_ask",
                language,
                when=text.when(current.starts_at, language),
                count=str(current.confirmed + current.waitlisted),
            ),
            language,
            buttons,
        ),
    )


BUTTONS = {"staff": on_staff_button}
TEXT_FLOWS = {FLOW: on_text}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("newsession", new_session))
    application.add_handler(CommandHandler("cancelsession", cancel_session))
