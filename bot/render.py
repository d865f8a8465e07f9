"""Facts and dates rendered the way each language writes them (5 000 $ / $5,000)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from bot.kb_schema import AnswerVariant, Fact

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
NBSP = "\u00a0"

MONTHS = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def format_number(value: float, language: str) -> str:
    """Thousands separated by a no-break space in French, a comma in English."""
    whole = isinstance(value, int) or value.is_integer()
    text = f"{int(value):,}" if whole else f"{value:,.1f}"
    if language == "fr":
        return text.replace(",", NBSP).replace(".", ",")
    return text


def format_money(amount: int, language: str) -> str:
    """`5 000 $` in French, `$5,000` in English."""
    number = format_number(amount, language)
    return f"{number}{NBSP}$" if language == "fr" else f"${number}"


def format_date(day: dt.date, language: str, *, weekday: bool = True) -> str:
    """`mercredi 8 mai 2024` / `Wednesday, May 8, 2024`."""
    month = MONTHS[language][day.month - 1]
    name = WEEKDAYS[language][day.weekday()]
    if language == "fr":
        number = "1er" if day.day == 1 else str(day.day)
        text = f"{number} {month} {day.year}"
        return f"{name} {text}" if weekday else text
    text = f"{month} {day.day}, {day.year}"
    return f"{name}, {text}" if weekday else text


def format_time(moment: dt.time, language: str) -> str:
    """`9 h 30` (Québec usage) / `9:30 a.m.`."""
    if language == "fr":
        return f"{moment.hour}{NBSP}h" + (f"{NBSP}{moment.minute:02d}" if moment.minute else "")
    suffix = "a.m." if moment.hour < 12 else "p.m."
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}{NBSP}{suffix}"


def format_fact(fact: Fact, language: str) -> str:
    """The text a placeholder `{key}` becomes in an answer."""
    if fact.money is not None:
        return format_money(fact.money, language)
    if fact.number is not None:
        return format_number(fact.number, language)
    if fact.date is not None:
        return format_date(fact.date, language)
    if fact.schedule is not None:
        joiner = " à " if language == "fr" else " to "
        return "\n".join(
            f"• {format_date(slot.date, language)}, "
            f"{format_time(slot.start, language)}{joiner}{format_time(slot.end, language)}"
            for slot in fact.schedule
        )
    if fact.text is not None:
        return fact.text
    return (fact.en if language == "en" else fact.fr) or ""


def fill(template: str, facts: Mapping[str, Fact], language: str) -> str:
    """Replace each `{key}` by its fact; unknown keys are caught earlier by `kb check`."""
    return PLACEHOLDER.sub(
        lambda match: (
            format_fact(facts[match.group(1)], language)
            if match.group(1) in facts
            else match.group(0)
        ),
        template,
    )


def variant_date(until: str | dt.date, facts: Mapping[str, Fact]) -> dt.date | None:
    """The last day a variant applies: an ISO date or the key of a date fact."""
    if isinstance(until, dt.date):
        return until
    fact = facts.get(until)
    if fact is not None:
        if fact.date is not None:
            return fact.date
        if fact.schedule:
            return max(slot.date for slot in fact.schedule)
        return None
    try:
        return dt.date.fromisoformat(until)
    except ValueError:
        return None


def choose_variant(
    variants: list[AnswerVariant], facts: Mapping[str, Fact], today: dt.date
) -> AnswerVariant:
    """The first variant still valid today: a past date is never presented as upcoming."""
    for variant in variants:
        if variant.until is None:
            return variant
        last_day = variant_date(variant.until, facts)
        if last_day is not None and today <= last_day:
            return variant
    return variants[-1]
