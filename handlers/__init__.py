"""Telegram-facing code only: parse the update, call bot/, render the reply."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from handlers import (
    announcements,
    broadcasts,
    buttons,
    eligibility,
    errors,
    faq,
    feedback,
    handoff,
    language,
    privacy,
    sessions,
    staff_sessions,
    staff_tools,
    start,
    text,
)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every handler. Order matters: the catch-all for unknown commands must come after
    every real command. Buttons all go through one dispatcher (see handlers.buttons)."""
    start.register(application)
    language.register(application)
    sessions.register(application)
    announcements.register(application)
    staff_sessions.register(application)
    staff_tools.register(application)
    broadcasts.register(application)
    handoff.register(application)  # before text: staff replies are not questions
    eligibility.register(application)
    privacy.register(application)
    text.register(
        application,
        {
            **sessions.TEXT_FLOWS,
            **staff_sessions.TEXT_FLOWS,
            **feedback.TEXT_FLOWS,
            **broadcasts.TEXT_FLOWS,
            **handoff.TEXT_FLOWS,
            **eligibility.TEXT_FLOWS,
        },
    )
    faq.register(application)
    buttons.register(
        application,
        {
            **start.BUTTONS,
            **language.BUTTONS,
            **faq.BUTTONS,
            **sessions.BUTTONS,
            **staff_sessions.BUTTONS,
            **feedback.BUTTONS,
            **announcements.BUTTONS,
            **broadcasts.BUTTONS,
            **handoff.BUTTONS,
            **eligibility.BUTTONS,
            **privacy.BUTTONS,
        },
    )
    errors.register(application)  # last: unknown commands (after every real command), errors
