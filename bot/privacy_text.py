"""/mydata as a message a person can read: a summary of bot.privacy's PersonalData.

The JSON file holds every detail; the message stays well under Telegram's 4 096
characters by showing the latest few items and counts for the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.assistant import Assistant
from bot.privacy import PersonalData
from bot.session_text import SessionText

SHOWN_QUESTIONS = 5
SHOWN_REGISTRATIONS = 5
QUOTED = 100  # characters of a question quoted in the message
SHORT = 60  # characters of a name or an organisation (the file has them whole)


def describe(data: PersonalData, assistant: Assistant, text: SessionText, language: str) -> str:
    """The summary, in `language`, every value escaped (it may be anything a person typed)."""
    lines = [assistant.message("mydata_header", language)]
    if data.profile is not None:
        profile = data.profile
        name = _short(" ".join(filter(None, (profile["first_name"], profile["last_name"]))))
        if profile["username"]:
            name += f" (@{profile['username']})"
        lines.append(
            assistant.message(
                "mydata_profile",
                language,
                name=name or "?",
                spoken=str(profile["chosen_language"] or profile["telegram_language"] or "?"),
                first=_date(profile["first_contact"], text.zone),
                last=_date(profile["last_seen"], text.zone),
            )
        )
    if data.registrations:
        lines.append(
            assistant.message("mydata_registrations", language, count=str(len(data.registrations)))
        )
        lines += [
            _registration(row, assistant, text, language)
            for row in data.registrations[-SHOWN_REGISTRATIONS:]
        ]
    if data.questions:
        lines.append(
            assistant.message("mydata_questions", language, count=str(len(data.questions)))
        )
        for row in data.questions[-SHOWN_QUESTIONS:]:
            quoted = _short(row["text"], QUOTED)
            lines.append(
                assistant.message(
                    "mydata_question",
                    language,
                    date=_date(row["asked_at"], text.zone),
                    text=quoted,
                )
            )
    for key, rows in (
        ("mydata_feedback", data.feedback),
        ("mydata_handoffs", data.handoffs),
        ("mydata_messages", data.messages),
    ):
        if rows:
            lines.append(assistant.message(key, language, count=str(len(rows))))
    if data.conversations:
        lines.append(assistant.message("mydata_conversation", language))
    lines.append(assistant.message("mydata_footer", language))
    return "\n\n".join(lines)


def _registration(
    row: dict[str, Any], assistant: Assistant, text: SessionText, language: str
) -> str:
    return assistant.message(
        "mydata_registration",
        language,
        when=text.when(row["session_starts_at"], language),
        status=assistant.message(f"mydata_status_{row['status']}", language),
        name=_short(row["name"]),
        organisation=_short(row["organisation"]),
        person_email=row["email"] or assistant.message("register_no_email", language),
    )


def _date(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat() if moment else "?"


def _short(text: str, limit: int = SHORT) -> str:
    """Keeps the summary under Telegram's length limit whatever people typed."""
    return text if len(text) <= limit else text[:limit] + "…"
