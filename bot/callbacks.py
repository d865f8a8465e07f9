"""Callback data: `"<prefix>:<value>[:<language>]"`, at most 64 bytes, parsed strictly.

The language rides along so that a button answers in the language of the message it was
under. Anything that does not parse is treated as an expired button, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
PREFIXES = frozenset(
    {"faq", "menu", "lang", "human", "sess", "reg", "staff", "fb", "notif", "cast", "elig", "priv"}
)
MENU_ACTIONS = frozenset(
    {"ask", "eligibility", "sessions", "contact", "language", "announcements"}
)
LANGUAGES = frozenset({"fr", "en"})
# Actions that name a row carry its id; the handler still checks whose row it is.
_FEEDBACK_ACTIONS = re.compile(r"^(?:(?:up|down)-[a-z0-9][a-z0-9-]{0,39}|skip)$")
_SESSION_ACTIONS = re.compile(r"^join-\d{1,12}$")
_REGISTRATION_ACTIONS = re.compile(
    r"^(?:(?:cancel|cancelyes|keep)-\d{1,12}|usename|skipemail|confirm|abort)$"
)
_STAFF_ACTIONS = re.compile(
    r"^(?:(?:cancel|cancelyes)-\d{1,12}|keep|lang-(?:fr|en)|nolink|deftitle|create|discard)$"
)

_BROADCAST_ACTIONS = re.compile(
    r"^(?:aud-(?:all|lang-(?:fr|en)|session-\d{1,12}(?:-waitlist)?)"
    r"|(?:sess|stop|stopyes)-\d{1,12}|sessions|send|discard|keep)$"
)
_HUMAN_ACTIONS = frozenset({"ask", "reply"})
# Questionnaire buttons name their run (a new one per start) and step, so a button from an
# older questionnaire or question is recognised as such: ans-<run>-<step>-<answer index>.
_ELIGIBILITY_ACTIONS = re.compile(
    r"^(?:ans-[0-9a-f]{6}-\d{1,2}-\d|back-[0-9a-f]{6}-\d{1,2}|restart)$"
)
_PRIVACY_ACTIONS = frozenset({"forgetyes", "forgetno"})


@dataclass(frozen=True)
class Callback:
    prefix: str
    value: str
    language: str | None = None


def encode(prefix: str, value: str, language: str | None = None) -> str:
    """Build callback data; raises ValueError on anything a button could not carry."""
    data = f"{prefix}:{value}" + (f":{language}" if language else "")
    if decode(data) is None:
        raise ValueError(f"invalid callback data {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    """The button pressed, or None for forged, stale or malformed data."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(":")
    if len(parts) not in (2, 3):
        return None
    prefix, value = parts[0], parts[1]
    language = parts[2] if len(parts) == 3 else None
    if prefix not in PREFIXES or not _VALUE.match(value):
        return None
    if language is not None and language not in LANGUAGES:
        return None
    valid = {
        "menu": value in MENU_ACTIONS,
        "lang": value in LANGUAGES,
        "human": value in _HUMAN_ACTIONS,
        "faq": True,
        "sess": bool(_SESSION_ACTIONS.match(value)),
        "fb": bool(_FEEDBACK_ACTIONS.match(value)),
        "notif": value in ("on", "off"),
        "reg": bool(_REGISTRATION_ACTIONS.match(value)),
        "staff": bool(_STAFF_ACTIONS.match(value)),
        "cast": bool(_BROADCAST_ACTIONS.match(value)),
        "elig": bool(_ELIGIBILITY_ACTIONS.match(value)),
        "priv": value in _PRIVACY_ACTIONS,
    }[prefix]
    return Callback(prefix, value, language) if valid else None


def numbered(value: str) -> tuple[str, int | None]:
    """`cancel-12` -> ("cancel", 12); `confirm` -> ("confirm", None)."""
    action, _, number = value.partition("-")
    return action, int(number) if number.isdigit() else None
