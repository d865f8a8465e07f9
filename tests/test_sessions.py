"""Information sessions as people use them: list, register, waitlist, cancel, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar, Component
from sqlalchemy import select

from bot import infosessions
from bot.clock import FrozenClock
from bot.config import Settings
from bot.infosessions import NewSession, SessionView
from bot.models import OutboxMessage, Registration
from tests.conftest import NOW, make_settings
from tests.harness import Harness, Person, running_bot, visible

# Thursday 3 December 2026, 14:00 in Montréal (EST, UTC-5).
START = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
BUTTON = "S'inscrire : jeudi 3 décembre, 14 h"


async def new_session(
    bot: Harness,
    starts_at: datetime = START,
    *,
    capacity: int = 20,
    link: str | None = "https://meet.example.org/info",
    title: str = "Séance d'information",
    language: str = "fr",
) -> SessionView:
    """A session as staff would publish it (the staff commands have their own tests)."""
    new = NewSession(starts_at, 60, capacity, language, title, link)
    return await infosessions.create(bot.services.sessions, new, None, bot.services.clock.now())


async def register(person: Person, button: str = BUTTON, *, email: str | None = None) -> None:
    """The whole registration, the quick way: own name, an organisation, optional email."""
    await person.press(button)
    await person.press(person.buttons()[0])  # the name Telegram shows
    await person.say("Centre communautaire du Plateau")
    if email is None:
        await person.press("Passer" if "Passer" in person.buttons() else "Skip")
    else:
        await person.say(email)
    confirm = [label for label in person.buttons() if label.startswith("✅")]
    await person.press(confirm[0])


def calendar_event(content: bytes) -> Component:
    """The one event of a calendar file, parsed back by the iCalendar library."""
    return next(iter(Calendar.from_ical(content).walk("VEVENT")))


def moment(event: Component, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    return value


async def registrations(bot: Harness) -> list[Registration]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(Registration).order_by(Registration.id))
        return list(rows.scalars())


async def outbox(bot: Harness, kind: str | None = None) -> list[OutboxMessage]:
    async with bot.services.sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list((await session.execute(query)).scalars())


# ---------------------------------------------------------------------- listing


async def test_no_session_announced_says_so_with_the_contact(bot: Harness) -> None:
    replies = await bot.user(1).say("/sessions")
    assert len(replies) == 1
    assert "Aucune séance d'information n'est annoncée" in visible(replies[0])
    assert "@" in visible(replies[0])  # the team's email


async def test_list_shows_upcoming_sessions_in_montreal_time_and_seats(bot: Harness) -> None:
    await new_session(bot, capacity=12)
    await new_session(bot, NOW - timedelta(hours=1), title="Passée")
    cancelled = await new_session(bot, START + timedelta(days=1), title="Annulée")
    await infosessions.cancel(
        bot.services.sessions, cancelled.id, NOW, bot.services.session_text().session_cancelled
    )
    replies = await bot.user(1).say("/sessions")
    text = visible(replies[0])
    assert "jeudi 3 décembre 2026, 14 h" in text
    assert "heure de Montréal" in text
    assert "60 min, en français" in text
    assert "12 places libres" in text
    assert "Passée" not in text
    assert "Annulée" not in text
    assert bot.user(1).buttons(replies[0]) == [BUTTON]


async def test_list_in_english_for_an_english_speaker(bot: Harness) -> None:
    await new_session(bot, language="en", title="Info session")
    replies = await bot.user(2, first_name="Sam", language_code="en").say("/sessions")
    text = visible(replies[0])
    assert "Thursday, December 3, 2026, 2:00 p.m." in text
    assert "in English" in text
    assert "20 seats left" in text


async def test_menu_button_and_faq_followup_lead_to_the_list(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(3)
    await person.say("/start")
    replies = await person.press("📅 Séances d'information")
    assert "jeudi 3 décembre 2026, 14 h" in visible(replies[-1])
    await person.say("c'est quoi la séance d'information?")
    followup = [b for b in person.buttons() if "séance" in b.lower()]
    assert followup, person.buttons()
    replies = await person.press(followup[0])
    assert BUTTON in person.buttons(replies[-1])


# ---------------------------------------------------------------------- registering


async def test_register_in_a_few_taps_with_a_calendar_file(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(10, first_name="Zoé")
    await person.say("/sessions")
    replies = await person.press(BUTTON)
    assert "jeudi 3 décembre 2026, 14 h" in visible(replies[0])
    assert person.buttons() == ["Zoé"]
    await person.press("Zoé")
    assert "organisme" in visible(person.last_reply())
    await person.say("Centre communautaire du Plateau")
    assert person.buttons() == ["Passer"]
    replies = await person.say("zoe@plateau.org")
    summary = visible(replies[0])
    assert "Zoé" in summary
    assert "Centre communautaire du Plateau" in summary
    assert "zoe@plateau.org" in summary
    assert "🔒" in summary
    assert "/mydata" in summary
    assert "@" in summary
    assert (await registrations(bot)) == []  # nothing stored before consent
    replies = await person.press("✅ Je confirme mon inscription")
    assert "C'est fait, Zoé" in visible(replies[0])
    assert "https://meet.example.org/info" in visible(replies[0])
    document = replies[1].document
    assert document is not None
    assert document[0].endswith(".ics")
    event = calendar_event(document[1])
    assert moment(event, "dtstart").astimezone(UTC) == START
    assert moment(event, "dtend").astimezone(UTC) == START + timedelta(minutes=60)
    assert str(event["dtstart"].params["TZID"]) == "America/Toronto"
    assert str(event["summary"]) == "Séance d'information"
    assert str(event["url"]) == "https://meet.example.org/info"
    alarm = next(iter(event.walk("VALARM")))
    assert alarm.decoded("trigger") == -timedelta(hours=1)
    [row] = await registrations(bot)
    assert (row.person_id, row.name, row.email, row.status) == (
        10,
        "Zoé",
        "zoe@plateau.org",
        "confirmed",
    )


async def test_typed_name_with_html_is_stored_as_is_and_echoed_escaped(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(11)
    await person.say("/sessions")
    await person.press(BUTTON)
    replies = await person.say("<b>Zoé</b> & Cie")
    assert "Merci, <b>Zoé</b> & Cie !" in visible(replies[0])  # shown literally
    assert "&lt;b&gt;" in (replies[0].raw_text or "")
    await person.say("Org <script>")
    await person.press("Passer")
    await person.press("✅ Je confirme mon inscription")
    [row] = await registrations(bot)
    assert (row.name, row.organisation) == ("<b>Zoé</b> & Cie", "Org <script>")


async def test_bad_answers_are_asked_again_and_nothing_is_lost(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(12)
    await person.say("/sessions")
    await person.press(BUTTON)
    replies = await person.say("x" * 150)
    assert "de 1 à 100 caractères" in visible(replies[0])
    await person.say("Alex Tremblay")
    await person.say("Mon organisme 🌱")
    replies = await person.say("pas-un-courriel")
    assert "ne semble pas valide" in visible(replies[0])
    assert person.buttons() == ["Passer"]
    replies = await person.say("alex@exemple.org")
    assert "Mon organisme 🌱" in visible(replies[0])
    replies = await person.say("j'ai une question")  # typed instead of tapping
    assert person.buttons(replies[-1]) == ["✅ Je confirme mon inscription", "Annuler"]
    await person.press("✅ Je confirme mon inscription")
    [row] = await registrations(bot)
    assert (row.name, row.organisation, row.email) == (
        "Alex Tremblay",
        "Mon organisme 🌱",
        "alex@exemple.org",
    )


async def test_abort_stores_nothing(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(13)
    await person.say("/sessions")
    await person.press(BUTTON)
    await person.press(person.buttons()[0])
    await person.say("Org")
    await person.press("Passer")
    replies = await person.press("Annuler")
    assert "rien n'a été enregistré" in visible(replies[0])
    assert await registrations(bot) == []
    replies = await person.say("c'est gratuit?")  # back to questions
    assert "gratuit" in visible(replies[0])


async def test_registering_twice_is_refused_kindly_but_another_session_is_fine(
    bot: Harness,
) -> None:
    await new_session(bot)
    await new_session(bot, START + timedelta(days=7))
    person = bot.user(14)
    await person.say("/sessions")
    await register(person)
    await person.say("/sessions")
    replies = await person.press(BUTTON)
    assert "déjà inscrit·e à cette séance" in visible(replies[0])
    await person.say("/sessions")
    await register(person, "S'inscrire : jeudi 10 décembre, 14 h")
    assert [r.status for r in await registrations(bot)] == ["confirmed", "confirmed"]


async def test_the_same_confirm_pressed_twice_registers_once(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(15)
    await person.say("/sessions")
    await person.press(BUTTON)
    await person.press(person.buttons()[0])
    await person.say("Org")
    await person.press("Passer")
    summary = person.last_reply()
    await person.press("✅ Je confirme mon inscription", message=summary)
    replies = await person.press("✅ Je confirme mon inscription", message=summary)
    assert "n'est plus valide" in visible(replies[0])
    assert len(await registrations(bot)) == 1


async def test_per_person_limit_of_upcoming_sessions(
    database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url, MAX_UPCOMING_REGISTRATIONS="1")
    async with running_bot(settings, clock) as bot:
        await new_session(bot)
        await new_session(bot, START + timedelta(days=7))
        person = bot.user(16)
        await person.say("/sessions")
        await register(person)
        await person.say("/sessions")
        await register(person, "S'inscrire : jeudi 10 décembre, 14 h")
        assert "le maximum" in visible(person.last_reply())
        assert len(await registrations(bot)) == 1


# ---------------------------------------------------------------------- waitlist


async def test_full_session_waitlist_and_promotion_on_cancel(bot: Harness) -> None:
    await new_session(bot, capacity=1)
    first, second, third = bot.user(20), bot.user(21), bot.user(22, language_code="en")
    await first.say("/sessions")
    await register(first)
    await second.say("/sessions")
    assert second.buttons() == ["Liste d'attente : jeudi 3 décembre, 14 h"]
    assert "complet — liste d'attente possible" in visible(second.last_reply())
    await register(second, "Liste d'attente : jeudi 3 décembre, 14 h")
    assert "position 1" in visible(second.last_reply())
    await third.say("/lang en")
    await third.say("/sessions")
    await register(third, "Waitlist: Thursday, December 3, 2:00 p.m.")
    assert "number 2" in visible(third.last_reply())
    # The first person cancels: the head of the waitlist is promoted and told.
    await first.say("/mysessions")
    await first.press("Annuler : jeudi 3 décembre, 14 h")
    replies = await first.press("Oui, annuler")
    assert "C'est annulé" in visible(replies[0])
    assert await bot.drain() >= 1
    promoted = visible(second.last_reply())
    assert "une place s'est libérée" in promoted
    assert second.last_reply().document is not None  # with the calendar file
    statuses = {r.person_id: r.status for r in await registrations(bot)}
    assert statuses == {20: "cancelled", 21: "confirmed", 22: "waitlisted"}
    replies = await third.say("/mysessions")
    assert "waitlist, number 1" in visible(replies[0])


# ---------------------------------------------------------------------- my sessions, cancel


async def test_mysessions_and_cancel_asks_first(bot: Harness) -> None:
    person = bot.user(30)
    replies = await person.say("/mysessions")
    assert "aucune séance à venir" in visible(replies[0])
    await new_session(bot)
    await person.say("/sessions")
    await register(person)
    replies = await person.say("/mysessions")
    assert "jeudi 3 décembre 2026, 14 h" in visible(replies[0])
    assert "inscrit·e ✅" in visible(replies[0])
    replies = await person.press("Annuler : jeudi 3 décembre, 14 h")
    assert "Voulez-vous vraiment annuler" in visible(replies[0])
    replies = await person.press("Non, je garde ma place")
    assert "gardée" in visible(replies[0])
    assert [r.status for r in await registrations(bot)] == ["confirmed"]
    await person.press("Annuler : jeudi 3 décembre, 14 h")
    await person.press("Oui, annuler")
    assert [r.status for r in await registrations(bot)] == ["cancelled"]
    replies = await person.say("/mysessions")
    assert "aucune séance à venir" in visible(replies[0])


async def test_forged_cancel_of_someone_elses_registration_does_nothing(bot: Harness) -> None:
    await new_session(bot)
    owner, intruder = bot.user(31), bot.user(32)
    await owner.say("/sessions")
    await register(owner)
    [row] = await registrations(bot)
    await intruder.say("/start")
    for data in (f"reg:cancelyes-{row.id}:fr", f"reg:cancel-{row.id}:fr"):
        replies = await intruder.forge(data)
        assert "n'existe plus" in visible(replies[0])
    assert [r.status for r in await registrations(bot)] == ["confirmed"]
    assert [m.kind for m in await outbox(bot)] == ["reminder", "reminder"]


async def test_stale_button_of_a_cancelled_session(bot: Harness) -> None:
    view = await new_session(bot)
    person = bot.user(33)
    await person.say("/sessions")
    listing = person.last_reply()
    await infosessions.cancel(
        bot.services.sessions, view.id, NOW, bot.services.session_text().session_cancelled
    )
    replies = await person.press(BUTTON, message=listing)
    assert "n'est plus ouverte aux inscriptions" in visible(replies[0])
    assert await registrations(bot) == []


@pytest.mark.parametrize(
    "data", ["sess:join-999999:fr", "sess:join-abc:fr", "reg:confirm:fr", "reg:cancel-1:xx"]
)
async def test_forged_or_unknown_session_buttons(bot: Harness, data: str) -> None:
    person = bot.user(34)
    await person.say("/start")
    replies = await person.forge(data)
    shown = [visible(r) for r in replies] + [
        str(a.get("text", "")) for a in bot.api.callback_answers[-1:]
    ]
    assert any("plus valide" in s or "plus ouverte" in s or "n'existe plus" in s for s in shown), (
        shown
    )
    assert await registrations(bot) == []


# ---------------------------------------------------------------------- reminders


async def test_reminders_at_24h_and_1h_with_link_and_cancel_button(
    bot: Harness, clock: FrozenClock
) -> None:
    await new_session(bot)
    person = bot.user(40)
    await person.say("/sessions")
    await register(person)
    seen = len(person.replies())
    assert await bot.drain() == 0
    clock.set(START - timedelta(hours=24, seconds=1))
    assert await bot.drain() == 0
    clock.set(START - timedelta(hours=24))
    assert await bot.drain() == 1
    reminder = person.replies()[seen]
    assert "commence dans 24 h" in visible(reminder)
    assert "jeudi 3 décembre 2026, 14 h" in visible(reminder)
    assert "https://meet.example.org/info" in visible(reminder)
    assert person.buttons(reminder) == ["Annuler mon inscription"]
    clock.set(START - timedelta(hours=1))
    assert await bot.drain() == 1
    assert "commence dans 1 h" in visible(person.last_reply())
    assert await bot.drain() == 0
    # The reminder's cancel button asks first, then cancels.
    await person.press("Annuler mon inscription")
    await person.press("Oui, annuler")
    assert [r.status for r in await registrations(bot)] == ["cancelled"]


async def test_a_reminder_whose_time_has_passed_is_not_sent(
    bot: Harness, clock: FrozenClock
) -> None:
    await new_session(bot, NOW + timedelta(minutes=30))
    person = bot.user(41)
    await person.say("/sessions")
    await register(person, person.buttons()[0])
    assert await outbox(bot, "reminder") == []
    clock.advance(timedelta(minutes=29))
    assert await bot.drain() == 0


async def test_cancelling_removes_pending_reminders(bot: Harness, clock: FrozenClock) -> None:
    await new_session(bot)
    person = bot.user(42)
    await person.say("/sessions")
    await register(person)
    assert [m.status for m in await outbox(bot, "reminder")] == ["pending", "pending"]
    await person.say("/mysessions")
    await person.press("Annuler : jeudi 3 décembre, 14 h")
    await person.press("Oui, annuler")
    assert [m.status for m in await outbox(bot, "reminder")] == ["cancelled", "cancelled"]
    seen = len(person.replies())
    clock.set(START - timedelta(minutes=30))
    assert await bot.drain() == 0
    assert len(person.replies()) == seen


async def test_times_are_right_across_the_spring_clock_change(
    bot: Harness, clock: FrozenClock
) -> None:
    # Clocks go forward on Sunday 14 March 2027: 10:00 on the 15th is EDT (UTC-4).
    start = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    await new_session(bot, start)
    person = bot.user(43)
    replies = await person.say("/sessions")
    assert "lundi 15 mars 2027, 10 h" in visible(replies[0])
    await register(person, "S'inscrire : lundi 15 mars, 10 h")
    document = person.last_reply().document
    assert document is not None
    event = calendar_event(document[1])
    assert moment(event, "dtstart").astimezone(UTC) == start
    assert moment(event, "dtstart").hour == 10  # wall-clock time in the file
    due = sorted(m.due_at for m in await outbox(bot, "reminder"))
    assert due == [start - timedelta(hours=24), start - timedelta(hours=1)]
    clock.set(start - timedelta(hours=24))  # 14 March, 10:00 EDT, just after the change
    assert await bot.drain() == 1
    assert "lundi 15 mars 2027, 10 h" in visible(person.last_reply())


async def test_reminder_offsets_come_from_settings(database_url: str, clock: FrozenClock) -> None:
    settings: Settings = make_settings(database_url, REMINDER_OFFSETS="90s")
    async with running_bot(settings, clock) as bot:
        await new_session(bot)
        person = bot.user(44)
        await person.say("/sessions")
        await register(person)
        [reminder] = await outbox(bot, "reminder")
        assert reminder.due_at == START - timedelta(seconds=90)
        clock.set(reminder.due_at)
        assert await bot.drain() == 1
        assert "dans 90 s" in visible(person.last_reply())


# ---------------------------------------------------------------------- conversations


async def test_a_command_mid_registration_ends_it_and_cancel_says_so(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(50)
    await person.say("/sessions")
    await person.press(BUTTON)
    replies = await person.say("/cancel")
    assert "C'est annulé" in visible(replies[0])
    replies = await person.say("/cancel")
    assert "rien en cours" in visible(replies[0])
    await person.press(BUTTON)
    await person.say("/help")
    replies = await person.say("c'est gratuit?")  # a question again, not a name
    assert "gratuit" in visible(replies[0])
    assert await registrations(bot) == []


async def test_registration_continues_after_a_restart(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running_bot(settings, clock) as bot:
        await new_session(bot)
        person = bot.user(51)
        await person.say("/sessions")
        await person.press(BUTTON)
        await person.say("Alex")
        api = bot.api
    async with running_bot(settings, clock, api) as bot:  # a new process, same database
        person = bot.user(51)
        replies = await person.say("Maison des jeunes")
        assert "courriel" in visible(replies[0])
        await person.press("Passer")
        await person.press("✅ Je confirme mon inscription")
        [row] = await registrations(bot)
        assert (row.name, row.organisation, row.status) == (
            "Alex",
            "Maison des jeunes",
            "confirmed",
        )


async def test_in_a_group_the_list_points_to_a_private_chat(bot: Harness) -> None:
    from bot.memory_api import ChatSpec

    await new_session(bot)
    group = ChatSpec(-500, "group", "Organismes")
    person = bot.user(52, chat=group)
    replies = await person.say("/sessions")
    text = visible(replies[0])
    assert "écrivez-moi en privé" in text
    assert "?start=sessions" in text
    assert person.buttons(replies[0]) == []
    private = bot.user(52)
    replies = await private.say("/start sessions")
    assert BUTTON in private.buttons(replies[0])


async def test_declared_sessions_are_published_at_start(
    database_url: str, clock: FrozenClock, tmp_path: object
) -> None:
    import shutil
    from pathlib import Path

    from bot.config import PROJECT_ROOT

    knowledge = Path(str(tmp_path)) / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    (knowledge / "sessions.yaml").write_text(
        "sessions:\n"
        "  - id: info-dec\n"
        "    date: 2026-12-03\n"
        '    time: "14:00"\n'
        "    capacity: 5\n"
        "    link: https://meet.example.org/dec\n",
        encoding="utf-8",
    )
    settings = make_settings(database_url, KNOWLEDGE_DIR=str(knowledge))
    async with running_bot(settings, clock) as bot:
        replies = await bot.user(53).say("/sessions")
        text = visible(replies[0])
        assert "jeudi 3 décembre 2026, 14 h" in text
        assert "5 places libres" in text
        assert "Séance d'information DATAide — volet leadership" in text
    (knowledge / "sessions.yaml").write_text(
        (knowledge / "sessions.yaml").read_text().replace("capacity: 5", "capacity: 8"),
        encoding="utf-8",
    )
    async with running_bot(settings, clock) as bot:  # restarted: updated by id, not doubled
        upcoming = await infosessions.upcoming(bot.services.sessions, NOW)
        assert [(v.key, v.capacity) for v in upcoming] == [("info-dec", 8)]


async def test_reminders_survive_a_restart(settings: Settings, clock: FrozenClock) -> None:
    async with running_bot(settings, clock) as bot:
        await new_session(bot)
        person = bot.user(54)
        await person.say("/sessions")
        await register(person)
        api = bot.api
    clock.set(START - timedelta(hours=23))  # the bot was down when the first one fell due
    async with running_bot(settings, clock, api) as bot:
        person = bot.user(54)
        seen = len(person.replies())
        assert await bot.drain() == 1  # sent late rather than lost
        assert "commence dans 24 h" in visible(person.last_reply())
        clock.set(START - timedelta(minutes=30))
        assert await bot.drain() == 1
        assert "commence dans 1 h" in visible(person.last_reply())
        assert len(person.replies()) == seen + 2


async def test_a_late_reminder_is_dropped_once_the_next_is_due(
    bot: Harness, clock: FrozenClock
) -> None:
    await new_session(bot)
    person = bot.user(55)
    await person.say("/sessions")
    await register(person)
    seen = len(person.replies())
    clock.set(START - timedelta(minutes=50))  # down from 24 h before until after the 1 h one
    assert await bot.drain() == 1
    assert len(person.replies()) == seen + 1
    assert "commence dans 1 h" in visible(person.last_reply())
    assert sorted(m.status for m in await outbox(bot, "reminder")) == ["expired", "sent"]
    clock.set(START + timedelta(minutes=1))
    assert await bot.drain() == 0
