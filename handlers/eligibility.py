"""/eligibility: the questionnaire of knowledge/eligibility.yaml, one question at a time.

One generic step handler serves every question (the questions are data, bot.eligibility
walks them). The conversation row (bot.dialogues) holds only the run id, the answers so
far and the language, so any process continues it after a restart. Buttons carry the run
and the step: a button from an older questionnaire or an earlier question is recognised
and answered kindly, never acted on.
"""

from __future__ import annotations

import secrets
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import callbacks, eligibility
from bot.assistant import Button, Html, Reply
from bot.callbacks import Callback
from bot.context import BotContext
from bot.dialogues import State
from bot.eligibility import Path, Progress
from bot.kb_schema import EligibilityFile
from handlers import faq
from handlers.common import ids, is_private, menu_language, remember, send

FLOW = "eligibility"
ACTION_MESSAGES = {"sessions": "followup_sessions", "contact": "followup_contact"}


async def ask_eligibility(update: Update, context: BotContext) -> None:
    """/eligibility: start the questionnaire."""
    person = await remember(update, context)
    await begin(update, context, menu_language(person, update))


async def begin(update: Update, context: BotContext, language: str) -> None:
    """A new run (command, menu, FAQ follow-up, Start over): intro and first question."""
    services = context.services
    if not is_private(update):
        link = f"https://t.me/{services.bot_username}?start=eligibility"
        await send(
            update, services.assistant.fixed_with("eligibility_private_only", language, link=link)
        )
        return
    run = secrets.token_hex(3)
    await _save(update, context, run, (), "question", language)
    progress = eligibility.walk(_questionnaire(context), ())
    assert progress is not None  # kb check guarantees the start question exists
    await send(update, _render(context, run, progress, language))


async def on_button(update: Update, context: BotContext, pressed: Callback) -> None:
    """`elig:…`: an answer, Back, or Start over; only on the person's current question."""
    person = await remember(update, context)
    language = pressed.language or menu_language(person, update)
    if pressed.value == "restart":
        await begin(update, context, language)
        return
    action, run, step, index = _parts(pressed.value)
    services = context.services
    user_id, chat_id = ids(update)
    state = await services.dialogues.get(user_id, chat_id, services.clock.now())
    if state is None or state.flow != FLOW:  # ended: idle too long, /cancel, another command
        await send(update, _closed(context, language))
        return
    language = str(state.data.get("language", language))
    path = eligibility.as_path(state.data.get("path"))
    current = eligibility.walk(_questionnaire(context), path) if path is not None else None
    if path is None or current is None:  # the questionnaire was edited since: start again
        await send(update, context.services.assistant.fixed("eligibility_changed", language))
        await begin(update, context, language)
        return
    if state.data.get("run") != run or step != current.step:
        await _show_current(update, context, state, current, "eligibility_old_button")
        return
    if action == "back":
        path = path[:-1]
        moved = eligibility.walk(_questionnaire(context), path)
    else:
        result = eligibility.answer(_questionnaire(context), path, step, index)
        path, moved = result if result is not None else (path, None)
    if moved is None:  # Back on the first question, or an answer the question lacks
        await _show_current(update, context, state, current, "eligibility_old_button")
        return
    await _save(update, context, run, path, "outcome" if moved.done else "question", language)
    await send(update, _render(context, run, moved, language))


async def on_text(update: Update, context: BotContext, state: State) -> None:
    """Typed text: after the result, a question for the FAQ again; during the questions, a
    question the FAQ answers is answered, then the current question comes back; anything
    else is pointed to the buttons."""
    if state.step == "outcome":
        user_id, chat_id = ids(update)
        await context.services.dialogues.clear(user_id, chat_id)
        await faq.answer_question(update, context)
        return
    path = eligibility.as_path(state.data.get("path")) or ()
    current = eligibility.walk(_questionnaire(context), path)
    if current is None:
        await begin(update, context, str(state.data.get("language", "fr")))
        return
    message = update.effective_message
    typed = (message.text or "") if message is not None else ""
    understood = context.services.assistant.understand(typed, None, None)
    note = "eligibility_tap_answer"
    if understood.kind == "answer":
        await faq.answer_question(update, context)
        note = "eligibility_resume"
    await _show_current(update, context, state, current, note)


