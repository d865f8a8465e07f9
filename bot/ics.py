"""The calendar file sent with a registration, built with the `icalendar` library.

Times carry the bot's time zone (TZID plus its VTIMEZONE definition), so a calendar shows
the session at the right hour on either side of a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vText

PRODUCT = "-//DATAide//Assistant Telegram//FR"


def session_calendar(
    *,
    uid: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    zone: ZoneInfo,
    link: str | None,
    description: str,
    alarm_before: timedelta,
    stamp: datetime | None = None,
) -> bytes:
    """One VEVENT with a display alarm; the UID is stable so a re-import updates it."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp or datetime.now(UTC))
    event.add("dtstart", starts_at.astimezone(zone))
    event.add("dtend", ends_at.astimezone(zone))
    event.add("summary", title)
    event.add("description", description)
    event.add("location", vText(link or "En ligne / Online"))
    if link:
        event.add("url", link)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", title)
    alarm.add("trigger", -alarm_before)
    event.add_component(alarm)
    calendar.add_component(event)
    # The zone's rules around the event only: a few lines instead of 70 years of them.
    local = starts_at.astimezone(zone).date()
    calendar.add_missing_timezones(
        first_date=local - timedelta(days=366), last_date=local + timedelta(days=366)
    )
    return bytes(calendar.to_ical())
