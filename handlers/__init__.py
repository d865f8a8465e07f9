"""Telegram-facing code only: parse the update, call bot/, render the reply."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from handlers import errors, faq, language, start


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add every handler. Order matters: commands, then buttons, then free text, then the
    catch-all for unknown commands, which must come after every real command."""
    start.register(application)
    language.register(application)
    faq.register(application)
    errors.register(application)  # last: unknown commands, stale buttons, the error handler