async def _show_current(
    update: Update,
    context: BotContext,
    state: State,
    current: Progress,
    note: str,
) -> None:
    """A short note, then the question (or result) the person is at, with live buttons."""
    language = str(state.data.get("language", "fr"))
    reply = _render(context, str(state.data.get("run", "")), current, language)
    text = context.services.assistant.message(note, language) + "\n\n" + reply.text
    await send(update, Reply(text, language, reply.buttons, reply.row))


def _render(context: BotContext, run: str, progress: Progress, language: str) -> Reply:
    if progress.question is None:
        return _outcome(context, run, progress, language)
    assistant = context.services.assistant
    knowledge = assistant.knowledge
    questionnaire = _questionnaire(context)
    text = assistant.message(
        "eligibility_question",
        language,
        number=str(progress.step + 1),
        total=str(eligibility.longest(questionnaire)),
        question=Html(knowledge.text(progress.question.text, language)),
    )
    if progress.step == 0:
        text = knowledge.text(questionnaire.intro, language) + "\n\n" + text
    buttons = tuple(
        Button(
            knowledge.text(choice.label, language),
            callbacks.encode("elig", f"ans-{run}-{progress.step}-{index}", language),
        )
        for index, choice in enumerate(progress.question.answers)
    )
    return Reply(text, language, buttons, _moves(context, run, progress.step, language))


def _outcome(context: BotContext, run: str, progress: Progress, language: str) -> Reply:
    """The result, kind and clear, with its next steps as buttons."""
    assistant = context.services.assistant
    knowledge = assistant.knowledge
    questionnaire = _questionnaire(context)
    outcome = questionnaire.outcomes[progress.outcome_id or ""]
    actions = list(outcome.actions)
    if outcome.kind == "eligible" and progress.todos and outcome.with_todos is not None:
        lines = [knowledge.text(outcome.with_todos, language)]
        for key in progress.todos:
            todo = questionnaire.todos[key]
            lines.append("• " + knowledge.text(todo.text, language))
            actions = [*todo.actions, *actions]
        text = "\n".join(lines)
    else:
        text = knowledge.text(outcome.text, language)
    buttons = [
        Button(
            assistant.message(ACTION_MESSAGES[action], language),
            callbacks.encode("menu", action, language),
        )
        for action in dict.fromkeys(actions)  # in order, once each
    ]
    buttons += [
        Button(knowledge.title(entry, language), callbacks.encode("faq", entry, language))
        for entry in outcome.entries
        if entry in knowledge.entries
    ]
    return Reply(text, language, tuple(buttons), _moves(context, run, progress.step, language))


def _moves(context: BotContext, run: str, step: int, language: str) -> tuple[Button, ...]:
    """Back one question and Start over, once there is something to go back to."""
    if step == 0:
        return ()
    assistant = context.services.assistant
    return (
        Button(
            assistant.message("eligibility_back", language),
            callbacks.encode("elig", f"back-{run}-{step}", language),
        ),
        Button(
            assistant.message("eligibility_restart", language),
            callbacks.encode("elig", "restart", language),
        ),
    )


def _closed(context: BotContext, language: str) -> Reply:
    """The questionnaire ended (a long pause, /cancel, another command): offer a new one."""
    assistant = context.services.assistant
    restart = Button(
        assistant.message("eligibility_restart", language),
        callbacks.encode("elig", "restart", language),
    )
    return Reply(assistant.message("eligibility_closed", language), language, (restart,))


async def _save(
    update: Update, context: BotContext, run: str, path: Path, step: str, language: str
) -> None:
    user_id, chat_id = ids(update)
    services = context.services
    data = {"run": run, "path": [list(pair) for pair in path], "language": language}
    await services.dialogues.put(user_id, chat_id, State(FLOW, step, data), services.clock.now())


def _parts(value: str) -> tuple[str, str, int, int]:
    """`ans-<run>-<step>-<index>` or `back-<run>-<step>` (already checked by the codec)."""
    parts = value.split("-")
    numbers = [int(part) for part in parts[2:]] + [0]
    return parts[0], parts[1], numbers[0], numbers[1]


def _questionnaire(context: BotContext) -> EligibilityFile:
    questionnaire = context.services.assistant.knowledge.eligibility
    assert questionnaire is not None  # a base without eligibility.yaml does not load
    return questionnaire


BUTTONS = {"elig": on_button}
TEXT_FLOWS = {FLOW: on_text}


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("eligibility", ask_eligibility))
