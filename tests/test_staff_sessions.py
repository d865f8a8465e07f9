"""Staff publish and cancel sessions; everyone else is refused and nothing happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import infosessions
from bot.clock import FrozenClock
from bot.infosessions import SessionView
from bot.models import InfoSession, OutboxMessage
from tests.conftest import NOW, STAFF_ID
from tests.harness import Harness, visible
from tests.test_sessions import BUTTON, START, new_session, register, registrations


async def sessions_in_db(bot: Harness) -> list[InfoSession]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(InfoSession).order_by(InfoSession.id))
        return list(rows.scalars())


async def upcoming(bot: Harness) -> list[SessionView]:
    return await infosessions.upcoming(bot.services.sessions, bot.services.clock.now())


# ---------------------------------------------------------------------- /newsession


async def test_newsession_in_one_line(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    replies = await staff.say(
        "/newsession 2026-12-03 14:00 capacity=15 duration=90 lang=en "
        "link=https://meet.example.org/x title=Info   session <for> all"
    )
    assert "Séance publiée" in visible(replies[0])
    [view] = await upcoming(bot)
    assert view.starts_at == START  # 14:00 in Montréal
    assert (view.capacity, view.duration_minutes, view.language) == (15, 90, "en")
    assert view.link == "https://meet.example.org/x"
    assert view.title == "Info session <for> all"
    replies = await bot.user(1).say("/sessions")
    assert "Info session &lt;for&gt; all" in (replies[0].raw_text or "")


async def test_newsession_defaults(bot: Harness) -> None:
    await bot.user(STAFF_ID).say("/newsession 2026-12-03 14:00")
    [view] = await upcoming(bot)
    assert (view.capacity, view.duration_minutes, view.language, view.link) == (
        20,
        60,
        "fr",
        None,
    )
    assert view.title == "Séance d'information DATAide — volet leadership"


@pytest.mark.parametrize(
    ("arguments", "explanation"),
    [
        ("2026-13-03 14:00", "n'est pas au format AAAA-MM-JJ"),
        ("03/12/2026 14:00", "n'est pas au format AAAA-MM-JJ"),
        ("2026-11-20 14:00", "est déjà passé"),
        ("2026-11-21 09:59", "est déjà passé"),  # earlier today, in Montréal
        ("2026-12-03 25:00", "n'est pas au format HH:MM"),
        ("2026-12-03 2pm", "n'est pas au format HH:MM"),
        ("2027-03-14 02:30", "n'existe pas ce jour-là"),  # skipped by the spring change
        ("2026-12-03 14:00 capacity=0", "doit être un nombre entier positif"),
        ("2026-12-03 14:00 capacity=abc", "doit être un nombre entier positif"),
        ("2026-12-03 14:00 capacity=-5", "doit être un nombre entier positif"),
        ("2026-12-03 14:00 duration=2", "entre 5 et 600"),
        ("2026-12-03 14:00 lang=de", "est inconnue : fr ou en"),
        ("2026-12-03 14:00 link=ftp://x.org", "doit commencer par https://"),
        ("2026-12-03 14:00 colour=blue", "n'est pas une option connue"),
        ("capacity=10", "il manque la date et l'heure"),
        ("demain", "il manque la date et l'heure"),
    ],
)
async def test_newsession_explains_each_mistake(
    bot: Harness, arguments: str, explanation: str
) -> None:
    replies = await bot.user(STAFF_ID).say(f"/newsession {arguments}")
    text = visible(replies[0])
    assert "Je n'ai pas pu créer la séance" in text
    assert explanation in text
    assert "/newsession 2027-01-20 13:30" in text  # the usage, to copy
    assert await sessions_in_db(bot) == []


async def test_newsession_lists_every_mistake_at_once(bot: Harness) -> None:
    replies = await bot.user(STAFF_ID).say("/newsession 2026-12-03 25:00 capacity=0 lang=xx")
    text = visible(replies[0])
    assert text.count("• ") == 3


async def test_a_time_that_occurs_twice_is_read_as_the_first(bot: Harness) -> None:
    await bot.user(STAFF_ID).say("/newsession 2027-11-07 01:30")
    [view] = await upcoming(bot)
    assert view.starts_at == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT


async def test_newsession_step_by_step(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    replies = await staff.say("/newsession")
    assert "Quelle date ?" in visible(replies[0])
    replies = await staff.say("le 3 décembre")
    assert "n'est pas au format AAAA-MM-JJ" in visible(replies[0])
    await staff.say("2026-12-03")
    replies = await staff.say("14:00")
    assert "Durée en minutes" in visible(replies[0])
    await staff.say("45")
    replies = await staff.say("zéro")
    assert "nombre entier positif" in visible(replies[0])
    await staff.say("12")
    assert staff.buttons() == ["Français", "English"]
    await staff.press("English")
    await staff.press("Plus tard")
    await staff.press("Titre habituel")
    summary = visible(staff.last_reply())
    assert "jeudi 3 décembre 2026, 14 h" in summary
    assert "45 min, en anglais" in summary
    assert "DATAide information session — leadership track" in summary
    assert await sessions_in_db(bot) == []  # nothing before Publish
    await staff.press("✅ Publier")
    [view] = await upcoming(bot)
    assert (view.starts_at, view.duration_minutes, view.capacity, view.language) == (
        START,
        45,
        12,
        "en",
    )
    assert view.title == "DATAide information session — leadership track"
    replies = await staff.say("c'est gratuit?")  # the dialogue is over: a question again
    assert "gratuit" in visible(replies[0])


async def test_step_by_step_time_in_the_past_asks_the_date_again(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    await staff.say("/newsession")
    await staff.say("2026-11-21")
    replies = await staff.say("08:00")
    assert "est déjà passé" in visible(replies[0])
    assert "Quelle date ?" in visible(replies[-1])
    await staff.say("2026-11-22")
    replies = await staff.say("08:00")
    assert "Durée en minutes" in visible(replies[0])


async def test_step_by_step_can_be_discarded_or_cancelled(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    await staff.say("/newsession")
    for answer in ("2026-12-03", "14:00", "60", "20"):
        await staff.say(answer)
    await staff.press("Français")
    await staff.say("https://meet.example.org/y")
    await staff.say("Mon titre")
    replies = await staff.press("Abandonner")
    assert "rien n'a été publié" in visible(replies[0])
    await staff.say("/newsession")
    replies = await staff.say("/cancel")
    assert "C'est annulé" in visible(replies[0])
    assert await sessions_in_db(bot) == []


async def test_people_who_are_not_staff_are_refused_and_nothing_happens(bot: Harness) -> None:
    view = await new_session(bot)
    person = bot.user(5)
    for command in ("/newsession 2026-12-10 14:00", "/newsession", "/cancelsession"):
        replies = await person.say(command)
        assert "réservée à l'équipe" in visible(replies[0])
    replies = await person.say("2026-12-10")  # no step-by-step dialogue was started
    assert "réservée" not in visible(replies[0])
    for data in (f"staff:cancelyes-{view.id}:fr", f"staff:cancel-{view.id}:fr", "staff:create:fr"):
        replies = await person.forge(data)
        assert "réservée à l'équipe" in visible(replies[0])
    assert [v.id for v in await upcoming(bot)] == [view.id]


async def test_staff_rights_are_checked_at_every_step(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    await staff.say("/newsession")
    await staff.say("2026-12-03")
    bot.services.settings.staff_ids = frozenset()  # removed from STAFF_IDS mid-dialogue
    replies = await staff.say("14:00")
    assert "réservée à l'équipe" in visible(replies[0])
    replies = await staff.forge("staff:create:fr")
    assert "réservée à l'équipe" in visible(replies[0])
    assert await sessions_in_db(bot) == []


# ---------------------------------------------------------------------- /cancelsession


async def test_cancelsession_tells_everyone_in_their_language(bot: Harness) -> None:
    await new_session(bot, capacity=1)
    french, english = bot.user(60), bot.user(61, first_name="Sam", language_code="en")
    await french.say("/sessions")
    await register(french)
    await english.say("/sessions")
    await register(english, "Waitlist: Thursday, December 3, 2:00 p.m.")
    staff = bot.user(STAFF_ID)
    replies = await staff.say("/cancelsession")
    assert "Quelle séance voulez-vous annuler" in visible(replies[0])
    assert staff.buttons() == ["jeudi 3 décembre, 14 h · 2 inscrit·e·s"]
    replies = await staff.press("jeudi 3 décembre, 14 h · 2 inscrit·e·s")
    assert "2 personne(s)" in visible(replies[0])
    replies = await staff.press("Oui, annuler la séance")
    assert "2 personne(s) prévenue(s)" in visible(replies[0])
    assert await bot.drain() == 2
    assert "La séance d'information du jeudi 3 décembre 2026, 14 h est annulée" in visible(
        french.last_reply()
    )
    assert "The information session on Thursday, December 3, 2026, 2:00 p.m. is cancelled" in (
        visible(english.last_reply())
    )
    assert {r.status for r in await registrations(bot)} == {"cancelled"}
    async with bot.services.sessions() as session:
        reminders = await session.execute(
            select(OutboxMessage.status).where(OutboxMessage.kind == "reminder")
        )
        assert set(reminders.scalars()) == {"cancelled"}
    assert await upcoming(bot) == []
    replies = await french.say("/sessions")
    assert BUTTON not in french.buttons(replies[0])
    # The confirmation pressed again (a stale button): nothing more happens.
    replies = await staff.press("Oui, annuler la séance")
    assert "déjà annulée" in visible(replies[0])
    assert await bot.drain() == 0


async def test_cancelsession_can_be_kept_and_says_when_there_is_none(bot: Harness) -> None:
    staff = bot.user(STAFF_ID)
    replies = await staff.say("/cancelsession")
    assert "Aucune séance à venir" in visible(replies[0])
    await new_session(bot)
    await staff.say("/cancelsession")
    await staff.press(staff.buttons()[0])
    replies = await staff.press("Non, la garder")
    assert "maintenue" in visible(replies[0])
    assert len(await upcoming(bot)) == 1


async def test_a_session_that_has_started_cannot_be_cancelled(
    bot: Harness, clock: FrozenClock
) -> None:
    view = await new_session(bot, NOW + timedelta(minutes=5))
    staff = bot.user(STAFF_ID)
    await staff.say("/cancelsession")
    choose = staff.last_reply()
    clock.advance(timedelta(minutes=10))
    replies = await staff.press(staff.buttons(choose)[0], message=choose)
    assert "déjà annulée ou n'existe plus" in visible(replies[0])
    assert [s.cancelled_at for s in await sessions_in_db(bot)] == [None]
    assert view.id == (await sessions_in_db(bot))[0].id
