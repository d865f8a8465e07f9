"""From a question to a reply: language, match, answer text and buttons. No Telegram here."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.clock import Clock
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.language import choose_language
from bot.matcher import Match, Matcher
from bot.text import fold

REQUIRED_MESSAGES = frozenset(
    {
        "welcome",
        "menu_intro",
        "menu_ask",
        "menu_eligibility",
        "menu_sessions",
        "menu_language",
        "ask_prompt",
        "help",
        "unknown_command",
        "not_sure",
        "not_sure_no_suggestion",
        "ask_person_button",
        "contact_details",
        "followup_sessions",
        "followup_eligibility",
        "followup_contact",
        "language_prompt",
        "language_set",
        "empty_message",
        "emoji_only",
        "non_text",
        "too_long",
        "button_expired",
        "error",
        "staff_only",
    }
)
# Offered when a question shares no word with any entry: what people ask about most.
FALLBACK_SUGGESTIONS = ("leadership-overview", "grants", "info-session")
# The entry a follow-up button leads to, so the same answer is not offered twice.
FOLLOWUP_ENTRIES = {
    "sessions": "info-session",
    "eligibility": "prerequisites",
    "contact": "contact",
}
LONG_MESSAGE = 1500  # characters past which we say we only read the start


class Html(str):
    """Text already safe for Telegram HTML (built from the catalogue): not escaped again."""


@dataclass(frozen=True)
class Button:
    """An inline button as plain data: the handlers turn it into Telegram's type."""

    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    text: str  # Telegram HTML
    language: str
    buttons: tuple[Button, ...] = ()  # one per row: their labels are sentences
    row: tuple[Button, ...] = ()  # a last row of small buttons side by side (👍 👎)


@dataclass(frozen=True)
class Understanding:
    """What the bot made of a free-text message."""

    language: str
    match: Match
    kind: str  # "answer", "smalltalk", "unsure", "empty", "emoji"


