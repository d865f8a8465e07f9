"""Talking to a person through the staff chat, both ways, as people and staff live it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.memory_api import ChatSpec, SentMessage
from bot.models import Handoff
from tests.conftest import STAFF_ID, make_settings
from tests.harness import Harness, Person, running_bot, visible

STAFF_CHAT = -100500
PERSON = "🙋 Parler à une personne"
UNSURE = "Est-ce que je peux amener mon chien à la formation?"


@pytest.fixture
async def bot(database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    """The bot with a staff chat the bot is a member of (a staff member spoke in it)."""
    settings = make_settings(database_url, STAFF_CHAT_ID=str(STAFF_CHAT))
    async with running_bot(settings, clock) as harness:
        await staff_member(harness).say("/help")
        yield harness
    assert harness.errors == [], f"handlers raised: {harness.errors!r}"


def staff_member(bot: Harness, user_id: int = STAFF_ID) -> Person:
    return bot.user(
        user_id, first_name="Dominique", chat=ChatSpec(STAFF_CHAT, "supergroup", title="Équipe")
    )


def posts(bot: Harness) -> list[SentMessage]:
    """The bot's hand-off posts in the staff chat."""
    return [m for m in bot.api.bot_messages(STAFF_CHAT) if "🙋" in (m.text or "")]


async def ask_unsure(person: Person) -> None:
    replies = await person.say(UNSURE)
    assert PERSON in person.buttons(replies[-1]), "the question must be one the bot is unsure of"
    await person.press(PERSON)


async def test_round_trip_question_answer_and_follow_up(bot: Harness) -> None:
    person = bot.user(1, first_name="Camille")
    await ask_unsure(person)
    assert "Une personne de l'équipe DATAide va lire votre question" in visible(
        person.last_reply()
    )
    [post] = posts(bot)
    text = visible(post)
    assert "Camille" in text
    assert "FR" in text
    assert UNSURE in text
    assert "Meilleure piste du bot" in text

    staff = staff_member(bot)
    replies = await staff.say(
        "Bonjour Camille, les animaux ne sont pas admis.", reply_to=post.message_id
    )
    staff_reply = staff.api.messages(STAFF_CHAT)[-2]  # before the bot's confirmation
    assert staff_reply.text == "Bonjour Camille, les animaux ne sont pas admis."
    assert "Réponse transmise à Camille" in visible(replies[0])
    await bot.drain()
    answer = person.last_reply()
    assert "Réponse de l'équipe DATAide" in visible(answer)
    assert "les animaux ne sont pas admis" in visible(answer)
    assert person.buttons(answer) == ["↩️ Répondre à l'équipe"]

    await person.press("↩️ Répondre à l'équipe")
    await person.say("Merci! Et un chat?")
    follow_up = posts(bot)[-1]
    assert "Suite de la conversation" in visible(follow_up)
    assert "Merci! Et un chat?" in visible(follow_up)
    assert follow_up.reply_to == staff_reply.message_id, "the follow-up continues the thread"
    await staff.say("Non plus, désolée!", reply_to=follow_up.message_id)
    await bot.drain()
    assert "Non plus, désolée!" in visible(person.last_reply())

    async with bot.services.sessions() as session:
        rows = (await session.scalars(select(Handoff).order_by(Handoff.id))).all()
    assert [(r.direction, r.person_id) for r in rows] == [
        ("to_staff", 1),
        ("to_person", 1),
        ("to_staff", 1),
        ("to_person", 1),
    ]


async def test_contact_command_and_menu_write_to_the_team(bot: Harness) -> None:
    person = bot.user(2, first_name="Sam", language_code="en")
    replies = await person.say("/contact Can our board chair attend too?")
    assert "Someone from the DATAide team will read your question" in visible(replies[0])
    assert "Can our board chair attend too?" in visible(posts(bot)[-1])
    assert "EN" in visible(posts(bot)[-1])
    replies = await person.say("/contact")
    assert "Write your message for the team" in visible(replies[0])
    await person.say("Second question")
    assert "Second question" in visible(posts(bot)[-1])
    assert "Message pour l'équipe" in visible(posts(bot)[-1])


