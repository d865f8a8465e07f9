"""/privacy, /mydata and /forget as people use them, checked against the database itself."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.memory_api import ChatSpec, UserSpec
from bot.models import Base, Handoff, Person, QuestionLog, Registration
from tests.conftest import NOW
from tests.harness import Harness, visible
from tests.harness import Person as Talker
from tests.test_sessions import BUTTON, new_session, register

ZOE = 7_770_001  # ids no counter or capacity will ever equal by chance
BRUNO = 7_770_002
ZOE_QUESTIONS = ["c'tu gratuit?", "c'est quoi la bourse innovation?"]
BRUNO_QUESTION = "quels sont les prérequis"
LAST_QUESTION = "et la bourse amorçage, c'est combien?"
FORGET = "Oui, tout effacer"


def zoe(bot: Harness) -> Talker:
    spec = UserSpec(ZOE, "Zoé", last_name="Tremblay", username="zoe_mtl", language_code="fr")
    return Talker(bot, spec, None)


def bruno(bot: Harness) -> Talker:
    return Talker(bot, UserSpec(BRUNO, "Bruno", username="bruno_qc", language_code="fr"), None)


async def add_handoff(bot: Harness, person_id: int, text: str, direction: str) -> None:
    """A message of a hand-off conversation, as the hand-off feature stores it."""
    async with bot.services.sessions.begin() as session:
        session.add(
            Handoff(
                person_id=person_id,
                chat_id=person_id,
                direction=direction,
                text=text,
                staff_chat_id=-1000,
                staff_message_id=500 + len(text),
                staff_user_id=900,
                created_at=NOW,
            )
        )


async def zoe_asks_rates_and_registers(person: Talker) -> None:
    """Questions, a 👎 with what was missing, a registration with its reminders."""
    for question in ZOE_QUESTIONS:
        await person.say(question)
    await person.press("👎")
    await person.say("il manquait les dates")
    await person.say("/sessions")
    await register(person, email="zoe@plateau.org")


async def fill_both(bot: Harness) -> None:
    """Zoé and Bruno both leave traces everywhere: questions, a 👎 with a comment,
    registrations with reminders, hand-off messages."""
    await new_session(bot)
    person, other = zoe(bot), bruno(bot)
    await zoe_asks_rates_and_registers(person)
    await other.say(BRUNO_QUESTION)
    await other.say("/sessions")
    await register(other, email="bruno@exemple.org")
    await add_handoff(bot, ZOE, "Bonjour, j'ai une question sur mon CA", "to_staff")
    await add_handoff(bot, ZOE, "Bien sûr, voici la réponse", "to_person")
    await add_handoff(bot, BRUNO, "Message de Bruno à l'équipe", "to_staff")


async def every_row(bot: Harness) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the application defines, read directly."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with bot.services.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(select(table))
            found[table.name] = [dict(row._mapping) for row in rows]
    return found


def traces(rows: dict[str, list[dict[str, Any]]], person_id: int, words: list[str]) -> list[str]:
    """Where the person's id, or any of the words, still appears."""
    found = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if value == person_id or (
                    isinstance(value, str) and any(w.lower() in value.lower() for w in words)
                ):
                    found.append(f"{table}.{column}={value!r}")
    return found


# ---------------------------------------------------------------------- the notice


async def test_privacy_notice_in_both_languages_with_the_configured_periods(
    bot: Harness,
) -> None:
    replies = await bot.user(1).say("/privacy")
    text = visible(replies[0])
    for words in ("Vos renseignements personnels", "/mydata", "/forget", "365 jours"):
        assert words in text
    assert "info@opennorth.ca" in text
    assert "Loi 25" in text
    replies = await bot.user(2, language_code="en").say("/privacy")
    text = visible(replies[0])
    for words in ("Your personal information", "/mydata", "/forget", "365 days", "Law 25"):
        assert words in text


async def test_the_consent_line_links_the_notice(bot: Harness) -> None:
    await new_session(bot)
    person = bot.user(3)
    await person.say("/sessions")
    await person.press(BUTTON)
    await person.press(person.buttons()[0])
    await person.say("Org")
    replies = await person.press("Passer")
    assert "/privacy" in visible(replies[0])
    assert "/forget" in visible(replies[0])


# ---------------------------------------------------------------------- /mydata


