"""In a group the bot speaks only when spoken to: mentions, replies to it, its commands."""

from __future__ import annotations

from bot.memory_api import ChatSpec
from tests.harness import Harness, Person, visible

GROUP = ChatSpec(id=-100123, type="group", title="CDC")


def member(bot: Harness, user_id: int = 30) -> Person:
    return bot.user(user_id, first_name="Marie", language_code="fr", chat=GROUP)


def last_user_message_id(bot: Harness) -> int:
    return [m for m in bot.api.messages(GROUP.id) if not m.from_bot][-1].message_id


async def test_plain_group_message_gets_no_reply(bot: Harness) -> None:
    person = member(bot)
    assert await person.say("c'tu gratuit pour les organismes?") == []
    assert await person.say("Bonjour tout le monde") == []
    assert await bot.logged_questions() == []


async def test_mention_gets_an_answer_with_the_mention_removed(bot: Harness) -> None:
    person = member(bot)
    replies = await person.say("@dataide_bot c'tu gratuit?")
    assert len(replies) == 1
    assert "gratuitement" in visible(replies[0])
    assert replies[0].reply_to == last_user_message_id(bot)  # quotes the question
    [logged] = await bot.logged_questions()
    assert logged.text == "c'tu gratuit?"
    assert logged.best_entry == "cost"


async def test_mention_at_the_end_and_in_capitals_is_understood(bot: Harness) -> None:
    person = member(bot)
    replies = await person.say("Combien de places y a-t-il dans chaque cohorte? @DATAide_bot")
    assert len(replies) == 1
    assert "20 personnes" in visible(replies[0])


async def test_reply_to_the_bot_gets_an_answer(bot: Harness) -> None:
    person = member(bot)
    first = await person.say("@dataide_bot c'tu gratuit?")
    replies = await person.say(
        "Pis combien de places y a-t-il dans chaque cohorte?", reply_to=first[0].message_id
    )
    assert len(replies) == 1
    assert "20 personnes" in visible(replies[0])


async def test_reply_to_another_member_gets_no_reply(bot: Harness) -> None:
    person = member(bot)
    other = member(bot, 31)
    await other.say("Quelqu'un sait si c'est gratuit?")
    replies = await person.say("c'tu gratuit?", reply_to=last_user_message_id(bot))
    assert replies == []


async def test_help_addressed_to_the_bot_is_answered(bot: Harness) -> None:
    person = member(bot)
    replies = await person.say("/help@dataide_bot")
    assert len(replies) == 1
    assert "/lang – choisir la langue" in visible(replies[0])


async def test_help_for_another_bot_is_ignored(bot: Harness) -> None:
    person = member(bot)
    assert await person.say("/help@other_bot") == []


async def test_unknown_command_not_addressed_to_the_bot_is_ignored(bot: Harness) -> None:
    person = member(bot)
    assert await person.say("/foo") == []
    assert await person.say("/foo@other_bot") == []


async def test_unknown_command_addressed_to_the_bot_gets_the_unknown_reply(
    bot: Harness,
) -> None:
    person = member(bot)
    replies = await person.say("/foo@dataide_bot")
    assert len(replies) == 1
    text = visible(replies[0])
    assert "Je ne connais pas la commande /foo." in text
    assert "@dataide_bot" not in text
    assert "/help" in text
