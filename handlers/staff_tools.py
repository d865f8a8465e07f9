"""Staff: /reload the knowledge base, /export CSV files, /unanswered questions, /stats.

Rights are checked on every call (`refuse_unless_staff`): anyone else gets the polite
refusal and nothing is read, reloaded or sent. The queries, grouping and CSV building live
in `bot.reports` and `bot.exports`; this module only parses, calls and renders.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import exports, reports
from bot.assistant import Assistant, Reply
from bot.context import BotContext
from bot.knowledge import KnowledgeError
from bot.render import format_date, format_number
from bot.services import Services
from handlers.common import (
    is_private,
    send,
    send_file,
    staff_language,
)

MAX_GROUPS_SHOWN = 20  # /unanswered: the list to write next, not the whole log
EXAMPLE_CHARS = 150  # an example longer than this is cut with "…"


# ---------------------------------------------------------------------- /reload


async def reload_knowledge(update: Update, context: BotContext) -> None:
    """/reload: read knowledge/ again; on errors keep the current version and list them."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    try:
        await asyncio.to_thread(services.reload_knowledge)  # parsing, training: off the loop
    except KnowledgeError as error:
        await send(update, Reply(_reload_errors(services.assistant, error, language), language))
        return
    assistant = services.assistant  # the new version speaks from now on
    count = format_number(len(assistant.knowledge.entries), language)
    await send(update, assistant.fixed_with("reload_done", language, entries=count))


def _reload_errors(assistant: Assistant, error: KnowledgeError, language: str) -> str:
    """Every error (file, entry, field), escaped, as many as fit in one message."""
    errors = [problem for problem in error.problems if problem.severity == "error"]
    head = assistant.message("reload_failed", language, count=str(len(errors)))
    end = assistant.message("reload_failed_end", language)

    def closing(left: int) -> str:
        more = assistant.message("reload_more", language, count=str(left)) if left else ""
        return "\n".join(part for part in (more, end) if part)

    lines = ["• " + html.escape(str(problem), quote=False) for problem in errors]
    return reports.fit(head, lines, closing)


# ---------------------------------------------------------------------- /export


async def export(update: Update, context: BotContext) -> None:
    """/export: registrations per session, then the question log, as CSV files."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    assistant = services.assistant
    if not is_private(update):
        await send(update, assistant.fixed("export_private_only", language))
        return
    now, zone = services.clock.now(), services.settings.timezone
    sessions, empty = await exports.registrations(services.sessions, now, zone)
    questions = await exports.question_log(services.sessions, now, zone)
    days = str(exports.PAST_DAYS)
    lines = [assistant.message("export_intro", language, days=days)]
    if not sessions:
        lines.append(assistant.message("export_no_registrations", language, days=days))
    if empty:
        lines.append(assistant.message("export_empty_sessions", language, count=str(empty)))
    await send(update, Reply("\n\n".join(lines), language))
    text = services.session_text()
    for item in sessions:
        caption = assistant.message(
            "export_session_caption",
            language,
            when=text.when(item.starts_at, language),
            title=item.title[:200],
            count=str(item.file.rows),
        )
        await send_file(update, item.file.filename, item.file.content, caption)
    caption = assistant.message(
        "export_questions_caption", language, count=format_number(questions.file.rows, language)
    )
    if questions.truncated:
        caption += "\n" + assistant.message(
            "export_questions_truncated",
            language,
            count=format_number(questions.file.rows, language),
        )
    await send_file(update, questions.file.filename, questions.file.content, caption)


# ---------------------------------------------------------------------- /unanswered


async def unanswered(update: Update, context: BotContext) -> None:
    """/unanswered [days]: declined questions grouped by similarity, most frequent first."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    assistant = services.assistant
    arguments = context.args or []
    days = reports.parse_days(" ".join(arguments) if arguments else None)
    if days is None:
        await send(
            update,
            assistant.fixed_with(
                "unanswered_usage",
                language,
                value=" ".join(arguments)[:40],
                most=str(reports.MAX_DAYS),
            ),
        )
        return
    found = await reports.unanswered(services.sessions, services.clock.now(), days)
    await send(update, Reply(unanswered_text(assistant, found, language), language))


def unanswered_text(assistant: Assistant, found: reports.Unanswered, language: str) -> str:
    """The /unanswered message: a header, then one line per group, all in one message."""
    days = str(found.days)
    if not found.groups:
        return assistant.message("unanswered_none", language, days=days)
    head = assistant.message(
        "unanswered_header",
        language,
        days=days,
        total=format_number(found.total, language),
        groups=format_number(len(found.groups), language),
    )
    shown = found.groups[:MAX_GROUPS_SHOWN]
    hidden = len(found.groups) - len(shown)

    def closing(left: int) -> str:
        parts = []
        if left + hidden:
            parts.append(assistant.message("unanswered_more", language, count=str(left + hidden)))
        if found.ungrouped:
            count = format_number(found.ungrouped, language)
            parts.append(assistant.message("unanswered_capped", language, count=count))
        return "\n".join(parts)

    lines = [_group_line(assistant, group, language) for group in shown]
    return reports.fit(head, lines, closing)