async def test_special_characters_are_escaped_both_ways(bot: Harness) -> None:
    person = bot.user(3)
    await person.say("/contact <b>gras</b> & <script>")
    post = posts(bot)[-1]
    assert "<b>gras</b> & <script>" in visible(post)
    staff = staff_member(bot)
    await staff.say("Réponse avec <i>balises</i> & 🎉", reply_to=post.message_id)
    await bot.drain()
    assert "Réponse avec <i>balises</i> & 🎉" in visible(person.last_reply())


async def test_only_staff_replies_are_delivered(bot: Harness) -> None:
    person = bot.user(4)
    await person.say("/contact Bonjour")
    post = posts(bot)[-1]
    intruder = staff_member(bot, user_id=4242)
    replies = await intruder.say("Je ne suis pas de l'équipe", reply_to=post.message_id)
    assert "Seules les personnes de l'équipe" in visible(replies[0])
    await bot.drain()
    assert all("Je ne suis pas" not in visible(m) for m in person.replies())


async def test_other_replies_in_the_staff_chat_are_left_alone(bot: Harness) -> None:
    person = bot.user(5)
    await person.say("/contact Bonjour")
    staff = staff_member(bot)
    await staff.say("ok", reply_to=posts(bot)[-1].message_id)
    done = staff.last_reply()
    replies = await staff.say("c'est gratuit?", reply_to=done.message_id)
    assert replies == [], "neither delivered nor answered as a question"


async def test_a_person_who_blocked_the_bot_is_reported_to_staff(bot: Harness) -> None:
    person = bot.user(6)
    await person.say("/contact Bonjour")
    post = posts(bot)[-1]
    bot.api.block(6)
    staff = staff_member(bot)
    await staff.say("Première réponse", reply_to=post.message_id)
    await bot.drain()  # Telegram says 403: the person is marked blocked
    replies = await staff.say("Deuxième réponse", reply_to=post.message_id)
    assert "je ne peux plus lui écrire" in visible(replies[0])


async def test_staff_chat_unreachable_gives_the_contact_details(bot: Harness) -> None:
    person = bot.user(7)
    bot.api.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was kicked", chat_id=STAFF_CHAT
    )
    replies = await person.say("/contact Bonjour")
    assert "Je n'arrive pas à joindre l'équipe" in visible(replies[0])
    assert "@" in visible(replies[0]), "the team's email comes with it"


async def test_without_a_staff_chat_the_button_gives_the_details(
    database_url: str, clock: FrozenClock
) -> None:
    async with running_bot(make_settings(database_url), clock) as bot:
        person = bot.user(8)
        await ask_unsure(person)
        assert "une vraie personne vous répondra" in visible(person.last_reply())
        replies = await person.say("/contact")
        assert "une vraie personne vous répondra" in visible(replies[0])


async def test_the_thread_survives_a_restart(database_url: str, clock: FrozenClock) -> None:
    settings = make_settings(database_url, STAFF_CHAT_ID=str(STAFF_CHAT))
    async with running_bot(settings, clock) as bot:
        await staff_member(bot).say("/help")
        await bot.user(9).say("/contact Avant le redémarrage")
        post = posts(bot)[-1]
        api = bot.api
    async with running_bot(settings, clock, api) as bot:
        await staff_member(bot).say("Après", reply_to=post.message_id)
        await bot.drain()
        assert "Après" in visible(bot.user(9).last_reply())


async def test_forged_person_buttons_never_reach_someone_else(bot: Harness) -> None:
    asker, other = bot.user(10), bot.user(11)
    await ask_unsure(asker)
    await other.say("/start")
    before = len(posts(bot))
    # `human:ask` carries no id: pressed by someone else it is about their own question.
    replies = await other.forge("human:ask:fr")
    assert "Écrivez votre message pour l'équipe" in visible(replies[0])
    assert len(posts(bot)) == before
    await other.forge("human:answer-1:fr")
    assert bot.api.callback_answers[-1].get("show_alert") is True
