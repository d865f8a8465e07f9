"""The one typed object handlers reach the application through."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.assistant import Assistant
from bot.broadcasts import BroadcastWatcher
from bot.clock import Clock
from bot.config import Settings
from bot.db import SessionFactory
from bot.dialogues import Dialogues
from bot.leadership import Leadership
from bot.people import People
from bot.questions import QuestionLogWriter
from bot.send_budget import SendBudget
from bot.sender import OutboxSender
from bot.session_text import SessionText


@dataclass
class Services:
    """Bound once when the application is built; `assistant` is swapped by /reload."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock
    assistant: Assistant
    people: People
    question_log: QuestionLogWriter
    dialogues: Dialogues
    # The process's share of Telegram's 30 messages/s, for replies and the outbox alike.
    budget: SendBudget
    sender: OutboxSender | None = None  # set at start: it needs the Telegram bot
    watcher: BroadcastWatcher | None = None  # likewise: it edits staff progress messages
    leadership: Leadership | None = None  # `python -m bot run`: which process sends
    bot_username: str = field(default="")

    def is_staff(self, user_id: int | None) -> bool:
        """Checked on every staff command and every staff button, never cached."""
        return user_id is not None and user_id in self.settings.staff_ids

    def session_text(self) -> SessionText:
        """Session wording from the current knowledge base (it changes on /reload)."""
        return SessionText(
            self.assistant,
            self.settings.timezone,
            self.settings.reminder_offsets,
            self.bot_username,
        )

    def outbox_changed(self) -> None:
        """Rows were queued that may be due now: wake the sender instead of waiting for it
        (in whichever process sends, when several share the database)."""
        if self.leadership is not None:
            self.leadership.wake()
        elif self.sender is not None:
            self.sender.wake()

    def reload_knowledge(self) -> None:
        """Load knowledge/ again; on error (KnowledgeError) the old version stays in place."""
        self.assistant = Assistant.load(
            self.settings.knowledge_dir,
            self.clock,
            self.settings.timezone,
            cache_dir=self.settings.cache_dir,
        )
