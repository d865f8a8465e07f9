"""Two `python -m bot run` processes in webhook mode on one PostgreSQL database behave as one
bot: updates fed to them alternately are each answered once, a conversation started on one
continues on the other, a broadcast is sent once to everyone at one process's pace, and a
SIGTERM in the middle of it loses nothing and doubles nothing.

PostgreSQL only (TEST_DATABASE_URL): several processes on one SQLite file is not supported.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot import broadcasts, infosessions
from bot.broadcasts import Audience
from bot.db import create_engine, session_factory
from bot.infosessions import NewSession
from bot.memory_api import MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer
from bot.migrate import upgrade
from bot.models import OutboxMessage, Registration
from tests.conftest import empty_schema
from tests.processes import TOKEN, BotProcess, bot_environment, start_bot

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="several processes need PostgreSQL"
)
ANNOUNCEMENT = "Nouvelle cohorte en janvier : les inscriptions sont ouvertes."
RATE = 10  # SEND_RATE of each process: slow enough to see who sends, and how fast


@pytest.fixture
async def pg_url() -> str:
    """TEST_DATABASE_URL with an empty schema (the processes migrate it themselves)."""
    url = os.environ["TEST_DATABASE_URL"]
    await empty_schema(url)
    return url


async def two_bots(env: dict[str, str], cwd: Path) -> tuple[BotProcess, BotProcess]:
    """Both started at once, so they also race to migrate the empty database."""
    first, second = await asyncio.gather(start_bot(env, cwd), start_bot(env, cwd))
    return first, second


async def stop_all(*bots: BotProcess) -> None:
    for bot in bots:
        if bot.process.returncode is None:
            assert await bot.stop() == 0, bot.output


async def roles(*bots: BotProcess) -> list[str]:
    """What each process's /healthz says it does with the outbox."""
    return [(await bot.health()).json()["sender"] for bot in bots]


async def wait_for_one_leader(*bots: BotProcess) -> BotProcess:
    for _ in range(100):
        found = await roles(*bots)
        if sorted(found) == ["leader"] + ["standby"] * (len(bots) - 1):
            return bots[found.index("leader")]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no single leader: {await roles(*bots)}")


async def people(
    api: MemoryBotApi, bots: Sequence[BotProcess], first: int, count: int
) -> list[int]:
    """People who wrote to the bot once, each message to the processes in turn (Telegram
    lets a bot write only to people who wrote first; a broadcast goes to people it knows)."""
    chats = list(range(first, first + count))
    for index, chat_id in enumerate(chats):
        update_ = api.user_message(UserSpec(chat_id, f"Personne {chat_id}"), "bonjour")
        assert (await bots[index % len(bots)].post(update_)).status_code == 200
    return chats


async def queue_broadcast(url: str, text_: str) -> int:
    """A broadcast to everyone, as staff send it (bot.broadcasts); returns its id."""
    engine = create_engine(url)
    try:
        broadcast_id, _ = await broadcasts.create(
            session_factory(engine),
            created_by=900,
            language="fr",
            audience=Audience("all"),
            text=text_,
            wrapped={"fr": text_, "en": text_},
            now=datetime.now(UTC),
        )
        return broadcast_id
    finally:
        await engine.dispose()


async def rows(url: str) -> list[OutboxMessage]:
    """The broadcast's outbox rows."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            found = await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.broadcast_id.is_not(None))
                .order_by(OutboxMessage.id)
            )
            return list(found.scalars())
    finally:
        await engine.dispose()


def broadcast_received(api: MemoryBotApi, chats: Sequence[int], text_: str) -> list[int]:
    """How many copies of the broadcast each recipient got."""
    return [sum(m.text == text_ for m in api.bot_messages(chat)) for chat in chats]


def busiest_second(api: MemoryBotApi, chats: Sequence[int]) -> int:
    """The most broadcast messages Telegram received in any one-second window (each
    recipient's last message is the broadcast; the replies before it are not counted)."""
    times = sorted(api.send_times[chat][-1] for chat in chats)
    return max(
        (sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)),
        default=0,
    )


