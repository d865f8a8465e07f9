"""How information sessions read, in each language and the bot's time zone.

Also the wording of what registrations cause (reminders, promotions, cancellations):
`SessionText` is the `Notices` that `bot.registrations` queues in the outbox.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.assistant import Assistant, Button, Html, Reply
from bot.ics import session_calendar
from bot.infosessions import WAITLISTED, RegistrationView, SessionView
from bot.outbox import OutboxItem
from bot.render import format_date, format_time

# Zones whose key names a city people here would not say ("heure de Toronto").
ZONE_NAMES = {"America/Toronto": "Montréal", "America/Montreal": "Montréal"}


def zone_name(zone: ZoneInfo) -> str:
    """`Montréal` for America/Toronto, else the city part of the key."""
    return ZONE_NAMES.get(zone.key, zone.key.rsplit("/", 1)[-1].replace("_", " "))


class SessionText:
    """Sessions as text and buttons, in one knowledge-base version and one time zone."""

    def __init__(
        self,
        assistant: Assistant,
        zone: ZoneInfo,
        reminder_offsets: Sequence[timedelta] = (),
        bot_username: str = "",
    ) -> None:
        self.assistant = assistant
        self.zone = zone
        self.reminder_offsets = tuple(reminder_offsets)
        self.bot_username = bot_username

    def message(self, key: str, language: str, **values: str) -> str:
        return self.assistant.message(key, language, **values)

    # ------------------------------------------------------------------ pieces

    def when(self, moment: datetime, language: str, *, year: bool = True) -> str:
        """`jeudi 3 décembre 2026, 14 h` / `Thursday, December 3, 2026, 2:00 p.m.`."""
        local = moment.astimezone(self.zone)
        day = format_date(local.date(), language)
        if not year:
            day = day.rsplit(" ", 1)[0].rstrip(",")
        return f"{day}, {format_time(local.time(), language)}"

    def details(self, view: SessionView, language: str) -> str:
        """`60 min, en français`."""
        return self.describe(view.duration_minutes, view.language, language)

    def describe(self, minutes: int, spoken: str, language: str) -> str:
        """`60 min, en français` for a session not stored yet (a staff summary)."""
        duration = self.message("session_minutes", language, count=str(minutes))
        return f"{duration}, {self.message(f'session_language_{spoken}', language)}"

    def seats(self, view: SessionView, language: str) -> str:
        if view.full:
            return self.message("seats_full", language)
        if view.seats_left == 1:
            return self.message("seats_one", language)
        return self.message("seats_many", language, count=str(view.seats_left))

    def link(self, view: SessionView, language: str) -> str:
        return view.link or self.message("link_to_come", language)

    def zone_label(self) -> str:
        return zone_name(self.zone)

    # ------------------------------------------------------------------ replies

    def listing(self, views: Sequence[SessionView], language: str, *, private: bool) -> Reply:
        """The upcoming sessions; in a private chat, one button per session to register."""
        if not views:
            return Reply(self.message("sessions_none", language), language)
        if private:
            header = self.message("sessions_header", language, zone=self.zone_label())
        else:
            link = f"https://t.me/{self.bot_username}?start=sessions"
            header = self.message(
                "sessions_group_header", language, zone=self.zone_label(), link=link
            )
        lines = [header]
        for view in views:
            lines.append(
                f"\n<b>{self.when(view.starts_at, language)}</b>\n"
                f"{_e(view.title)}\n"
                f"{self.details(view, language)} · {self.seats(view, language)}"
            )
        buttons: tuple[Button, ...] = ()
        if private:
            buttons = tuple(
                Button(
                    self.message(
                        "session_button_waitlist" if view.full else "session_button_register",
                        language,
                        when=self.when(view.starts_at, language, year=False),
                    ),
                    callbacks.encode("sess", f"join-{view.id}", language),
                )
                for view in views
            )
        return Reply("\n".join(lines), language, buttons)

    def calendar(
        self, view: SessionView, registration_id: int, language: str, now: datetime
    ) -> bytes:
        description = self.message(
            "calendar_description", language, link=self.link(view, language)
        )
        return session_calendar(
            uid=f"dataide-session-{view.id}-registration-{registration_id}@dataide-bot",
            title=view.title,
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            zone=self.zone,
            link=view.link,
            description=_plain(description),
            alarm_before=timedelta(hours=1),
            stamp=now,
        )

    def cancel_button(self, registration_id: int, language: str) -> Button:
        return Button(
            self.message("registration_cancel_button", language),
            callbacks.encode("reg", f"cancel-{registration_id}", language),
        )

    def soon(self, offset: timedelta, language: str) -> str:
        """`dans 24 h` / `in 24 h` from a reminder offset; days only from two days on."""
        seconds = int(offset.total_seconds())
        for key, unit in (("in_days", 86400), ("in_hours", 3600), ("in_minutes", 60)):
            if seconds >= max(unit, 2 * 86400 if unit == 86400 else 0) and seconds % unit == 0:
                return self.message(key, language, count=str(seconds // unit))
        return self.message("in_seconds", language, count=str(seconds))

    # ------------------------------------------------------------------ Notices

    def reminders(
        self, view: SessionView, registration: RegistrationView, now: datetime
    ) -> list[OutboxItem]:
        """One reminder per offset still ahead; one whose time has passed is not sent."""
        language = registration.language
        items = []
        offsets = sorted(self.reminder_offsets, reverse=True)
        for index, offset in enumerate(offsets):
            due = view.starts_at - offset
            if due <= now:
                continue
            # Sent late (the bot was down), a reminder is dropped once the next one is due:
            # "in 24 h" an hour before the session would mislead.
            expires = view.starts_at - offsets[index + 1] if index + 1 < len(offsets) else None
            text = self.message(
                "reminder",
                language,
                soon=self.soon(offset, language),
                when=self.when(view.starts_at, language),
                title=view.title,
                link=self.link(view, language),
            )
            items.append(
                OutboxItem(
                    chat_id=registration.person_id,
                    kind="reminder",
                    text=text,
                    due_at=due,
                    buttons=(self.cancel_button(registration.id, language),),
                    registration_id=registration.id,
                    session_id=view.id,
                    expires_at=expires or view.starts_at,
                )
            )
        return items

    def promoted(
        self, view: SessionView, registration: RegistrationView, now: datetime
    ) -> OutboxItem:
        language = registration.language
        text = self.message(
            "promoted",
            language,
            when=self.when(view.starts_at, language),
            link=self.link(view, language),
        )
        return OutboxItem(
            chat_id=registration.person_id,
            kind="promotion",
            text=text,
            due_at=now,
            buttons=(self.cancel_button(registration.id, language),),
            attachment=(
                "dataide-session.ics",
                self.calendar(view, registration.id, language, now),
            ),
            registration_id=registration.id,
            session_id=view.id,
        )

    def session_cancelled(
        self, view: SessionView, registration: RegistrationView, now: datetime
    ) -> OutboxItem:
        language = registration.language
        text = self.message(
            "session_cancelled_notice", language, when=self.when(view.starts_at, language)
        )
        return OutboxItem(
            chat_id=registration.person_id,
            kind="session_cancelled",
            text=text,
            due_at=now,
            registration_id=registration.id,
        )

    def status(self, registration: RegistrationView, language: str) -> str:
        if registration.status == WAITLISTED:
            return self.message("status_waitlisted", language, position=str(registration.position))
        return self.message("status_confirmed", language)


def _e(text: str) -> Html:
    return Html(html.escape(text, quote=False))


def _plain(text: str) -> str:
    """Catalogue text without Telegram HTML, for the calendar file."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))
