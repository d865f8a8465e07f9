"""Broadcast: an announcement to 10 000 people, prepared and confirmed by a staff member
through the real Application, delivered by the real outbox sender in the background (as
`python -m bot run` does), against an in-memory Bot API that enforces Telegram's flood
limits: 30 messages/s overall, 1/s per chat, and a 429 with retry_after beyond them.

Why: a broadcast is the biggest burst the bot makes. The goal is a wall time within 5 % of
the physical floor (recipients / 30 s), with nobody missed and nobody served twice, also
when some recipients have blocked the bot without the bot knowing it yet (Telegram
answers 403 to each of them).

Run from the project root:  .venv/bin/python -m bench.broadcast   (about 12 minutes:
two runs of 10 000; `--count 2000` for a quick one)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

from sqlalchemy import func, insert, select
from telegram import Update

from bench._common import print_header, table
from bench._db import backend_name, fresh_database, memory_mb
from bot import broadcasts
from bot.app import (
    BotApplication,
    build_application,
    close_services,
    create_services,
    start,
    stop_sending,
)
from bot.clock import SystemClock
from bot.config import Settings
from bot.memory_api import MemoryBotApi, UserSpec
from bot.models import OutboxMessage, Person

TOKEN = "123456:TEST"
LIMIT = 30.0
GOAL = 1.05  # wall / floor
STAFF = 900
BASE = 7_000_000


@dataclass
class Result:
    count: int
    blocked: set[int]
    backend: str
    recipients: int
    confirm_seconds: float  # the Send press: 10 000 outbox rows written in one transaction
    wall: float  # Send pressed -> summary sent to the staff member
    first_to_last: float
    queued_to_first: float
    accepted: dict[int, int]
    statuses: dict[str, int]
    flood_waits: int
    refused_429: int
    edits: int
    summary: str
    rss_mb: float
    peak_mb: float


async def feed(app: BotApplication, update: dict[str, object]) -> None:
    await app.process_update(Update.de_json(update, app.bot))


async def press(app: BotApplication, api: MemoryBotApi, staff: UserSpec, starts: str) -> None:
    """The staff member taps the button of their last message whose label starts so."""
    message = api.bot_messages(STAFF)[-1]
    label = next(b.text for row in message.buttons for b in row if b.text.startswith(starts))
    await feed(app, api.user_press(staff, message.message_id, label))


async def run(url: str, count: int, blocked_share: float) -> Result:
    api = MemoryBotApi(token=TOKEN, global_rate=LIMIT, per_chat_rate=1)
    chats = [BASE + i for i in range(count)]
    for chat in chats:  # Telegram lets a bot write only to people who wrote to it
        api.user_message(UserSpec(chat, f"P{chat}"), "bonjour")
    blocked = set(chats[:: round(1 / blocked_share)] if blocked_share else [])
    for chat in blocked:  # they blocked the bot; the bot has not found out yet
        api.block(chat)
    settings = Settings(
        _env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=url, STAFF_IDS=str(STAFF)
    )
    services = await create_services(settings, SystemClock())
    now = datetime.now(UTC)
    async with services.sessions.begin() as session:  # people who talked to the bot before
        await session.execute(
            insert(Person),
            [
                {"telegram_id": c, "first_name": f"P{c}", "telegram_language": "fr",
                 "created_at": now, "last_seen_at": now}
                for c in chats
            ],
        )  # fmt: skip
    app = build_application(services, request=api.request(), get_updates_request=api.request())
    staff = UserSpec(STAFF, "Équipe", language_code="fr")
    try:
        async with app:
            await start(app, send_in_background=True)
            backend = await backend_name(services.engine)
            await feed(app, api.user_message(staff, "/broadcast"))
            await press(app, api, staff, "Tout le monde")
            await feed(app, api.user_message(staff, "Nouvelle cohorte : inscriptions ouvertes !"))
            started = time.monotonic()  # the staff member's confirmation
            await press(app, api, staff, "✅")
            confirmed = time.monotonic() - started
            [item] = await broadcasts.recent(services.sessions, 1)
            while item.status == broadcasts.SENDING:
                await asyncio.sleep(0.2)
                found = await broadcasts.progress(services.sessions, item.id)
                assert found is not None
                item = found
            wall = time.monotonic() - started
            for _ in range(50):  # the summary follows at once; give it time to arrive
                if any("terminée" in (m.text or "") for m in api.bot_messages(STAFF)):
                    break
                await asyncio.sleep(0.1)
            await stop_sending(app)
        async with services.sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.broadcast_id == item.id)
                .group_by(OutboxMessage.status)
            )
            statuses = {status: int(n) for status, n in rows.all()}
        assert services.sender is not None
        flood_waits = services.sender.stats.flood_waits
    finally:
        await close_services(services)
    times = sorted(t for chat in chats for t in api.send_times.get(chat, []))
    calls = Counter(int(p["chat_id"]) for name, p in api.calls if name == "sendMessage")
    refused = sum(calls[c] for c in chats if c not in blocked) - len(times)
    edits = sum(1 for name, p in api.calls if name == "editMessageText")
    summary = next(
        (m.text or "" for m in reversed(api.bot_messages(STAFF)) if "terminée" in (m.text or "")),
        "",
    )
    return Result(
        count, blocked, backend, item.recipients, confirmed, wall,
        times[-1] - times[0] if times else 0.0,
        times[0] - started if times else 0.0,
        {chat: len(api.send_times.get(chat, [])) for chat in chats},
        statuses, flood_waits, refused, edits, summary, *memory_mb(),
    )  # fmt: skip


def report(result: Result, blocked_share: float) -> list[str]:
    floor = result.recipients / LIMIT
    ratio = result.wall / floor
    lost = sum(1 for c, n in result.accepted.items() if n == 0 and c not in result.blocked)
    doubled = sum(1 for n in result.accepted.values() if n > 1)
    return [
        f"{blocked_share:.0%} ({len(result.blocked)})",
        f"{result.recipients}",
        f"{result.confirm_seconds:.2f} s",
        f"{result.wall:.1f} s",
        f"{result.queued_to_first:.2f} s / {result.first_to_last:.1f} s / "
        f"{result.wall - result.queued_to_first - result.first_to_last:.2f} s",
        f"{floor:.1f} s",
        f"**{ratio:.3f}** ({'met' if ratio <= GOAL else 'MISSED'})",
        f"{result.statuses.get('sent', 0)} / {result.statuses.get('unreachable', 0)} / "
        f"{result.statuses.get('failed', 0)}",
        str(lost),
        str(doubled),
        f"{result.refused_429} / {result.flood_waits}",
        str(result.edits),
        f"{result.peak_mb:.0f} MiB",
    ]


async def main_async(url: str | None, count: int, shares: list[float]) -> None:
    rows = []
    backend = ""
    for share in shares:
        async with fresh_database(url, "bench-broadcast-") as database:
            result = await run(database, count, share)
        backend = result.backend
        rows.append(report(result, share))
        print(f"summary sent to staff: {result.summary!r}", flush=True)
    print(f"database: {backend} ({'temporary file' if url is None else url})\n")
    headers = [
        "blocked (unknown to the bot)", "recipients", "Send press", "wall (Send → summary)",
        "Send → first / first → last / last → summary", "floor = recipients / 30",
        "wall / floor (goal ≤ 1.05)",
        "sent / unreachable / failed",
        "lost", "duplicated", "429s / flood waits", "progress edits", "peak RSS",
    ]  # fmt: skip
    print(table(headers, rows))
    print(
        "\nnotes: the staff member's /broadcast, audience button, text and Send press go "
        "through the real Application; the sender and the progress watcher run in the "
        "background as in production (bot.app.start, send_in_background=True), with the "
        "process's one SendBudget (SEND_RATE, 29/s). Wall time runs from the Send press (rows "
        "written, progress message sent: the 'Send press' column) to the broadcast marked "
        "done (its summary sent). Lost = a "
        "reachable person with no message; duplicated = anyone with more than one."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; a PostgreSQL database is "
                        "dropped and re-created, so its name must contain 'bench'")  # fmt: skip
    args = parser.parse_args()
    options = "".join(
        f" --{name.replace('_', '-')} {value}"
        for name, value in (("count", args.count), ("database_url", args.database_url))
        if value is not None and not (name == "count" and value == 10_000)
    )
    print_header("broadcast", ".venv/bin/python -m bench.broadcast" + options)
    asyncio.run(main_async(args.database_url, args.count, [0.0, 0.05]))


if __name__ == "__main__":
    main()
