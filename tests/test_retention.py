"""The daily retention sweep: old question text deleted, long-past registrations anonymised,
finished messages and idle conversations removed; idempotent, and safe run concurrently."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot import retention
from bot.app import sweep_personal_data
from bot.clock import FrozenClock
from bot.context import BotContext
from bot.db import create_engine, session_factory
from bot.models import Dialogue, Feedback, OutboxMessage, QuestionLog, Registration
from bot.retention import Policy, Swept
from tests.conftest import NOW, make_settings
from tests.harness import Harness, running_bot, visible
from tests.test_sessions import new_session, register

YEAR = Policy.of(365, 365)
OLD = NOW - timedelta(days=400)


async def old_and_new(bot: Harness, clock: FrozenClock) -> None:
    """A year ago: questions, a 👎, a registration to a session held then. Now: a question,
    a registration to a session to come, and a registration left half-typed."""
    person = bot.user(1, first_name="Zoé")
    clock.set(OLD - timedelta(days=20))
    await new_session(bot, OLD, title="Séance passée")
    await person.say("c'tu gratuit?")
    await person.press("👎")
    await person.say("/sessions")
    await register(person, person.buttons()[0], email="zoe@plateau.org")
    clock.set(NOW - timedelta(days=10))
    await person.say("c'est quoi la bourse innovation?")
    clock.set(NOW)
    assert await bot.drain() == 0  # the old reminders expire, unsent
    await new_session(bot)
    await person.say("/sessions")
    await register(person, person.buttons()[0], email="zoe@plateau.org")
    clock.set(NOW - timedelta(hours=3))
    await bot.user(2).say("/sessions")
    await bot.user(2).press(bot.user(2).buttons()[0])  # then walked away
    clock.set(NOW)


async def test_sweep_applies_each_period_and_keeps_the_rest(
    bot: Harness, clock: FrozenClock
) -> None:
    await old_and_new(bot, clock)
    swept = await retention.sweep(bot.services.sessions, NOW, YEAR)
    assert swept == Swept(questions=1, registrations=1, messages=2, conversations=1)
    async with bot.services.sessions() as session:
        questions = list((await session.execute(select(QuestionLog))).scalars())
        votes = list((await session.execute(select(Feedback))).scalars())
        rows = list(await session.execute(select(Registration).order_by(Registration.id)))
        outbox = list((await session.execute(select(OutboxMessage))).scalars())
        dialogues = list((await session.execute(select(Dialogue))).scalars())
    assert [q.text for q in questions] == ["c'est quoi la bourse innovation?"]
    assert [(v.helpful, v.question_id) for v in votes] == [(False, None)]  # kept, unlinked
    old, new = (row[0] for row in rows)
    assert (old.person_id, old.name, old.email) == (None, "", None)
    assert (old.organisation, old.status) == ("Centre communautaire du Plateau", "confirmed")
    assert (new.person_id, new.name, new.email) == (1, "Zoé", "zoe@plateau.org")
    assert sorted(m.status for m in outbox) == ["pending", "pending"]  # the coming session's
    assert dialogues == []
    replies = await bot.user(1).say("/mydata")  # the anonymised one is no longer theirs
    assert "Inscriptions aux séances (1)" in visible(replies[0])


async def test_running_it_again_changes_nothing(bot: Harness, clock: FrozenClock) -> None:
    await old_and_new(bot, clock)
    await retention.sweep(bot.services.sessions, NOW, YEAR)
    assert await retention.sweep(bot.services.sessions, NOW, YEAR) == Swept()


async def test_several_processes_sweeping_at_once(
    bot: Harness, clock: FrozenClock, database_url: str
) -> None:
    await old_and_new(bot, clock)
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(retention.sweep(session_factory(e), NOW, YEAR) for e in engines)
        )
    finally:
        for engine in engines:
            await engine.dispose()
    done = [r for r in results if not r.skipped]
    assert sum(r.questions for r in done) == 1
    assert sum(r.registrations for r in done) == 1
    assert sum(r.messages for r in done) == 2
    assert sum(r.conversations for r in done) == 1
    assert await retention.sweep(bot.services.sessions, NOW, YEAR) == Swept()


async def test_the_daily_job_uses_the_configured_periods(
    database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(
        database_url, QUESTION_LOG_RETENTION_DAYS="5", REGISTRATION_RETENTION_DAYS="3650"
    )
    async with running_bot(settings, clock) as bot:
        await old_and_new(bot, clock)
        await sweep_personal_data(BotContext(bot.app))
        async with bot.services.sessions() as session:
            questions = list((await session.execute(select(QuestionLog))).scalars())
            names = list((await session.execute(select(Registration.name))).scalars())
        assert questions == []  # both are older than 5 days
        assert names == ["Zoé", "Zoé"]  # ten years for registrations


async def test_the_notice_states_the_configured_periods(
    database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(
        database_url, QUESTION_LOG_RETENTION_DAYS="90", REGISTRATION_RETENTION_DAYS="180"
    )
    async with running_bot(settings, clock) as bot:
        replies = await bot.user(3).say("/privacy")
        assert "effacées après 90 jours" in visible(replies[0])
        assert "rendues anonymes 180 jours après la séance" in visible(replies[0])


@pytest.mark.parametrize("name", ["QUESTION_LOG_RETENTION_DAYS", "REGISTRATION_RETENTION_DAYS"])
def test_a_period_must_be_at_least_a_day(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        make_settings("sqlite+aiosqlite://", **{name: "0"})
