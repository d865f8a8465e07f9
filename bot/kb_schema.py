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


class Example(Strict):
    """A question someone asked (or would ask) and the entry that answers it.

    `expect: null` marks a question the bot must decline. `accept` lists other entries
    that answer it too; `split` says where the question came from. Examples teach the
    matcher's second opinion (bot.classifier); they are not evaluation questions.
    """

    q: str = Field(min_length=1, max_length=4096)
    lang: Language
    expect: str | None
    accept: list[str | None] = Field(default_factory=list)
    split: str | None = None


class ExamplesFile(Strict):
    """One file of knowledge/examples/."""

    questions: list[Example]


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


# ---------------------------------------------------------------------- eligibility

# What a button under an outcome (or a thing to do) can lead to; FAQ entries are listed apart.
EligibilityAction = Literal["sessions", "contact"]
MAX_QUESTIONS = 20  # step numbers ride in callback data on two digits
MAX_ANSWERS = 6


class EligibilityAnswer(Strict):
    """One button under a question: it leads to the next question or to an outcome, and may
    add a thing to do (`todo`) that the outcome lists."""

    id: str = Field(pattern=ENTRY_ID)
    label: Localized
    next: str | None = None
    outcome: str | None = None
    todo: str | None = None

    @field_validator("label")
    @classmethod
    def _short_label(cls, value: Localized) -> Localized:
        for language in LANGUAGES:
            if len(value.get(language)) > 40:
                raise ValueError(f"{language} label is longer than 40 characters (button)")
        return value

    @model_validator(mode="after")
    def _one_way_on(self) -> EligibilityAnswer:
        if (self.next is None) == (self.outcome is None):
            raise ValueError("give exactly one of `next` (a question id) or `outcome`")
        return self


class EligibilityQuestion(Strict):
    """A question asked with buttons, one at a time."""

    id: str = Field(pattern=ENTRY_ID)
    text: Localized
    answers: list[EligibilityAnswer] = Field(min_length=2, max_length=MAX_ANSWERS)

    @field_validator("answers")
    @classmethod
    def _unique_answers(cls, value: list[EligibilityAnswer]) -> list[EligibilityAnswer]:
        ids = [answer.id for answer in value]
        if len(ids) != len(set(ids)):
            raise ValueError("two answers have the same id")
        return value


class EligibilityTodo(Strict):
    """Something to do before taking part, listed by an "eligible once…" outcome."""

    text: Localized
    actions: list[EligibilityAction] = Field(default_factory=list)


class EligibilityOutcome(Strict):
    """A result, always with a next step. `with_todos` introduces the list of things to do
    when the path collected some (required for eligible outcomes: "eligible once…")."""

    kind: Literal["eligible", "not-eligible"]
    text: Localized
    with_todos: Localized | None = None
    actions: list[EligibilityAction] = Field(default_factory=list)
    entries: list[str] = Field(default_factory=list, max_length=3)

    @model_validator(mode="after")
    def _next_step(self) -> EligibilityOutcome:
        if self.kind == "eligible" and self.with_todos is None:
            raise ValueError("an eligible outcome needs `with_todos` (eligible once…)")
        if not self.actions and not self.entries:
            raise ValueError("give a next step: at least one action or entry")
        return self


class EligibilityFile(Strict):
    """knowledge/eligibility.yaml: the questionnaire as data, walked by bot.eligibility."""

    intro: Localized
    start: str
    questions: list[EligibilityQuestion] = Field(min_length=1, max_length=MAX_QUESTIONS)
    todos: dict[str, EligibilityTodo] = Field(default_factory=dict)
    outcomes: dict[str, EligibilityOutcome] = Field(min_length=1)

    @field_validator("questions")
    @classmethod
    def _unique_questions(cls, value: list[EligibilityQuestion]) -> list[EligibilityQuestion]:
        seen: set[str] = set()
        for question in value:
            if question.id in seen:
                raise ValueError(f"question id {question.id!r} is used twice")
            seen.add(question.id)
        return value

    def question(self, question_id: str) -> EligibilityQuestion | None:
        return next((q for q in self.questions if q.id == question_id), None)
