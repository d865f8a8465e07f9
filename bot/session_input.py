"""Reading what staff type to create a session: one line, or one field at a time.

Every check returns a `Problem` naming a catalogue message and the value at fault, so the
reply explains the mistake in the staff member's language instead of "invalid input".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.infosessions import NewSession

DEFAULTS = {"capacity": "20", "duration": "60", "lang": "fr"}
KEYS = ("capacity", "duration", "lang", "link", "title")
TITLE_LENGTH = 200


@dataclass(frozen=True)
class Problem:
    key: str  # a message key, e.g. "input_bad_time"
    value: str


class InputError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(p.key for p in problems))
        self.problems = problems


def parse_date(text: str) -> date | Problem:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        return Problem("input_bad_date", text.strip()[:40])


def parse_time(text: str) -> time | Problem:
    match = re.fullmatch(r"(\d{1,2})[:hH](\d{2})", text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return Problem("input_bad_time", text.strip()[:40])
    return time(int(match.group(1)), int(match.group(2)))


def local_instant(day: date, at: time, zone: ZoneInfo, now: datetime) -> datetime | Problem:
    """The UTC instant of a wall-clock time; refuses times a clock change skips, and the past.

    A time that occurs twice (the autumn change) is read as the first one, as people do.
    """
    local = datetime.combine(day, at, tzinfo=zone)
    shown = f"{day.isoformat()} {at.strftime('%H:%M')}"
    back = local.astimezone(UTC).astimezone(zone)
    if (back.hour, back.minute) != (at.hour, at.minute):
        return Problem("input_no_such_time", shown)
    instant = local.astimezone(UTC)
    if instant <= now:
        return Problem("input_past", shown)
    return instant


def parse_capacity(text: str) -> int | Problem:
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        return Problem("input_bad_capacity", value[:40])
    return int(value)


def parse_duration(text: str) -> int | Problem:
    value = text.strip().removesuffix("min").strip()
    if not value.isdigit() or not 5 <= int(value) <= 600:
        return Problem("input_bad_duration", text.strip()[:40])
    return int(value)


def parse_language(text: str) -> str | Problem:
    value = text.strip().lower()
    aliases = {"fr": "fr", "français": "fr", "francais": "fr", "en": "en", "english": "en"}
    aliases |= {"anglais": "en", "french": "fr"}
    if value not in aliases:
        return Problem("input_bad_language", text.strip()[:40])
    return aliases[value]


def parse_link(text: str) -> str | Problem:
    value = text.strip()
    if not re.fullmatch(r"https?://[^\s<>\"]{3,490}", value):
        return Problem("input_bad_link", value[:60])
    return value


def parse_title(text: str) -> str | Problem:
    value = " ".join(text.split())
    if not value or len(value) > TITLE_LENGTH:
        return Problem("input_bad_title", "")
    return value


def parse_command(
    arguments: str, now: datetime, zone: ZoneInfo, default_title: Callable[[str], str]
) -> NewSession:
    """`YYYY-MM-DD HH:MM key=value… title=rest of the line`; raises InputError with all
    problems found, not just the first. Without a title, `default_title(session language)`."""
    head, _, title_text = arguments.partition("title=")
    words = head.split()
    problems: list[Problem] = []
    if len(words) < 2 or "=" in words[0] or "=" in words[1]:
        raise InputError([Problem("input_missing", "")])
    day, at = parse_date(words[0]), parse_time(words[1])
    options = dict(DEFAULTS)
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if not sep or key.lower() not in KEYS:
            problems.append(Problem("input_unknown_key", word[:40]))
            continue
        options[key.lower()] = value
    checked: dict[str, object] = {
        "capacity": parse_capacity(options["capacity"]),
        "duration": parse_duration(options["duration"]),
        "lang": parse_language(options["lang"]),
        "link": parse_link(options["link"]) if options.get("link") else None,
        "title": parse_title(title_text) if title_text.strip() else None,
    }
    instant: object = None
    for part in (day, at):
        if isinstance(part, Problem):
            problems.append(part)
    if isinstance(day, date) and isinstance(at, time):
        instant = local_instant(day, at, zone, now)
    problems += [v for v in (instant, *checked.values()) if isinstance(v, Problem)]
    if problems:
        raise InputError(problems)
    assert isinstance(instant, datetime)
    language = str(checked["lang"])
    return NewSession(
        starts_at=instant,
        duration_minutes=int(str(checked["duration"])),
        capacity=int(str(checked["capacity"])),
        language=language,
        title=str(checked["title"] or default_title(language)),
        link=str(checked["link"]) if checked["link"] else None,
    )
