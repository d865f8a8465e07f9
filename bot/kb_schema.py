"""The shape of every file under knowledge/: the single source of truth for editors' mistakes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LANGUAGES: tuple[str, ...] = ("fr", "en")
Language = Literal["fr", "en"]
ENTRY_ID = r"^[a-z0-9][a-z0-9-]{0,39}$"
FACT_KEY = r"^[a-z][a-z0-9_]*$"


class Strict(BaseModel):
    """Unknown fields are mistakes (a misspelt `phrasing:` must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(Strict):
    """A text in both languages; both are required."""

    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.fr


class ScheduleSlot(Strict):
    date: dt.date
    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _ends_after_start(self) -> ScheduleSlot:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Fact(Strict):
    """One programme fact; exactly one of its typed forms is given."""

    text: str | None = None
    number: int | float | None = None
    money: int | None = None
    date: dt.date | None = None
    schedule: list[ScheduleSlot] | None = None
    fr: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Fact:
        forms = [
            name
            for name in ("text", "number", "money", "date", "schedule")
            if getattr(self, name) is not None
        ]
        localized = self.fr is not None or self.en is not None
        if localized and (self.fr is None or self.en is None):
            raise ValueError("a localized fact needs both fr and en")
        if len(forms) + int(localized) != 1:
            raise ValueError("give exactly one of: text, number, money, date, schedule, or fr+en")
        return self


class FactsFile(Strict):
    facts: dict[str, Fact]

    @field_validator("facts")
    @classmethod
    def _keys(cls, value: dict[str, Fact]) -> dict[str, Fact]:
        bad = [key for key in value if not re.match(FACT_KEY, key)]
        if bad:
            raise ValueError(f"fact keys must be lowercase snake_case: {', '.join(bad)}")
        return value


class AnswerVariant(Strict):
    """An answer in both languages, valid up to and including `until` when given."""

    until: str | dt.date | None = None
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Phrasings(Strict):
    fr: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    def get(self, language: str) -> list[str]:
        return self.en if language == "en" else self.fr


class Entry(Strict):
    """One question-and-answer entry, one file per entry under knowledge/faq/."""

    id: str = Field(pattern=ENTRY_ID)
    kind: Literal["faq", "smalltalk"] = "faq"
    topic: str = Field(min_length=1, max_length=40)
    title: Localized
    phrasings: Phrasings
    answer: AnswerVariant | list[AnswerVariant]
    related: list[str] = Field(default_factory=list, max_length=3)
    followups: list[Literal["sessions", "eligibility", "contact"]] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _short_title(cls, value: Localized) -> Localized:
        for language in LANGUAGES:
            if len(value.get(language)) > 40:
                raise ValueError(f"{language} title is longer than 40 characters (button label)")
        return value

    @field_validator("answer")
    @classmethod
    def _variants(cls, value: AnswerVariant | list[AnswerVariant]) -> list[AnswerVariant]:
        variants = value if isinstance(value, list) else [value]
        if not variants:
            raise ValueError("needs at least one answer")
        if variants[-1].until is not None:
            raise ValueError("the last answer variant must have no `until` (it is the fallback)")
        return variants

    @property
    def variants(self) -> list[AnswerVariant]:
        """The answer variants, normalised to a list by the validator."""
        return self.answer if isinstance(self.answer, list) else [self.answer]


class Messages(Strict):
    """The UI catalogue: every sentence the bot says outside FAQ answers."""

    messages: dict[str, Localized]


class SynonymsFile(Strict):
    """Groups of words read as one; the first word of a group is its canonical form."""

    groups: list[list[str]]

    @field_validator("groups")
    @classmethod
    def _non_trivial(cls, value: list[list[str]]) -> list[list[str]]:
        for index, group in enumerate(value):
            if len(group) < 2:
                raise ValueError(f"group {index + 1} needs at least two words")
        return value


class DeclaredSession(Strict):
    """An information session declared in knowledge/sessions.yaml (time: the bot's zone)."""

    id: str = Field(pattern=ENTRY_ID)
    date: dt.date
    time: dt.time
    duration: int = Field(default=60, ge=5, le=600)
    capacity: int = Field(default=20, ge=1, le=10_000)
    language: Language = "fr"
    link: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=500)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    cancelled: bool = False

    @field_validator("time", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        if isinstance(value, int):  # YAML reads 13:30 unquoted as a number of minutes
            raise ValueError('write the time in quotes, like "13:30"')
        return value


class SessionsFile(Strict):
    """Sessions created or updated at start, by id, so a deployment needs no chatting."""

    sessions: list[DeclaredSession] = Field(default_factory=list)

    @field_validator("sessions")
    @classmethod
    def _unique_ids(cls, value: list[DeclaredSession]) -> list[DeclaredSession]:
        seen: set[str] = set()
        for session in value:
            if session.id in seen:
                raise ValueError(f"session id {session.id!r} is used twice")
            seen.add(session.id)
        return value