async def test_mydata_holds_exactly_that_persons_data(bot: Harness) -> None:
    await fill_both(bot)
    person = zoe(bot)
    replies = await person.say("/mydata")
    assert len(replies) == 2
    summary = visible(replies[0])
    assert "Zoé Tremblay (@zoe_mtl)" in summary
    assert "jeudi 3 décembre 2026, 14 h — inscrit·e" in summary
    assert "zoe@plateau.org" in summary
    assert "« c'tu gratuit? »" in summary
    assert "Messages échangés avec l'équipe : 2" in summary
    assert "Bruno" not in summary
    document = replies[1].document
    assert document is not None
    assert document[0].endswith(".json")
    raw = document[1].decode()
    data = json.loads(raw)
    assert data["person_id"] == ZOE
    assert data["profile"]["username"] == "zoe_mtl"
    assert [q["text"] for q in data["questions"]] == ZOE_QUESTIONS
    assert [(r["email"], r["status"]) for r in data["registrations"]] == [
        ("zoe@plateau.org", "confirmed")
    ]
    assert [(f["helpful"], f["comment"]) for f in data["feedback"]] == [
        (False, "il manquait les dates")
    ]
    assert [h["direction"] for h in data["handoffs"]] == ["to_staff", "to_person"]
    assert sorted(m["kind"] for m in data["messages"]) == ["reminder", "reminder"]
    for other in ("Bruno", "bruno", BRUNO_QUESTION, str(BRUNO)):
        assert other not in raw


async def test_mydata_escapes_what_people_typed(bot: Harness) -> None:
    person = bot.user(4)
    await person.say("<b>gratuit</b> & co?")
    replies = await person.say("/mydata")
    assert "« <b>gratuit</b> & co? »" in visible(replies[0])  # shown literally
    assert "&lt;b&gt;" in (replies[0].raw_text or "")


async def test_mydata_of_someone_unknown_says_so_and_records_nothing(bot: Harness) -> None:
    replies = await bot.user(5).say("/mydata")
    assert "Je ne garde aucun renseignement" in visible(replies[0])
    assert len(replies) == 1
    assert (await every_row(bot))["people"] == []


async def test_in_a_group_mydata_and_forget_point_to_a_private_chat(bot: Harness) -> None:
    await fill_both(bot)
    group = ChatSpec(-700, "group", "Organismes")
    person = Talker(bot, UserSpec(ZOE, "Zoé", language_code="fr"), group)
    for command in ("/mydata", "/forget"):
        replies = await person.say(command)
        assert len(replies) == 1
        assert "en privé" in visible(replies[0])
        assert "zoe@plateau.org" not in visible(replies[0])
    rows = await every_row(bot)
    assert len(rows["registrations"]) == 2  # nothing erased from a group either
    assert [p["telegram_id"] for p in rows["people"]] == [ZOE, BRUNO]


# ---------------------------------------------------------------------- /forget


async def test_forget_leaves_no_trace_and_promotes_the_waitlist(bot: Harness) -> None:
    await new_session(bot, capacity=1)
    person, other = zoe(bot), bruno(bot)
    await zoe_asks_rates_and_registers(person)
    await other.say("/sessions")
    await register(other, "Liste d'attente : jeudi 3 décembre, 14 h")
    await add_handoff(bot, ZOE, "Bonjour, j'ai une question sur mon CA", "to_staff")
    await person.say("/eligibility")
    await person.press("Oui")  # a conversation in progress too
    # A question the FAQ answers (the questionnaire then resumes), still in the writer's queue.
    await person.say(LAST_QUESTION)
    replies = await person.say("/forget")
    assert "Voulez-vous vraiment" in visible(replies[0])
    assert person.buttons() == [FORGET, "Non, garder"]
    replies = await person.press(FORGET)
    assert "C'est fait" in visible(replies[0])
    assert "annulé 1 inscription" in visible(replies[0])

    rows = await every_row(bot)
    words = ["Zoé", "Tremblay", "zoe_mtl", "zoe@plateau.org", "question sur mon CA"]
    assert traces(rows, ZOE, words) == []
    # Their questions stay, detached, for statistics; so does the vote.
    kept = [q["text"] for q in rows["question_log"] if q["person_id"] is None]
    assert kept == [*ZOE_QUESTIONS, LAST_QUESTION]
    assert [f["comment"] for f in rows["feedback"]] == ["il manquait les dates"]
    # Bruno took the freed seat and is told.
    assert [(r["person_id"], r["status"]) for r in rows["registrations"]] == [(BRUNO, "confirmed")]
    assert await bot.drain() >= 1
    assert "une place s'est libérée" in visible(other.last_reply())
    # Afterwards, nothing about them.
    replies = await person.say("/mydata")
    assert "Je ne garde aucun renseignement" in visible(replies[0])
    replies = await person.say("/forget")
    assert "Voulez-vous vraiment" in visible(replies[0])  # harmless to run again
    await person.press(FORGET)
    assert traces(await every_row(bot), ZOE, words) == []


