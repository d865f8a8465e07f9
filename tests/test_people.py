"""People recorded on contact: one write per person for messages that arrive together,
and what the write gives back, on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import SessionFactory, session_factory
from bot.models import Person
from bot.people import BATCH_ROWS, People, PersonView, Profile
from tests.conftest import NOW
from tests.test_outbox_reliability import database


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with database(database_url) as db:
        yield db.engine


def writes_people(statement: str) -> bool:
    """Whether an SQL statement records people (the upsert of bot.people)."""
    return statement.lstrip().upper().startswith("INSERT INTO PEOPLE")


def count_person_writes(engine: AsyncEngine) -> list[str]:
    """The INSERT statements into people that the engine runs from now on."""
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if writes_people(statement):
            writes.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return writes


async def people_rows(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Person)) or 0)


async def test_messages_sent_together_record_a_newcomer_once(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    people = People(sessions)
    writes = count_person_writes(engine)
    newcomer = Profile(501, "Amélie", language_code="fr")
    views = await asyncio.gather(*(people.touch(newcomer, NOW) for _ in range(5)))
    assert views == [PersonView(501, "Amélie", None, "fr")] * 5
    assert len(writes) == 1
    assert await people_rows(sessions) == 1
    # A changed name is written again; another person at the same time shares that write.
    renamed = Profile(501, "Amélie B.", language_code="fr")
    other = Profile(502, "Sam", language_code="en")
    first, second = await asyncio.gather(people.touch(renamed, NOW), people.touch(other, NOW))
    assert (first.first_name, second.first_name) == ("Amélie B.", "Sam")
    assert len(writes) == 2
    assert await people_rows(sessions) == 2


async def test_newcomers_arriving_together_are_recorded_in_one_statement(
    engine: AsyncEngine,
) -> None:
    """A burst of first contacts (an announcement shared in a group) is one write, not
    one per person queued behind the database; each gets their own row back."""
    sessions = session_factory(engine)
    await People(sessions).touch(Profile(800, "Déjà", language_code="fr"), NOW)
    await People(sessions).set_language(800, "en")
    people = People(sessions)
    writes = count_person_writes(engine)
    burst = [Profile(800 + n, f"Personne {n}", language_code="fr") for n in range(40)]
    views = await asyncio.gather(*(people.touch(profile, NOW) for profile in burst))
    assert [view.telegram_id for view in views] == [800 + n for n in range(40)]
    assert [view.first_name for view in views] == [f"Personne {n}" for n in range(40)]
    assert views[0].chosen_language == "en"  # the returning person's choice, from their row
    assert {view.chosen_language for view in views[1:]} == {None}
    assert len(writes) == 1
    assert await people_rows(sessions) == 40


async def test_a_large_burst_is_written_in_bounded_statements(engine: AsyncEngine) -> None:
    """More newcomers than one statement may carry (SQLite bounds its values): several
    writes of at most BATCH_ROWS people, and nobody is left out."""
    sessions = session_factory(engine)
    people = People(sessions)
    writes = count_person_writes(engine)
    burst = [Profile(2000 + n, f"Personne {n}") for n in range(2 * BATCH_ROWS + 10)]
    views = await asyncio.gather(*(people.touch(profile, NOW) for profile in burst))
    assert [view.first_name for view in views] == [profile.first_name for profile in burst]
    assert len(writes) == 3
    assert await people_rows(sessions) == 2 * BATCH_ROWS + 10


async def test_a_failed_write_reaches_every_message_waiting_for_it(engine: AsyncEngine) -> None:
    """The database refuses a batch: each message in it gets the error (which the error
    handler reports), and the next message records its person as usual."""
    sessions = session_factory(engine)
    people = People(sessions)
    failures = iter([RuntimeError("database went away")])

    def refuse_once(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if writes_people(statement):
            error = next(failures, None)
            if error is not None:
                raise error

    event.listen(engine.sync_engine, "before_cursor_execute", refuse_once)
    outcomes = await asyncio.gather(
        people.touch(Profile(950, "Una"), NOW),
        people.touch(Profile(951, "Dos"), NOW),
        return_exceptions=True,
    )
    assert [str(outcome) for outcome in outcomes] == ["database went away"] * 2
    assert await people_rows(sessions) == 0
    assert (await people.touch(Profile(950, "Una"), NOW)).first_name == "Una"
    assert await people_rows(sessions) == 1


async def test_a_returning_person_keeps_the_language_they_chose(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    await People(sessions).touch(Profile(601, "Noor", language_code="fr"), NOW)
    await People(sessions).set_language(601, "en")
    # A new process (no cache) records them again: the write gives back the stored choice.
    again = await People(sessions).touch(Profile(601, "Noor", language_code="ar"), NOW)
    assert again == PersonView(601, "Noor", "en", "ar")


async def test_a_message_given_up_on_does_not_lose_the_others(engine: AsyncEngine) -> None:
    """The first message's handler is cancelled (a timeout, shutdown) while recording the
    person: the message that was waiting for that write still gets it."""
    sessions = session_factory(engine)
    people = People(sessions)
    writes = count_person_writes(engine)
    newcomer = Profile(701, "Zoé")
    first = asyncio.create_task(people.touch(newcomer, NOW))
    second = asyncio.create_task(people.touch(newcomer, NOW))
    await asyncio.sleep(0)  # both are waiting: the first for its write, the second for it
    first.cancel()
    assert await second == PersonView(701, "Zoé", None, None)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(writes) == 1
    assert await people_rows(sessions) == 1