async def test_updates_fed_alternately_are_each_answered_once_and_a_conversation_moves(
    pg_url: str, tmp_path: Path
) -> None:
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server:
        env = bot_environment(server, pg_url, SEND_RATE=str(RATE))
        a, b = await two_bots(env, tmp_path)
        try:
            await wait_for_one_leader(a, b)
            # Ten people, one question each, to A and B in turn: one answer each.
            askers = [UserSpec(300 + i, f"Personne{i}", language_code="fr") for i in range(10)]
            for i, person in enumerate(askers):
                bot = (a, b)[i % 2]
                update_ = api.user_message(person, "Combien vaut la bourse innovation?")
                assert (await bot.post(update_)).status_code == 200
            assert [len(api.bot_messages(p.id)) for p in askers] == [1] * 10

            # A registration, step by step, each step to the other process.
            engine = create_engine(pg_url)
            starts = (datetime.now(UTC) + timedelta(days=10)).replace(minute=0, second=0)
            new = NewSession(starts, 60, 20, "fr", "Séance d'information", None)
            await infosessions.create(session_factory(engine), new, None, datetime.now(UTC))
            person = UserSpec(400, "Zoé", language_code="fr")
            turn = iter([b, a, b, a, b, a, b, a])

            async def say(words: str) -> None:
                assert (await next(turn).post(api.user_message(person, words))).status_code == 200

            async def press(label_start: str) -> None:
                last = api.bot_messages(person.id)[-1]
                label = next(
                    button.text
                    for row in last.buttons
                    for button in row
                    if button.text.startswith(label_start)
                )
                pressed = api.user_press(person, last.message_id, label)
                assert (await next(turn).post(pressed)).status_code == 200

            await say("/sessions")
            await press("S'inscrire")
            await press("Zoé")
            await say("Centre communautaire du Plateau")
            await press("Passer")
            await press("✅")
            async with session_factory(engine)() as session:
                [row] = (await session.execute(select(Registration))).scalars().all()
            await engine.dispose()
            assert (row.person_id, row.name, row.organisation, row.status) == (
                400,
                "Zoé",
                "Centre communautaire du Plateau",
                "confirmed",
            )
            assert "C'est fait, Zoé" in (api.bot_messages(person.id)[-2].text or "")
        finally:
            await stop_all(a, b)
    assert api.internal_errors == []


async def test_a_broadcast_both_could_send_reaches_everyone_once_at_one_pace(
    pg_url: str, tmp_path: Path
) -> None:
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    async with MemoryHttpServer(api) as server:
        env = bot_environment(server, pg_url, SEND_RATE=str(RATE))
        a, b = await two_bots(env, tmp_path)
        try:
            leader = await wait_for_one_leader(a, b)
            chats = await people(api, (a, b), 1000, 40)
            await queue_broadcast(pg_url, ANNOUNCEMENT)
            await api.wait_for(
                lambda: all(broadcast_received(api, chats, ANNOUNCEMENT)), within=60
            )
            await asyncio.sleep(1)  # time for a wrongly doubled message to arrive
        finally:
            await stop_all(a, b)
    assert broadcast_received(api, chats, ANNOUNCEMENT) == [1] * len(chats)
    assert {row.status for row in await rows(pg_url)} == {"sent"}
    senders = {row.claimed_by for row in await rows(pg_url)}
    assert len(senders) == 1, f"only the leader sends; rows claimed by {senders}"
    # Two senders at SEND_RATE each would reach 2 x 10 a second: one pace for the bot.
    assert busiest_second(api, chats) <= RATE + 1
    assert leader in (a, b)


@pytest.mark.parametrize("finisher", ["the other process", "the restarted process"])
async def test_sigterm_during_a_broadcast_loses_nothing_and_doubles_nothing(
    pg_url: str, tmp_path: Path, finisher: str
) -> None:
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    async with MemoryHttpServer(api) as server:
        env = bot_environment(server, pg_url, SEND_RATE=str(RATE))
        if finisher == "the other process":
            bots = list(await two_bots(env, tmp_path))
        else:
            bots = [await start_bot(env, tmp_path)]
        try:
            leader = await wait_for_one_leader(*bots)
            chats = await people(api, bots, 2000, 60)
            await queue_broadcast(pg_url, ANNOUNCEMENT)
            await api.wait_for(
                lambda: sum(broadcast_received(api, chats, ANNOUNCEMENT)) >= 15, within=60
            )
            stopped_at = asyncio.get_running_loop().time()
            assert await leader.stop() == 0, leader.output
            midway = sum(broadcast_received(api, chats, ANNOUNCEMENT))
            assert midway < len(chats), "stopped too late to test anything"
            if finisher == "the restarted process":
                assert {r.status for r in await rows(pg_url)} == {"sent", "pending"}, (
                    "claimed rows must go back at shutdown, not wait for their lease"
                )
                bots.append(await start_bot(env, tmp_path))
            survivor = bots[-1] if bots[-1] is not leader else bots[0]
            assert survivor is not leader
            await api.wait_for(
                lambda: all(broadcast_received(api, chats, ANNOUNCEMENT)), within=60
            )
            # Well before the 60 s lease: nothing waited for a dead claim to expire.
            assert asyncio.get_running_loop().time() - stopped_at < 30
            await asyncio.sleep(1)
        finally:
            await stop_all(*bots)
    assert broadcast_received(api, chats, ANNOUNCEMENT) == [1] * len(chats)
    assert {r.status for r in await rows(pg_url)} == {"sent"}
    assert busiest_second(api, chats) <= RATE + 1
    stop_events = [e.get("event") for e in leader.events()]
    assert "stopped" in stop_events


async def test_migrations_run_once_when_processes_start_together(pg_url: str) -> None:
    """The advisory lock in bot.migrate: three upgrades at once on an empty database."""
    engines = [create_engine(pg_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
        assert len(versions) == 1
    finally:
        for engine in engines:
            await engine.dispose()
