"""The outbox when things go wrong: a sender killed mid-batch and replaced, two senders on one
database, fifty people racing for the last three seats, each answer Telegram can give, and
pacing under Telegram's flood limits.

Everything is real: the migrated database of the `database_url` fixture (SQLite, and
PostgreSQL too when TEST_DATABASE_URL is set), `OutboxSender`, `TelegramTransport` on a PTB
`Bot` whose requests the in-memory Bot API answers, `bot.registrations`. Leases and backoffs
run on the FrozenClock; pacing runs on the real monotonic clock, as in production.

Three tests here first reproduced bugs since fixed: a claim taking more rows than asked on
PostgreSQL (a re-run subquery), a message sent during a flood wait, and per-chat spacing
with no margin.

`python -m tests.test_outbox_reliability URL BASE_URL` is the sender process that
`test_sender_process_killed_mid_batch_...` kills with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from bot import infosessions, outbox, registrations
from bot.assistant import Assistant
from bot.clock import FrozenClock
from bot.config import PROJECT_ROOT
from bot.db import SessionFactory, create_engine, session_factory
from bot.infosessions import CONFIRMED, WAITLISTED, NewSession, SessionView
from bot.memory_api import MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer
from bot.migrate import upgrade
from bot.models import OutboxMessage, Person, Registration
from bot.outbox import OutboxItem
from bot.people import People, Profile, touch
from bot.registrations import Details, Registered
from bot.send_budget import SendBudget
from bot.sender import OutboxSender
from bot.session_text import SessionText
from bot.telegram_transport import TelegramTransport
from tests.conftest import NOW, make_settings
from tests.harness import running_bot

TOKEN = "123456:TEST"
LEASE = timedelta(seconds=60)  # OutboxSender's default, which production uses
ZONE = ZoneInfo("America/Toronto")
REMINDERS = (timedelta(hours=24), timedelta(hours=1))
# Backoffs run on the frozen clock, but a retry to the same chat would still wait the real
# second of per-chat pacing: tests about retries shorten it.
QUICK_RETRY: dict[str, Any] = {"per_chat_interval": 0.05}

# ---------------------------------------------------------------------------------- helpers


@dataclass
class Database:
    """One process's view of the database: its own engine and session factory."""

    engine: AsyncEngine
    sessions: SessionFactory


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    """An engine as the bot opens one, on the migrated schema; closed on the way out."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        yield Database(engine, session_factory(engine))
    finally:
        await engine.dispose()


@asynccontextmanager
async def telegram(api: MemoryBotApi) -> AsyncIterator[Bot]:
    """A plain PTB bot (what the transport expects) whose requests `api` answers."""
    async with Bot(api.token, request=api.request()) as bot:
        yield bot


def make_sender(
    db: Database, bot: Bot, clock: FrozenClock, *, worker: str, **options: Any
) -> OutboxSender:
    """A sender wired like `bot.app.start`'s (plain Bot, People.mark_blocked), under a
    worker id of our choosing."""
    people = People(db.sessions)
    return OutboxSender(
        db.sessions,
        TelegramTransport(bot),
        clock,
        lambda chat_id: people.mark_blocked(chat_id, clock.now()),
        worker=worker,
        **options,
    )


def have_written(api: MemoryBotApi, chat_ids: Iterable[int]) -> None:
    """Telegram lets a bot write only to people who wrote to it first."""
    for chat_id in chat_ids:
        api.user_message(UserSpec(chat_id, f"Personne {chat_id}"), "bonjour")


def notice(chat_id: int, text: str | None = None) -> OutboxItem:
    return OutboxItem(chat_id, "notice", text or f"Rappel pour <b>{chat_id}</b>", NOW)


def received(api: MemoryBotApi, chat_id: int) -> list[str]:
    """What the person reads from the bot, in order."""
    return [message.text or "" for message in api.bot_messages(chat_id)]


def calls_to(api: MemoryBotApi, chat_id: int) -> int:
    """sendMessage calls for that chat, refused ones included."""
    return sum(
        1
        for name, params in api.calls
        if name == "sendMessage" and str(params.get("chat_id")) == str(chat_id)
    )


async def outbox_rows(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(rows.scalars())


async def only_row(sessions: SessionFactory) -> OutboxMessage:
    rows = await outbox_rows(sessions)
    assert len(rows) == 1, rows
    return rows[0]


async def blocked_at(sessions: SessionFactory, person_id: int) -> datetime | None:
    async with sessions() as session:
        person = await session.get(Person, person_id)
        assert person is not None, f"person {person_id} was never recorded"
        return person.blocked_at


async def record_people(sessions: SessionFactory, ids: Iterable[int]) -> None:
    for person_id in ids:
        await touch(sessions, Profile(person_id, f"Personne {person_id}"), NOW)


def sends(api: MemoryBotApi) -> int:
    """sendMessage calls made, refused ones included."""
    return sum(1 for name, _ in api.calls if name == "sendMessage")


# ----------------------------------------------------------- 1. killed mid-batch, restarted


@dataclass(frozen=True)
class AtTheKill:
    """What the dead sender left: in Telegram and in the outbox, by chat."""

    delivered: frozenset[int]  # Telegram had accepted the chat's message
    marked: frozenset[int]  # its row was already `sent`
    held: frozenset[int]  # its row was still claimed (`sending`) by the dead sender
    queued: frozenset[int]  # its row was `pending`: never claimed, or handed back

    @property
    def window(self) -> frozenset[int]:
        """Delivered but not recorded: the one duplicate window the sender documents."""
        return self.delivered - self.marked


async def at_the_kill(sessions: SessionFactory, api: MemoryBotApi, chats: range) -> AtTheKill:
    rows = {row.chat_id: row for row in await outbox_rows(sessions)}
    assert sorted(rows) == list(chats)

    def having(status: str) -> frozenset[int]:
        return frozenset(chat for chat, row in rows.items() if row.status == status)

    delivered = frozenset(chat for chat in chats if received(api, chat))
    state = AtTheKill(
        delivered, having(outbox.SENT), having(outbox.SENDING), having(outbox.PENDING)
    )
    assert state.marked | state.held | state.queued == set(chats), "rows in another state"
    return state


async def restart_after_kill(
    database_url: str, api: MemoryBotApi, clock: FrozenClock, chats: range
) -> AtTheKill:
    """A new sender takes over: what was handed back goes at once, what the dead one held
    goes once its lease has run out, and only the window is sent twice."""
    async with database(database_url) as db, telegram(api) as bot:
        state = await at_the_kill(db.sessions, api, chats)
        assert 0 < len(state.delivered) < len(chats), "the kill did not come mid-batch"
        assert state.marked <= state.delivered, "a row was marked sent before Telegram had it"
        assert not state.queued & state.delivered, "a row handed back had already been sent"
        assert state.window <= state.held, "a delivered row was neither sent nor held"

        successor = make_sender(db, bot, clock, worker="successor")
        await successor.drain()  # at the moment of the kill: the lease still holds
        unread = {chat for chat in chats if not received(api, chat)}
        assert unread == state.held - state.delivered, (
            "a held row was taken before its lease ran out"
        )

        clock.advance(LEASE + timedelta(seconds=1))
        await successor.drain()
        counts = {chat: len(received(api, chat)) for chat in chats}
        assert min(counts.values()) == 1, "someone never got their message"
        assert max(counts.values()) <= 2, "someone got their message three times"
        twice = {chat for chat, count in counts.items() if count == 2}
        assert twice == state.window, "sent twice outside the documented window"
        for chat in chats:
            assert set(received(api, chat)) == {f"Rappel pour {chat}"}

        rows = await outbox_rows(db.sessions)
        assert {row.status for row in rows} == {outbox.SENT}
        assert {row.chat_id for row in rows if row.claimed_by == "successor"} == set(chats) - (
            state.marked
        ), "the successor re-sent a row already recorded as sent"
        assert successor.stats.sent == len(chats) - len(state.marked)
    return state


async def test_sender_cancelled_mid_batch_hands_back_the_rest_and_nothing_is_duplicated(
    database_url: str, clock: FrozenClock
) -> None:
    """The sender's task is cancelled mid-batch (shutdown, stop() timing out): what it
    never tried goes back to the queue at once, what it had launched finishes."""
    chats = range(1001, 1041)
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    have_written(api, chats)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat) for chat in chats], NOW)
        doomed = make_sender(db, bot, clock, worker="doomed")
        batch = asyncio.create_task(doomed.run_once())
        await api.wait_for(lambda: api.sent_count >= 12, within=10)
        launched = [task for task in asyncio.all_tasks() if _delivering(task)]
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        # What was in flight is neither cancelled nor awaited by run_once: it completes on
        # its own, and is waited for here so the database is settled.
        await asyncio.gather(*launched)
    state = await restart_after_kill(database_url, api, clock, chats)
    assert state.held == set(), "a cancelled sender must not leave rows to its lease"
    assert state.window == set()
    assert len(state.queued) == len(chats) - len(state.delivered), "untried rows not handed back"


def _delivering(task: asyncio.Task[Any]) -> bool:
    return getattr(task.get_coro(), "__qualname__", "") == "OutboxSender._deliver"


async def test_sender_process_killed_mid_batch_duplicates_at_most_what_was_in_flight(
    database_url: str, clock: FrozenClock
) -> None:
    """SIGKILL, the real thing: nothing is handed back, the batch waits for its lease, and
    only messages Telegram accepted but the dead process had not recorded go twice."""
    chats = range(1101, 1141)
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    have_written(api, chats)
    async with database(database_url) as db:
        await outbox.enqueue(db.sessions, [notice(chat) for chat in chats], NOW)
    await sender_killed_when(database_url, api, lambda: api.sent_count >= 12)
    state = await restart_after_kill(database_url, api, clock, chats)
    assert state.queued == set(), "a killed process hands nothing back"
    # Rows are recorded one by one as Telegram answers (at 29 a second, a few at most are
    # unrecorded at any instant), not at the end of the batch (12 or more by now).
    assert len(state.window) <= 5, f"{len(state.window)} sent but unrecorded at the kill"


async def sender_killed_when(
    database_url: str, api: MemoryBotApi, condition: Callable[[], bool]
) -> None:
    """Start a sender process draining the outbox of `database_url` on `api` over real HTTP,
    and SIGKILL it as soon as `condition` holds."""
    async with MemoryHttpServer(api) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.test_outbox_reliability",
            database_url,
            server.base_url,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = await kill_when(process, api, condition)
        assert process.returncode == -signal.SIGKILL, output


async def kill_when(
    process: asyncio.subprocess.Process, api: MemoryBotApi, condition: Callable[[], bool]
) -> str:
    """SIGKILL the process as soon as `condition` holds; returns what it printed."""
    try:
        await api.wait_for(condition, within=30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"the sender process never got that far:\n{output.decode()}")
    process.kill()
    output, _ = await process.communicate()
    return output.decode()


def _doomed_sender(database_url: str, base_url: str) -> None:
    """The sender process the SIGKILL test kills: drains on real HTTP, same frozen time."""

    async def run() -> None:
        clock = FrozenClock(NOW)
        async with database(database_url) as db, Bot(TOKEN, base_url=base_url) as bot:
            await make_sender(db, bot, clock, worker="doomed").drain()

    asyncio.run(run())


# --------------------------------------------------------------- 2. two senders, one database


async def test_two_senders_on_one_database_send_each_row_exactly_once(
    database_url: str, clock: FrozenClock
) -> None:
    """Two processes, each with its own engine, start draining at the same moment. (On
    PostgreSQL one of them usually claims everything: see the claim test below.)"""
    chats = range(20_001, 20_201)
    api = MemoryBotApi(token=TOKEN)  # no flood limit: two senders together exceed it
    have_written(api, chats)
    async with database(database_url) as first, database(database_url) as second:
        await outbox.enqueue(first.sessions, [notice(chat) for chat in chats], NOW)
        async with telegram(api) as bot_a, telegram(api) as bot_b:
            # batches of 100
            a = make_sender(first, bot_a, clock, worker="a", budget=SendBudget(50))
            b = make_sender(second, bot_b, clock, worker="b", budget=SendBudget(50))
            await asyncio.gather(a.drain(), b.drain())
        rows = await outbox_rows(first.sessions)
    assert {chat: len(received(api, chat)) for chat in chats} == dict.fromkeys(chats, 1)
    assert {row.status for row in rows} == {outbox.SENT}
    assert a.stats.sent + b.stats.sent == len(chats)
    by_worker = Counter(row.claimed_by for row in rows)
    assert by_worker == Counter({"a": a.stats.sent, "b": b.stats.sent})


async def test_simultaneous_claims_are_disjoint_and_no_larger_than_asked(
    database_url: str,
) -> None:
    """Three processes claim at the same moment. A batch is sized so that its lease cannot
    run out while it is being sent; a claim larger than asked breaks that promise."""
    async with AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(database(database_url)) for _ in range(3)]
        await outbox.enqueue(dbs[0].sessions, [notice(chat) for chat in range(6001, 6201)], NOW)
        claims = await asyncio.gather(
            *(
                outbox.claim(db.sessions, f"worker-{index}", NOW, LEASE, 50)
                for index, db in enumerate(dbs)
            )
        )
    ids = [row.id for claim in claims for row in claim]
    assert len(ids) == len(set(ids)), "a row was claimed twice"
    assert [len(claim) for claim in claims] == [50, 50, 50]


# ------------------------------------------------------------ 3. racing for the last seats


def details(person_id: int) -> Details:
    return Details(f"Personne {person_id}", "Centre communautaire", None, "fr")


async def session_with_seats_taken(
    db: Database, clock: FrozenClock, *, capacity: int, taken: int
) -> tuple[SessionView, SessionText]:
    """A session in ten days with `taken` of its `capacity` seats confirmed."""
    new = NewSession(NOW + timedelta(days=10), 60, capacity, "fr", "Séance d'information")
    view = await infosessions.create(db.sessions, new, None, NOW)
    notices = SessionText(Assistant.load(PROJECT_ROOT / "knowledge", clock, ZONE), ZONE, REMINDERS)
    early = range(2001, 2001 + taken)
    await record_people(db.sessions, early)
    for person_id in early:
        result = await registrations.register(
            db.sessions, view.id, person_id, details(person_id), NOW, notices
        )
        assert result.status == CONFIRMED
    return view, notices


async def test_fifty_people_racing_for_the_last_three_seats(
    database_url: str, clock: FrozenClock
) -> None:
    racers = range(3001, 3051)
    async with database(database_url) as db:
        view, notices = await session_with_seats_taken(db, clock, capacity=10, taken=7)
        await record_people(db.sessions, racers)
        results: list[Registered] = await asyncio.gather(
            *(
                registrations.register(
                    db.sessions, view.id, person_id, details(person_id), NOW, notices
                )
                for person_id in racers
            )
        )
        assert Counter(result.status for result in results) == {CONFIRMED: 3, WAITLISTED: 47}
        waitlisted = sorted(
            (result.registration for result in results if result.status == WAITLISTED),
            key=lambda registration: registration.id if registration else 0,
        )
        positions = [
            registration.position if registration else None for registration in waitlisted
        ]
        assert positions == list(range(1, 48)), "waitlist places must follow the order of arrival"

        after = await infosessions.get(db.sessions, view.id)
        assert after is not None
        assert (after.confirmed, after.waitlisted, after.full) == (10, 47, True)
        async with db.sessions() as session:
            confirmed_ids = set(
                await session.scalars(
                    select(Registration.id).where(Registration.status == CONFIRMED)
                )
            )
        reminders = Counter(
            row.registration_id for row in await outbox_rows(db.sessions) if row.kind == "reminder"
        )
        assert reminders == dict.fromkeys(confirmed_ids, len(REMINDERS)), (
            "reminders go with a seat, in its transaction, and only with a seat"
        )


async def test_three_cancellations_at_once_promote_the_first_three_of_the_waitlist(
    database_url: str, clock: FrozenClock
) -> None:
    waiting = range(3101, 3106)
    async with database(database_url) as db:
        view, notices = await session_with_seats_taken(db, clock, capacity=3, taken=3)
        await record_people(db.sessions, waiting)
        for person_id in waiting:
            result = await registrations.register(
                db.sessions, view.id, person_id, details(person_id), NOW, notices
            )
            assert result.status == WAITLISTED
        seated = await registrations.of_session(db.sessions, view.id)
        leaving = [r for r in seated if r.status == CONFIRMED]
        cancelled = await asyncio.gather(
            *(registrations.cancel(db.sessions, r.id, r.person_id, NOW, notices) for r in leaving)
        )
        promoted = [c.promoted.person_id for c in cancelled if c is not None and c.promoted]
        assert sorted(promoted) == [3101, 3102, 3103], "each freed seat to the next in line, once"
        after = await infosessions.get(db.sessions, view.id)
        assert after is not None
        assert (after.confirmed, after.waitlisted) == (3, 2)
        notified = Counter(
            row.chat_id for row in await outbox_rows(db.sessions) if row.kind == "promotion"
        )
        assert notified == {3101: 1, 3102: 1, 3103: 1}


# ------------------------------------------------------------------------ 4. Telegram's answers


async def test_blocked_person_is_marked_unreachable_and_never_retried(
    database_url: str, clock: FrozenClock
) -> None:
    blocker, other = 4001, 4002
    api = MemoryBotApi(token=TOKEN)
    have_written(api, [blocker, other])
    api.block(blocker)
    async with database(database_url) as db, telegram(api) as bot:
        await record_people(db.sessions, [blocker, other])
        await outbox.enqueue(db.sessions, [notice(blocker), notice(other)], NOW)
        sender = make_sender(db, bot, clock, worker="w")
        assert await sender.drain() == 2
        clock.advance(timedelta(days=1))
        assert await sender.drain() == 0, "a blocked person's message must not be retried"
        rows = {row.chat_id: row for row in await outbox_rows(db.sessions)}
        assert (rows[blocker].status, rows[blocker].attempts) == (outbox.UNREACHABLE, 1)
        assert rows[blocker].last_error == "blocked by the person"
        assert rows[other].status == outbox.SENT
        assert await blocked_at(db.sessions, blocker) == NOW
        assert await blocked_at(db.sessions, other) is None
    assert calls_to(api, blocker) == 1
    assert received(api, blocker) == []
    assert received(api, other) == [f"Rappel pour {other}"]
    assert (sender.stats.blocked, sender.stats.sent, sender.stats.failed) == (1, 1, 0)


async def test_refused_messages_fail_at_once_without_retry(
    database_url: str, clock: FrozenClock
) -> None:
    broken, gone, fine = 4101, 4102, 4103
    api = MemoryBotApi(token=TOKEN)
    have_written(api, [broken, gone, fine])
    api.fail_next(
        "sendMessage", status=400, description="Bad Request: chat not found", chat_id=gone
    )
    async with database(database_url) as db, telegram(api) as bot:
        await record_people(db.sessions, [broken, gone, fine])
        items = [notice(broken, "Un <b>gras jamais fermé"), notice(gone), notice(fine)]
        await outbox.enqueue(db.sessions, items, NOW)
        sender = make_sender(db, bot, clock, worker="w")
        assert await sender.drain() == 3
        clock.advance(timedelta(days=1))
        assert await sender.drain() == 0, "a refused message must not be retried"
        rows = {row.chat_id: row for row in await outbox_rows(db.sessions)}
        for chat in (broken, gone):
            assert (rows[chat].status, rows[chat].attempts) == (outbox.FAILED, 1)
            assert await blocked_at(db.sessions, chat) is None, "a 400 is not a block"
        assert "parse entities" in (rows[broken].last_error or "").lower()
        assert "chat not found" in (rows[gone].last_error or "").lower()
        assert rows[fine].status == outbox.SENT
    assert [calls_to(api, chat) for chat in (broken, gone, fine)] == [1, 1, 1]
    assert received(api, fine) == [f"Rappel pour {fine}"]
    assert (sender.stats.failed, sender.stats.sent, sender.stats.retried) == (2, 1, 0)


async def test_timeouts_are_retried_with_growing_backoff_then_failed(
    database_url: str, clock: FrozenClock
) -> None:
    chat = 4201
    api = MemoryBotApi(token=TOKEN)
    have_written(api, [chat])
    api.fail_next("sendMessage", timeout=True, times=10, chat_id=chat)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat)], NOW)
        sender = make_sender(db, bot, clock, worker="w", max_attempts=5, **QUICK_RETRY)
        for attempt in range(1, 5):
            assert await sender.drain() == 1
            row = await only_row(db.sessions)
            assert (row.status, row.attempts) == (outbox.PENDING, attempt)
            backoff = timedelta(seconds=2**attempt)
            assert row.due_at == clock.now() + backoff
            assert (row.last_error or "").startswith("TimedOut")
            clock.advance(backoff - timedelta(seconds=1))
            assert await sender.drain() == 0, "retried before its backoff"
            clock.advance(timedelta(seconds=1))
        assert await sender.drain() == 1
        row = await only_row(db.sessions)
        assert (row.status, row.attempts) == (outbox.FAILED, 5)
        clock.advance(timedelta(days=1))
        assert await sender.drain() == 0, "retried after max_attempts"
    assert calls_to(api, chat) == 5
    assert received(api, chat) == []
    assert (sender.stats.retried, sender.stats.failed, sender.stats.sent) == (4, 1, 0)


async def test_a_timeout_then_success_sends_once(database_url: str, clock: FrozenClock) -> None:
    chat = 4251
    api = MemoryBotApi(token=TOKEN)
    have_written(api, [chat])
    api.fail_next("sendMessage", timeout=True, times=2, chat_id=chat)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat)], NOW)
        sender = make_sender(db, bot, clock, worker="w", **QUICK_RETRY)
        for backoff in (2, 4):
            assert await sender.drain() == 1
            clock.advance(timedelta(seconds=backoff))
        assert await sender.drain() == 1
        row = await only_row(db.sessions)
        assert (row.status, row.attempts, row.sent_at) == (outbox.SENT, 2, clock.now())
    assert received(api, chat) == [f"Rappel pour {chat}"]
    assert calls_to(api, chat) == 3


async def test_flood_wait_pauses_sending_and_loses_nothing(
    database_url: str, clock: FrozenClock
) -> None:
    chats = range(4301, 4311)
    flooded = 4303
    api = MemoryBotApi(token=TOKEN)
    have_written(api, chats)
    api.fail_next("sendMessage", retry_after=1, chat_id=flooded)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat) for chat in chats], NOW)
        sender = make_sender(db, bot, clock, worker="w")
        started = time.monotonic()
        await sender.drain()
        elapsed = time.monotonic() - started
        rows = await outbox_rows(db.sessions)
    assert sender.stats.flood_waits == 1
    assert elapsed >= 1.0, "the sender did not wait out retry_after"
    # Rows not yet launched when the 429 came wait it out.
    last_before = api.send_times[flooded - 1][0]
    waited = {chat: api.send_times[chat][0] - last_before for chat in chats[4:]}
    assert min(waited.values()) >= 1.0, f"sent during the flood wait: {waited}"
    assert {chat: received(api, chat) for chat in chats} == {
        chat: [f"Rappel pour {chat}"] for chat in chats
    }
    assert {(row.status, row.attempts) for row in rows} == {(outbox.SENT, 0)}, (
        "a flood wait is not the row's fault: no attempt counted"
    )
    assert calls_to(api, flooded) == 2


async def test_the_applications_sender_sees_each_429_itself(
    database_url: str, clock: FrozenClock
) -> None:
    """Wired as bot.app wires it, next to an Application whose bot has PTB's rate limiter:
    a 429 must reach the sender (which pauses and counts no attempt), not be retried by PTB
    behind its back nor break the send."""
    chat = 4501
    api = MemoryBotApi(token=TOKEN)
    have_written(api, [chat])
    async with running_bot(make_settings(database_url), clock, api) as harness:
        await outbox.enqueue(harness.services.sessions, [notice(chat)], NOW)
        api.fail_next("sendMessage", retry_after=1, chat_id=chat)
        await harness.drain()
        sender = harness.services.sender
        row = await only_row(harness.services.sessions)
        assert harness.errors == []
    assert sender is not None
    assert sender.stats.flood_waits == 1
    assert (row.status, row.attempts) == (outbox.SENT, 0)
    assert received(api, chat) == [f"Rappel pour {chat}"]
    assert calls_to(api, chat) == 2


async def test_nothing_goes_out_while_a_flood_wait_runs(
    database_url: str, clock: FrozenClock
) -> None:
    chats = range(4401, 4411)
    flooded = 4403
    api = MemoryBotApi(token=TOKEN)
    have_written(api, chats)
    api.fail_next("sendMessage", retry_after=1, chat_id=flooded)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat) for chat in chats], NOW)
        await make_sender(db, bot, clock, worker="w").drain()
    last_before = api.send_times[flooded - 1][0]
    during = [c for c in chats if last_before < api.send_times[c][0] < last_before + 1.0]
    assert during == [], "sent while Telegram had asked to wait"
    in_order = sorted(chats, key=lambda chat: api.send_times[chat][0])
    assert in_order == list(chats), "the refused message goes first after the wait"


# ------------------------------------------------------------------------------ 5. pacing


async def test_paced_under_telegrams_limits_without_a_single_429(
    database_url: str, clock: FrozenClock
) -> None:
    """Sixty people at the production rate of 29 a second, Telegram allowing 30 a second and
    one a second per chat: not one request refused, and not needlessly slow either."""
    chats = range(5001, 5061)
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    have_written(api, chats)
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, [notice(chat) for chat in chats], NOW)
        sender = make_sender(db, bot, clock, worker="w", budget=SendBudget(29))
        await sender.drain()
        rows = await outbox_rows(db.sessions)
    assert sender.stats.flood_waits == 0
    assert sends(api) == api.sent_count == len(chats), "a request was refused"
    assert {row.status for row in rows} == {outbox.SENT}
    times = sorted(t for chat in chats for t in api.send_times[chat])
    expected = (len(chats) - 1) / 29
    assert expected - 0.02 <= times[-1] - times[0] <= expected + 1.0, "not paced at 29/s"


async def test_messages_for_one_person_go_a_second_apart(
    database_url: str, clock: FrozenClock
) -> None:
    """Three messages due at once for one person among thirty others. Telegram here counts
    only the overall limit, so the gaps measured are the sender's own spacing (launched
    exactly a second apart; 10 ms allowed for the time a request takes to arrive)."""
    chats = range(5101, 5131)
    regular = 5101
    api = MemoryBotApi(token=TOKEN, global_rate=30)
    have_written(api, chats)
    items = [notice(chat) for chat in chats]
    for position in (10, 20):  # the extra ones come due among the others
        items.insert(position, notice(regular, f"Encore pour {regular}"))
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, items, NOW)
        sender = make_sender(db, bot, clock, worker="w")
        await sender.drain()
    assert sender.stats.flood_waits == 0
    assert sends(api) == api.sent_count == len(items)
    times = api.send_times[regular]
    assert len(times) == len(received(api, regular)) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.99, f"messages for one person {min(gaps):.3f} s apart"


async def test_messages_for_one_person_never_draw_a_429_from_a_strict_limit(
    database_url: str, clock: FrozenClock
) -> None:
    """Ten people with two messages each: each second message is launched right on its
    chat's one-second boundary, so each is a coin flip under a limit enforced to the
    microsecond (about one chance in a thousand that none of them draws a 429)."""
    pairs, others = range(5201, 5211), range(5301, 5306)
    api = MemoryBotApi(token=TOKEN, global_rate=30, per_chat_rate=1)
    have_written(api, [*pairs, *others])
    items = [notice(chat) for chat in [*pairs, *others]]
    items += [notice(chat, f"Encore pour {chat}") for chat in pairs]
    async with database(database_url) as db, telegram(api) as bot:
        await outbox.enqueue(db.sessions, items, NOW)
        sender = make_sender(db, bot, clock, worker="w")
        await sender.drain()
    assert sends(api) == api.sent_count == len(items), "a request was refused"
    assert sender.stats.flood_waits == 0


if __name__ == "__main__":
    _doomed_sender(sys.argv[1], sys.argv[2])
