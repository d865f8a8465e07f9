"""👍 / 👎 under answers: recorded against the presser's own question, with what was missing."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import Feedback, QuestionLog
from tests.harness import Harness, visible

QUESTION = "c'tu gratuit?"


async def votes(bot: Harness) -> list[Feedback]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(Feedback).order_by(Feedback.id))
        return list(rows.scalars())


async def question_ids(bot: Harness, person_id: int) -> list[int]:
    async with bot.services.sessions() as session:
        rows = await session.execute(
            select(QuestionLog.id).where(QuestionLog.person_id == person_id)
        )
        return list(rows.scalars())


async def test_answers_carry_thumbs_side_by_side_but_small_talk_does_not(bot: Harness) -> None:
    person = bot.user(1)
    [answer] = await person.say(QUESTION)
    assert [b.text for b in answer.buttons[-1]] == ["👍", "👎"]
    [hello] = await person.say("bonjour")
    assert "👍" not in person.buttons(hello)


async def test_thumbs_up_is_recorded_against_the_question(bot: Harness) -> None:
    person = bot.user(2)
    await person.say(QUESTION)
    replies = await person.press("👍")
    assert "Merci" in visible(replies[0])
    [vote] = await votes(bot)
    assert vote.helpful is True
    assert vote.entry_id == "cost"
    assert [vote.question_id] == await question_ids(bot, 2)
    await person.press("👎")  # changing one's mind changes the vote, it does not add one
    [vote] = await votes(bot)
    assert vote.helpful is False


async def test_thumbs_down_asks_what_was_missing_and_keeps_the_comment(bot: Harness) -> None:
    person = bot.user(3)
    await person.say(QUESTION)
    replies = await person.press("👎")
    assert "Qu'est-ce qui manquait" in visible(replies[0])
    assert person.buttons(replies[0]) == ["Passer", "🙋 Parler à une personne"]
    replies = await person.say("Le <b>prix</b> pour 2 personnes & plus")
    assert "l'équipe le lira" in visible(replies[0])
    [vote] = await votes(bot)
    assert (vote.helpful, vote.comment) == (False, "Le <b>prix</b> pour 2 personnes & plus")
    replies = await person.say(QUESTION)  # a question again, not a comment
    assert "gratuit" in visible(replies[0])


async def test_skipping_the_comment(bot: Harness) -> None:
    person = bot.user(4)
    await person.say(QUESTION)
    await person.press("👎")
    replies = await person.press("Passer")
    assert "Merci" in visible(replies[0])
    [vote] = await votes(bot)
    assert vote.comment is None


async def test_a_forged_vote_rates_only_ones_own_question(bot: Harness) -> None:
    asker, other = bot.user(5), bot.user(6)
    await asker.say(QUESTION)
    await other.say("/start")
    await other.forge("fb:down-cost:fr")
    [vote] = await votes(bot)
    assert vote.person_id == 6
    assert vote.question_id is None  # not the asker's question
    replies = await other.forge("fb:down-no-such-entry:fr")
    assert "n'est plus valide" in visible(replies[0])
    replies = await other.forge("fb:sideways-cost:fr")
    assert len(await votes(bot)) == 1
    assert bot.api.callback_answers[-1].get("show_alert") is True
    assert replies == []
