"""Telegram refuses a call (blocked, flood limit, timeout, bad request): the bot never
crashes, does what it can, and answers the next person normally."""

from __future__ import annotations

import logging

import pytest
from telegram.error import BadRequest, Forbidden, TimedOut

from bot.clock import FrozenClock
from bot.config import Settings
from bot.memory_api import MemoryBotApi
from bot.models import Person as PersonRow
from tests.conftest import NOW
from tests.harness import Harness, running_bot, visible

QUESTION = "c'tu gratuit pour les organismes?"


async def blocked_at(bot: Harness, user_id: int) -> object:
    async with bot.services.sessions() as session:
        row = await session.get(PersonRow, user_id)
        assert row is not None, f"person {user_id} was never recorded"
        return row.blocked_at


def send_attempts(bot: Harness, chat_id: int) -> int:
    return sum(
        1
        for name, params in bot.api.calls
        if name == "sendMessage" and str(params.get("chat_id")) == str(chat_id)
    )


def take_errors(bot: Harness) -> list[type[BaseException]]:
    """The errors handlers raised, cleared so the fixture's teardown check passes."""
    kinds = [type(error) for error in bot.errors]
    bot.errors.clear()
    return kinds


async def test_blocked_person_is_marked_and_others_are_still_answered(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = bot.user(60)
    other = bot.user(61)
    await blocker.say("/start")
    bot.api.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    with caplog.at_level(logging.INFO, logger="handlers.errors"):
        assert await blocker.say(QUESTION) == []
    assert take_errors(bot) == [Forbidden]
    assert await blocked_at(bot, 60) == NOW
    assert "blocked the bot" in caplog.text
    replies = await other.say(QUESTION)
    assert len(replies) == 1
    assert "gratuitement" in visible(replies[0])
    assert await blocked_at(bot, 61) is None
    assert bot.errors == []


async def test_blocked_person_who_comes_back_is_unmarked(bot: Harness) -> None:
    person = bot.user(62)
    await person.say("/start")
    bot.api.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    await person.say(QUESTION)
    assert take_errors(bot) == [Forbidden]
    assert await blocked_at(bot, 62) == NOW
    replies = await person.say(QUESTION)
    assert "gratuitement" in visible(replies[0])
    assert await blocked_at(bot, 62) is None


async def test_flood_limit_is_waited_out_and_the_reply_arrives(bot: Harness) -> None:
    person = bot.user(63)
    await person.say("/start")
    attempts = send_attempts(bot, 63)
    bot.api.fail_next("sendMessage", retry_after=1)  # PTB's AIORateLimiter sleeps 1 s
    replies = await person.say(QUESTION)
    assert len(replies) == 1
    assert "gratuitement" in visible(replies[0])
    assert send_attempts(bot, 63) == attempts + 2  # refused once, then accepted
    assert bot.errors == []


async def test_timeout_does_not_crash_and_the_next_question_is_answered(
    bot: Harness,
) -> None:
    person = bot.user(64)
    bot.api.fail_next("sendMessage", timeout=True)
    assert await person.say(QUESTION) == []
    assert take_errors(bot) == [TimedOut]
    replies = await person.say("Combien de places y a-t-il dans chaque cohorte?")
    assert len(replies) == 1
    assert "20 personnes" in visible(replies[0])
    # the question whose reply timed out was still logged
    assert len(await bot.logged_questions()) == 2


async def test_bad_request_is_logged_and_the_person_told(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    person = bot.user(65)
    bot.api.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with caplog.at_level(logging.ERROR, logger="handlers.errors"):
        replies = await person.say(QUESTION)
    assert take_errors(bot) == [BadRequest]
    assert [r.message for r in caplog.records if r.levelno == logging.ERROR] == [
        "Error while handling an update"
    ]
    assert len(replies) == 1  # the error message, since the answer itself was refused
    assert "Oups, quelque chose n'a pas fonctionné" in visible(replies[0])
    assert "1-888-750-4980" in visible(replies[0])
    replies = await person.say(QUESTION)
    assert "gratuitement" in visible(replies[0])


async def test_error_message_that_also_fails_does_not_raise_again(bot: Harness) -> None:
    person = bot.user(66)
    bot.api.fail_next("sendMessage", status=400, times=2)
    assert await person.say(QUESTION) == []
    assert take_errors(bot) == [BadRequest]
    replies = await person.say(QUESTION)
    assert "gratuitement" in visible(replies[0])


async def test_failed_button_answer_does_not_crash(bot: Harness) -> None:
    person = bot.user(67)
    await person.say("Quelle météo demain à Gatineau?")
    bot.api.fail_next("answerCallbackQuery", timeout=True)
    contact = await person.press("🙋 Parler à une personne")
    assert "1-888-750-4980" in visible(contact[0]), (
        "a failed acknowledgement must not stop the action"
    )
    assert take_errors(bot) == []
    again = await person.press("🙋 Parler à une personne")
    assert "1-888-750-4980" in visible(again[0])


async def test_start_survives_a_refused_command_list(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    api = MemoryBotApi(token="123456:TEST")
    api.fail_next("setMyCommands", status=400, description="Bad Request: not supported here")
    caplog.set_level(logging.WARNING)
    async with running_bot(settings, clock, api) as bot:
        assert "Could not publish the command list" in caplog.text
        person = bot.user(68)
        replies = await person.say("/start")
        assert "Bonjour" in visible(replies[0])
        assert bot.errors == []