class Assistant:
    """Everything the bot says, built from one knowledge base version."""

    def __init__(self, knowledge: KnowledgeBase, matcher: Matcher, clock: Clock, zone: ZoneInfo):
        self.knowledge = knowledge
        self.matcher = matcher
        self._clock = clock
        self._zone = zone

    @classmethod
    def load(
        cls,
        directory: Path,
        clock: Clock,
        zone: ZoneInfo,
        threshold: float | None = None,
        cache_dir: Path | None = None,
    ) -> Assistant:
        """Load and validate knowledge/ (raises KnowledgeError) and build the matcher."""
        knowledge = load_knowledge(directory, REQUIRED_MESSAGES)
        matcher = Matcher(
            knowledge.entries,
            knowledge.synonyms,
            threshold,
            examples=knowledge.examples,
            cache_dir=cache_dir,
        )
        return cls(knowledge, matcher, clock, zone)

    def today(self) -> dt.date:
        return self._clock.now().astimezone(self._zone).date()

    def message(self, key: str, language: str, **values: str) -> str:
        """A catalogue sentence; values are escaped since they may come from users."""
        safe = {
            name: value if isinstance(value, Html) else html.escape(value, quote=False)
            for name, value in values.items()
        }
        return self.knowledge.message(key, language, **safe)

    # ------------------------------------------------------------------ questions

    def understand(
        self, text: str, chosen: str | None, telegram_code: str | None
    ) -> Understanding:
        """Classify a message: empty, emoji only, small talk, a confident answer, or unsure."""
        language = choose_language(text, chosen, telegram_code)
        if not text.strip():
            return Understanding(language, Match(None, 0.0, False, ()), "empty")
        if not fold(text):
            return Understanding(language, Match(None, 0.0, False, ()), "emoji")
        match = self.matcher.match(text)
        if not match.confident or match.entry_id is None:
            return Understanding(language, match, "unsure")
        kind = (
            "smalltalk" if self.knowledge.entries[match.entry_id].kind == "smalltalk" else "answer"
        )
        return Understanding(language, match, kind)

    def reply_to(self, understanding: Understanding) -> Reply:
        """The reply for an understood message."""
        language = understanding.language
        if understanding.kind in ("empty", "emoji"):
            key = "empty_message" if understanding.kind == "empty" else "emoji_only"
            return Reply(self.message(key, language), language)
        if understanding.kind == "unsure" or understanding.match.entry_id is None:
            return self.unsure(understanding.match, language)
        return self.entry(understanding.match.entry_id, language)

    def entry(self, entry_id: str, language: str) -> Reply:
        """A confident answer, with its own follow-up buttons (never the hand-off one)."""
        entry = self.knowledge.entries[entry_id]
        text = self.knowledge.answer(entry_id, language, self.today())
        buttons = [self._followup(action, language) for action in entry.followups]
        covered = {FOLLOWUP_ENTRIES[action] for action in entry.followups}
        buttons += [
            Button(
                self.knowledge.title(related, language),
                callbacks.encode("faq", related, language),
            )
            for related in entry.related
            if related in self.knowledge.entries and related not in covered
        ]
        return Reply(text, language, tuple(buttons), self._feedback(entry_id, language))

    def _feedback(self, entry_id: str, language: str) -> tuple[Button, ...]:
        if self.knowledge.entries[entry_id].kind == "smalltalk":
            return ()
        return (
            Button("👍", callbacks.encode("fb", f"up-{entry_id}", language)),
            Button("👎", callbacks.encode("fb", f"down-{entry_id}", language)),
        )

    def unsure(self, match: Match, language: str) -> Reply:
        """Say so plainly, offer the closest topics (topped up with the most asked ones
        when fewer than three are close at all), and always a person.

        The person button carries no question id: the hand-off acts on the presser's own
        latest question, so forged data cannot reach someone else's.
        """
        closest = match.suggestions if match.score > 0 else ()
        suggestions = [
            Button(
                self.knowledge.title(entry_id, language),
                callbacks.encode("faq", entry_id, language),
            )
            for entry_id in [
                e
                for e in dict.fromkeys([*closest, *FALLBACK_SUGGESTIONS])
                if e in self.knowledge.entries
            ][:3]
        ]
        key = "not_sure" if suggestions else "not_sure_no_suggestion"
        person = Button(
            self.message("ask_person_button", language),
            callbacks.encode("human", "ask", language),
        )
        return Reply(self.message(key, language), language, (*suggestions, person))

    def _followup(self, action: str, language: str) -> Button:
        return Button(
            self.message(f"followup_{action}", language),
            callbacks.encode("menu", action, language),
        )

    # ------------------------------------------------------------------ fixed replies

    def welcome(self, name: str, language: str) -> Reply:
        text = self.message("welcome", language, name=name)
        text += "\n\n" + self.message("menu_intro", language)
        return Reply(text, language, self.menu(language))

    def menu(self, language: str) -> tuple[Button, ...]:
        return tuple(
            Button(
                self.message(f"menu_{action}", language),
                callbacks.encode("menu", action, language),
            )
            for action in ("ask", "eligibility", "sessions", "announcements", "language")
        )

    def contact(self, language: str) -> Reply:
        return Reply(self.message("contact_details", language), language)

    def language_choice(self, language: str) -> Reply:
        buttons = (
            Button("🇫🇷 Français", callbacks.encode("lang", "fr")),
            Button("🇬🇧 English", callbacks.encode("lang", "en")),
        )
        return Reply(self.message("language_prompt", language), language, buttons)

    def fixed(self, key: str, language: str) -> Reply:
        """A catalogue sentence on its own."""
        return Reply(self.message(key, language), language)

    def fixed_with(self, key: str, language: str, **values: str) -> Reply:
        """A catalogue sentence with values (escaped: they may come from users)."""
        return Reply(self.message(key, language, **values), language)

    def welcome_menu(self, language: str) -> Reply:
        """The menu alone, e.g. after a language change."""
        return Reply(self.message("menu_intro", language), language, self.menu(language))