def _group_line(assistant: Assistant, group: reports.Group, language: str) -> str:
    example = " ".join(group.example.split())  # one line, whatever was typed
    if len(example) > EXAMPLE_CHARS:
        example = example[: EXAMPLE_CHARS - 1].rstrip() + "…"
    count = format_number(group.count, language)
    if group.wordings > 1:
        return assistant.message(
            "unanswered_group_wordings",
            language,
            count=count,
            example=example,
            wordings=str(group.wordings),
        )
    return assistant.message("unanswered_group", language, count=count, example=example)


# ---------------------------------------------------------------------- /stats


async def stats(update: Update, context: BotContext) -> None:
    """/stats: people, questions, answered rate, top topics, registrations per session."""
    language = await staff_language(update, context)
    if language is None:
        return
    services = context.services
    knowledge = services.assistant.knowledge
    smalltalk = [key for key, entry in knowledge.entries.items() if entry.kind == "smalltalk"]
    figures = await reports.stats(services.sessions, services.clock.now(), not_topics=smalltalk)
    await send(update, Reply(stats_text(services, figures, language), language))


def stats_text(services: Services, figures: reports.Stats, language: str) -> str:
    """One section per line group, in the order staff read them."""
    assistant = services.assistant
    days = str(figures.days)
    today = format_date(
        services.clock.now().astimezone(services.settings.timezone).date(), language
    )
    sections = [
        assistant.message("stats_header", language, today=today),
        assistant.message(
            "stats_people",
            language,
            total=format_number(figures.people, language),
            active=format_number(figures.active_people, language),
            days=days,
        ),
        _questions(assistant, figures, language),
        _topics(assistant, figures, language),
        _satisfaction(assistant, figures, language),
        _sessions(services, figures, language),
        assistant.message(
            "stats_broadcasts",
            language,
            count=str(figures.broadcasts),
            days=days,
            sent=format_number(figures.broadcast_sent, language),
            failed=format_number(figures.broadcast_failed, language),
            unreachable=format_number(figures.broadcast_unreachable, language),
        ),
    ]
    return reports.fit(sections[0], sections[1:], lambda left: "…" if left else "")


def _satisfaction(assistant: Assistant, figures: reports.Stats, language: str) -> str:
    votes = figures.helpful + figures.unhelpful
    if not votes:
        return assistant.message("stats_satisfaction_none", language, days=str(figures.days))
    return assistant.message(
        "stats_satisfaction",
        language,
        up=format_number(figures.helpful, language),
        down=format_number(figures.unhelpful, language),
        rate=format_number(round(100 * figures.helpful / votes), language),
        days=str(figures.days),
    )


def _questions(assistant: Assistant, figures: reports.Stats, language: str) -> str:
    total, days = format_number(figures.questions, language), str(figures.days)
    rate = figures.answered_rate
    if rate is None:
        return assistant.message("stats_questions_none", language, total=total, days=days)
    return assistant.message(
        "stats_questions",
        language,
        total=total,
        recent=format_number(figures.recent_questions, language),
        days=days,
        rate=str(round(rate * 100)),
        answered=format_number(figures.recent_answered, language),
    )


def _topics(assistant: Assistant, figures: reports.Stats, language: str) -> str:
    days = str(figures.days)
    if not figures.topics:
        return assistant.message("stats_topics_none", language, days=days)
    entries = assistant.knowledge.entries
    lines = [assistant.message("stats_topics", language, days=days)]
    for rank, topic in enumerate(figures.topics, start=1):
        title = (
            assistant.knowledge.title(topic.entry_id, language)
            if topic.entry_id in entries
            else topic.entry_id  # an entry since removed from the base
        )
        lines.append(
            assistant.message(
                "stats_topic",
                language,
                rank=str(rank),
                title=title,
                count=format_number(topic.count, language),
            )
        )
    return "\n".join(lines)


def _sessions(services: Services, figures: reports.Stats, language: str) -> str:
    assistant = services.assistant
    if not figures.sessions:
        return assistant.message("stats_sessions_none", language)
    text = services.session_text()
    lines = [assistant.message("stats_sessions", language)]
    for view in figures.sessions:
        lines.append(
            assistant.message(
                "stats_session",
                language,
                when=text.when(view.starts_at, language, year=False),
                confirmed=str(view.confirmed),
                waitlisted=str(view.waitlisted),
                capacity=str(view.capacity),
            )
        )
    return "\n".join(lines)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("reload", reload_knowledge))
    application.add_handler(CommandHandler("export", export))
    application.add_handler(CommandHandler("unanswered", unanswered))
    application.add_handler(CommandHandler("stats", stats))