async def test_saying_no_keeps_everything(bot: Harness) -> None:
    await fill_both(bot)
    person = zoe(bot)
    await person.say("/forget")
    replies = await person.press("Non, garder")
    assert "je n'efface rien" in visible(replies[0])
    rows = await every_row(bot)
    assert [p["telegram_id"] for p in rows["people"]] == [ZOE, BRUNO]
    assert len([r for r in rows["registrations"] if r["person_id"] == ZOE]) == 1


async def test_a_stale_or_forged_confirmation_erases_nothing(
    bot: Harness, clock: FrozenClock
) -> None:
    await fill_both(bot)
    person = zoe(bot)
    replies = await person.forge("priv:forgetyes:fr")  # no /forget asked
    assert "a expiré" in visible(replies[0])
    await person.say("/forget")
    question = person.last_reply()
    await person.say("/help")  # moved on: the confirmation ends
    replies = await person.press(FORGET, message=question)
    assert "a expiré" in visible(replies[0])
    await person.say("/forget")
    clock.advance(timedelta(hours=3))  # left waiting
    replies = await person.press(FORGET)
    assert "a expiré" in visible(replies[0])
    intruder = bruno(bot)
    await intruder.forge("priv:forgetyes:fr")  # someone else's yes acts on nobody else
    rows = await every_row(bot)
    assert [p["telegram_id"] for p in rows["people"]] == [ZOE, BRUNO]
    assert {r["person_id"] for r in rows["registrations"]} == {ZOE, BRUNO}


async def test_after_forgetting_a_new_message_starts_from_scratch(bot: Harness) -> None:
    person = zoe(bot)
    await person.say("/lang en")
    await person.say("/forget")
    replies = await person.press("Yes, erase everything")
    assert "erased everything" in visible(replies[0])
    replies = await person.press("Yes, erase everything")  # the same button, tapped again
    assert "has expired" in visible(replies[0])  # the confirmation went with the rest
    replies = await person.say("c'tu gratuit?")
    assert "gratuit" in visible(replies[0])
    async with bot.services.sessions() as session:
        people = list((await session.execute(select(Person))).scalars())
        questions = list((await session.execute(select(QuestionLog))).scalars())
    assert [(p.telegram_id, p.chosen_language) for p in people] == [(ZOE, None)]
    assert [q.person_id for q in questions] == [ZOE]


async def test_registrations_of_others_are_untouched(bot: Harness) -> None:
    await fill_both(bot)
    person = zoe(bot)
    await person.say("/forget")
    await person.press(FORGET)
    async with bot.services.sessions() as session:
        left = list((await session.execute(select(Registration))).scalars())
    assert [(r.person_id, r.email, r.status) for r in left] == [
        (BRUNO, "bruno@exemple.org", "confirmed")
    ]
    replies = await bruno(bot).say("/mydata")
    assert "Bruno" in visible(replies[0])


async def test_mydata_stays_readable_with_the_longest_answers(bot: Harness) -> None:
    from datetime import timedelta as days

    from tests.test_sessions import START

    for week in range(6):
        await new_session(bot, START + days(weeks=week))
    person = Talker(bot, UserSpec(ZOE, "Z" * 256, last_name="T" * 256, username="z" * 32), None)
    for week in range(6):
        await person.say("/sessions")
        await person.press(person.buttons()[week])
        await person.say("N" * 100)
        await person.say("O" * 200)
        await person.say("e" * 64 + "@" + "d" * 180 + ".org")
        await person.press("✅ Je confirme mon inscription")
    for _ in range(6):
        await person.say("bourse " + "x" * 4000)
    replies = await person.say("/mydata")
    assert len(replies) == 2  # the memory API refuses a message over 4 096 characters
    assert "Inscriptions aux séances (6)" in visible(replies[0])
    data = json.loads((replies[1].document or ("", b"{}"))[1])
    assert len(data["registrations"]) == 6
    assert data["registrations"][0]["organisation"] == "O" * 200
