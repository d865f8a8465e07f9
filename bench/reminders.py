"""Reminder drain: 5 000 reminders due at once, sent by the real OutboxSender through the
real TelegramTransport and python-telegram-bot (BudgetRateLimiter, as production builds it) to
an in-memory Bot API that enforces Telegram's flood limits: 30 messages/s overall, 1/s per
chat, and a 429 with retry_after beyond them.

Why: reminders are the one burst the bot makes on its own (everyone registered to a session
gets the one-hour reminder in the same minute). The goal is to send at 95 % or more of
Telegram's limit without losing, duplicating or being refused a single message; the script
also measures what the sender does between messages (claims, marks, event-loop lag) so a
shortfall can be traced to its cause.

Run from the project root:  .venv/bin/python -m bench.reminders   (about 3 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import psutil
from sqlalchemy import func, select
from telegram import Bot
from telegram.error import TelegramError

from bench._common import percentile, print_header, table
from bench._db import backend_name, fresh_database, memory_mb
from bot import outbox
from bot.app import build_application, close_services, create_services, start
from bot.clock import SystemClock
from bot.config import Settings
from bot.infosessions import CONFIRMED, RegistrationView, SessionView
from bot.memory_api import MemoryBotApi, UserSpec
from bot.models import OutboxMessage
from bot.outbox import OutboxItem
from bot.sender import OutboxSender
from bot.services import Services

TOKEN = "123456:TEST"
LIMIT = 30.0  # Telegram's overall limit, enforced by the in-memory API
GOAL = 0.95  # of LIMIT
CHAT_BASE = 5_000_000
REPLY_BASE = 6_000_000


@dataclass
class Probe:
    """What the sender spends between messages, timed from outside bot/ by wrapping the
    outbox functions it calls through the module (`outbox.claim`, `outbox.mark_sent`)."""

    claims: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    marks: list[float] = field(default_factory=list)  # seconds per mark_sent
    lags: list[float] = field(default_factory=list)  # event-loop lag samples, seconds
    errors: list[str] = field(default_factory=list)  # ERROR log records (first lines)

    def wrap(self, name: str, sink: Callable[[float, float], None]) -> Callable[[], None]:
        """Replace `bot.outbox.<name>` by a timed copy; returns the undo."""
        original: Callable[..., Awaitable[Any]] = getattr(outbox, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return await original(*args, **kwargs)
            finally:
                sink(started, time.monotonic() - started)

        setattr(outbox, name, timed)
        return lambda: setattr(outbox, name, original)

    async def watch_loop(self, every: float = 0.01) -> None:
        """Sample how late the event loop wakes a 10 ms sleep: late wake-ups delay sends."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(every)
            self.lags.append(max(0.0, time.monotonic() - asked - every))


class ErrorLog(logging.Handler):
    """Counts ERROR records (a send that raised is logged, not raised, by the sender) and
    keeps them off the terminal: one bug would otherwise print thousands of tracebacks."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(logging.ERROR)
        self.probe = probe

    def emit(self, record: logging.LogRecord) -> None:
        detail = f" ({record.exc_info[1]!r})" if record.exc_info else ""
        self.probe.errors.append(record.getMessage() + detail)


@dataclass
class Replies:
    """Answers to people's questions sent while the reminders drain, through the
    Application's bot (BudgetRateLimiter, max_retries=2) as the handlers send them. Why: both
    draw on the bot's one 30/s budget at Telegram, and the sender paces only its own sends."""

    rate: float  # replies per second; 0 = none (the default scenario)
    chats: list[int]  # cycled; enough of them that no chat gets more than one per 3 s
    latencies: list[float] = field(default_factory=list)  # seconds per reply, sorted at end
    failures: Counter[str] = field(default_factory=Counter)

    async def run(self, bot: Bot, stop: asyncio.Event) -> None:
        """Launch one reply every 1/rate s (not waiting for answers) until `stop`."""
        if not self.rate:
            return
        tasks: set[asyncio.Task[None]] = set()
        launched, next_at = 0, time.monotonic()
        while not stop.is_set():
            chat = self.chats[launched % len(self.chats)]
            launched += 1
            tasks.add(asyncio.create_task(self._one(bot, chat)))
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*tasks)
        self.latencies.sort()

    async def _one(self, bot: Bot, chat: int) -> None:
        started = time.monotonic()
        try:
            await bot.send_message(chat, "Voici la réponse à votre question.")
        except TelegramError as exc:
            self.failures[type(exc).__name__] += 1
        self.latencies.append(time.monotonic() - started)


@dataclass
class Result:
    """Everything one drain produced, raw; `report` turns it into figures."""

    count: int
    rate: float
    batch_size: int
    backend: str
    started: float  # drain() start, seconds after the due moment
    seconds: float
    cpu_seconds: float
    transport: str  # how start() built the sender's transport
    handled: int
    accepted: dict[int, list[float]]  # chat -> acceptance times, relative to the due moment
    api_calls: int  # sendMessage calls the API answered, accepted or refused
    statuses: dict[str, int]
    stats: dict[str, int]
    probe: Probe
    rss_mb: float
    peak_rss_mb: float
    lead: float  # seconds between writing the rows and their due moment (≤ 0: overran)
    replies: Replies
    refused: dict[str, int]  # sendMessage calls the API refused, by destination


def reminder_items(services: Services, chats: list[int], due: datetime) -> list[OutboxItem]:
    """The reminder each person would get, worded by SessionText as the bot words it (HTML,
    a cancel button), all due at `due`. Unlinked from any registration row: only the outbox
    is under test here."""
    text = services.session_text()
    soonest = min(text.reminder_offsets, default=timedelta(hours=1))
    starts = due + soonest + timedelta(minutes=5)
    view = SessionView(1, None, "Séance d'information DATAide", "fr", starts, 60, 10_000,
                       "https://meet.example.org/dataide", False, len(chats), 0)  # fmt: skip
    items = []
    for index, chat in enumerate(chats):
        language = "en" if index % 3 == 0 else "fr"
        person = RegistrationView(index + 1, 1, chat, f"Personne {index}", "Organisme",
                                  None, language, CONFIRMED)  # fmt: skip
        worded = text.reminders(view, person, due - timedelta(minutes=1))
        if not worded:
            raise SystemExit("SessionText gave no reminder: check REMINDER_OFFSETS")
        items.append(replace(worded[-1], due_at=due, registration_id=None, session_id=None))
    return items


async def run(url: str, count: int, rate: float, reply_rate: float) -> Result:
    """Queue `count` reminders all due at one moment and time `OutboxSender.drain()` from
    that moment until they are out, while `reply_rate` replies/s go to other people."""
    api = MemoryBotApi(token=TOKEN, global_rate=LIMIT, per_chat_rate=1)
    chats = [CHAT_BASE + i for i in range(count)]
    replies = Replies(reply_rate, [REPLY_BASE + i for i in range(max(10, int(reply_rate * 3)))])
    for chat in chats + (replies.chats if reply_rate else []):
        # Telegram answers "chat not found" to a person who never wrote to the bot.
        api.user_message(UserSpec(chat, f"P{chat}"), "bonjour")
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=url, SEND_RATE=rate)
    services = await create_services(settings, SystemClock())
    # Production's bot: every handler, BudgetRateLimiter; the sender is built by start().
    app = build_application(services, request=api.request(), get_updates_request=api.request())
    probe = Probe()
    undo = [
        probe.wrap("claim", lambda at, took: probe.claims.append((at, took))),
        probe.wrap("mark_sent", lambda at, took: probe.marks.append(took)),
    ]
    handler = ErrorLog(probe)
    logging.getLogger().addHandler(handler)
    process = psutil.Process()
    try:
        async with app:
            await start(app, send_in_background=False)
            sender = services.sender
            assert sender is not None
            backend = await backend_name(services.engine)
            # Reminders are queued long before they fall due (at registration): the rows
            # are written first, all due a moment later, and draining starts at that moment.
            lead = timedelta(seconds=2 + count / 2000)
            due = services.clock.now() + lead
            await outbox.enqueue(services.sessions, reminder_items(services, chats, due), due)
            ahead = (due - services.clock.now()).total_seconds()
            due_mono = time.monotonic() + ahead
            await asyncio.sleep(max(0.0, ahead))
            watcher = asyncio.create_task(probe.watch_loop())
            stop = asyncio.Event()
            talking = asyncio.create_task(replies.run(app.bot, stop))
            cpu_before = sum(process.cpu_times()[:2])
            started = time.monotonic()
            handled = await sender.drain()
            seconds = time.monotonic() - started
            cpu_seconds = sum(process.cpu_times()[:2]) - cpu_before
            stop.set()
            await talking
            transport = describe_transport(sender)
            watcher.cancel()
        async with services.sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            statuses = {status: int(n) for status, n in rows.all()}
        stats = vars(sender.stats).copy()
        batch_size = sender.batch_size
    finally:
        for step in undo:
            step()
        logging.getLogger().removeHandler(handler)
        await close_services(services)
    calls = Counter(int(p["chat_id"]) for name, p in api.calls if name == "sendMessage")
    sends = sum(calls[c] for c in chats)
    accepted = {c: [t - due_mono for t in api.send_times.get(c, [])] for c in chats}
    refused = {
        "reminders": sends - sum(len(times) for times in accepted.values()),
        "replies": sum(calls[c] - len(api.send_times.get(c, [])) for c in replies.chats),
    }
    # The chat's history as the person sees it must agree with the API's own count.
    for chat in chats:
        assert len(api.bot_messages(chat)) == len(accepted[chat]), chat
    return Result(count, rate, batch_size, backend, started - due_mono, seconds, cpu_seconds,
                  transport, handled, accepted, sends, statuses, stats, probe,
                  *memory_mb(), ahead, replies, refused)  # fmt: skip


def describe_transport(sender: OutboxSender) -> str:
    """What start() wired the sender to (it changes with bot/app.py; the figures depend on
    whether a PTB rate limiter sits in front of the sends)."""
    transport = getattr(sender, "_transport", None)
    bot = getattr(transport, "_bot", None)
    if bot is None:
        return type(transport).__name__
    limiter = getattr(bot, "rate_limiter", None)
    behind = f"with {type(limiter).__name__}" if limiter is not None else "without rate limiter"
    return f"{type(transport).__name__} on a {type(bot).__name__} {behind}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(result: Result) -> None:
    """The result table, then what the time went to (the diagnosis of a shortfall)."""
    accepted = result.accepted
    delivered = sum(len(times) for times in accepted.values())
    firsts = sorted(times[0] for times in accepted.values() if times)
    achieved = delivered / result.seconds
    fraction = achieved / LIMIT
    not_sent = result.count - result.statuses.get(outbox.SENT, 0)
    silent = sum(1 for times in accepted.values() if not times)
    doubled = sum(1 for times in accepted.values() if len(times) > 1)
    refused = result.refused["reminders"]
    last = firsts[-1] if firsts else float("nan")
    rows = [
        ["delivered (accepted by the API)", f"{delivered}/{result.count}", ""],
        ["drain wall time", f"{result.seconds:.2f} s", ""],
        ["achieved rate = delivered / wall time", f"{achieved:.2f} msg/s", ""],
        ["  as a fraction of the 30/s limit", f"{fraction:.3f}",
         f"≥ {GOAL} ({verdict(fraction >= GOAL)})"],
        ["lost: rows not 'sent'", str(not_sent), f"0 ({verdict(not_sent == 0)})"],
        ["lost: chats with no message", str(silent), f"0 ({verdict(silent == 0)})"],
        ["duplicated: chats with > 1 message", str(doubled), f"0 ({verdict(doubled == 0)})"],
        ["429s: reminder sends refused by the API", str(refused),
         f"0 ({verdict(refused == 0)})"],
        ["429s: sender flood waits", str(result.stats.get("flood_waits", 0)), ""],
        ["lateness of the last reminder (due → accepted)", f"{last:.2f} s",
         f"ideal {result.count / LIMIT:.1f} s at 30/s"],
        ["lateness p50", f"{percentile(firsts, 0.5):.2f} s", ""],
        ["errors logged by the sender", str(len(result.probe.errors)), ""],
        *reply_rows(result),
        ["RSS after / peak", f"{result.rss_mb:.0f} / {result.peak_rss_mb:.0f} MiB", ""],
    ]  # fmt: skip
    print(table(["figure", "value", "goal"], rows))
    print()
    print(f"outbox rows by status: {dict(sorted(result.statuses.items()))}; "
          f"sender stats: {result.stats}; rows handled by drain(): {result.handled}")  # fmt: skip
    if result.probe.errors:
        common = Counter(result.probe.errors).most_common(3)
        print("errors logged (most common first):")
        for message, n in common:
            print(f"  {n} × {message[:300]}")
    print()
    diagnose(result, firsts)


def reply_rows(result: Result) -> list[list[str]]:
    """Only with --replies-per-second: how the replies fared next to the reminder burst."""
    replies = result.replies
    if not replies.rate:
        return []
    done = len(replies.latencies)
    failed = sum(replies.failures.values())
    reminders = sum(len(times) for times in result.accepted.values())
    lat = replies.latencies
    return [
        [f"replies to questions at {replies.rate:g}/s during the drain",
         f"{done - failed}/{done} delivered", ""],
        ["  reply latency p50 / p99 / max",
         f"{percentile(lat, 0.5):.2f} / {percentile(lat, 0.99):.2f} / {lat[-1]:.2f} s"
         if lat else "-", ""],
        ["  429s: reply sends refused by the API", str(result.refused["replies"]), ""],
        ["  replies failed (after the rate limiter's retries)",
         ", ".join(f"{n} {k}" for k, n in replies.failures.items()) or "0", ""],
        ["all accepted sends (reminders + replies) / wall time, fraction of 30/s",
         f"{(reminders + done - failed) / result.seconds / LIMIT:.3f}",
         "the process's one budget"],
    ]  # fmt: skip


def diagnose(result: Result, firsts: list[float]) -> None:
    """Where the wall time went: the pacing ceiling, the sends themselves, and the pauses at
    batch boundaries (claim + waiting for the slowest answer of the batch + marking)."""
    probe, size = result.probe, result.batch_size
    everything = sorted(t for times in result.accepted.values() for t in times)
    gaps = [b - a for a, b in itertools.pairwise(everything)]
    boundary = [gaps[i - 1] for i in range(size, len(everything), size)]
    inside = [g for i, g in enumerate(gaps, start=1) if i % size]
    inside_mean = sum(inside) / len(inside) if inside else float("nan")
    boundary_mean = sum(boundary) / len(boundary) if boundary else float("nan")
    lost_at_boundaries = sum(g - inside_mean for g in boundary) if boundary else 0.0
    claims = sorted(took for _, took in probe.claims)
    marks = sorted(probe.marks)
    lags = sorted(probe.lags)
    first = firsts[0] if firsts else float("nan")
    span = everything[-1] - everything[0] if len(everything) > 1 else float("nan")
    tail = result.started + result.seconds - (everything[-1] if everything else 0.0)
    ms = 1000.0
    rows = [
        ["send rate setting (SEND_RATE)", f"{result.rate:g} msg/s"],
        ["pacing ceiling = rate / 30", f"{result.rate / LIMIT:.3f}"],
        ["batch size (claim limit)", str(size)],
        ["claims (incl. the final empty one)", str(len(claims))],
        ["claim time mean / max", f"{_mean(claims) * ms:.1f} / {claims[-1] * ms:.1f} ms"
         if claims else "-"],
        ["mark_sent time mean / p99", f"{_mean(marks) * ms:.1f} / "
         f"{percentile(marks, 0.99) * ms:.1f} ms" if marks else "-"],
        ["rows written this long before due", f"{result.lead:.2f} s"],
        ["due → first accepted", f"{first * ms:.0f} ms"],
        ["gap between sends inside a batch (mean)", f"{inside_mean * ms:.1f} ms "
         f"(= {1 / inside_mean:.2f} msg/s)" if inside else "-"],
        ["gap across a batch boundary (mean)", f"{boundary_mean * ms:.1f} ms"
         if boundary else "-"],
        ["time lost at batch boundaries", f"{lost_at_boundaries:.2f} s "
         f"({len(boundary)} boundaries)"],
        ["first → last accepted", f"{span:.2f} s"],
        ["last accepted → drain() returned", f"{tail * ms:.0f} ms"],
        ["event-loop lag p50 / p99 / max (10 ms sleeps)",
         f"{percentile(lags, 0.5) * ms:.1f} / {percentile(lags, 0.99) * ms:.1f} / "
         f"{(lags[-1] if lags else float('nan')) * ms:.1f} ms"],
        ["CPU time / wall time (1.0 = one core busy)",
         f"{result.cpu_seconds / result.seconds:.2f}"],
    ]  # fmt: skip
    print("where the time went:")
    print(table(["figure", "value"], rows))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


async def main_async(url: str | None, count: int, rate: float, reply_rate: float) -> None:
    async with fresh_database(url, "bench-reminders-") as database:
        result = await run(database, count, rate, reply_rate)
    print(f"database: {result.backend} ({'temporary file' if url is None else url})")
    print()
    report(result)
    print()
    print(
        f"notes: {result.count} outbox rows (kind 'reminder', text and cancel button from "
        "SessionText) for as many distinct private chats, queued by outbox.enqueue in one "
        "transaction, all due at the same instant a moment later; at that instant "
        "OutboxSender.drain() as built by "
        "bot.app.start() on production's Application (build_application: ExtBot with "
        "BudgetRateLimiter on the process's SendBudget); "
        f"the sender's transport: {result.transport}; SystemClock. "
        "MemoryBotApi(global_rate=30, per_chat_rate=1) answers 429 beyond either limit; its "
        "acceptance times are the 'accepted' moments. Wall time = drain() start to return "
        "(it returns after one empty claim). Claim and mark_sent times are taken by wrapping "
        "bot.outbox.claim/mark_sent from this script; bot/ is not modified."
    )


def main() -> None:
    """Parse, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000, help="reminders (default 5000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="SEND_RATE of the process (default: the setting's default)",
    )
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; a PostgreSQL database is "
                        "dropped and re-created, so its name must contain 'bench'")  # fmt: skip
    parser.add_argument("--replies-per-second", type=float, default=0.0,
                        help="also answer people at this rate during the drain, through the "
                        "Application's bot (default 0: reminders alone)")  # fmt: skip
    args = parser.parse_args()
    rate = args.rate if args.rate is not None else Settings.model_fields["send_rate"].default
    options = "".join(
        f" --{name.replace('_', '-')} {value}"
        for name, value in (("count", args.count), ("rate", args.rate),
                            ("database_url", args.database_url),
                            ("replies_per_second", args.replies_per_second or None))
        if value is not None and not (name == "count" and value == 5000)
    )  # fmt: skip
    print_header("reminder drain", ".venv/bin/python -m bench.reminders" + options)
    started = time.perf_counter()
    asyncio.run(main_async(args.database_url, args.count, float(rate), args.replies_per_second))
    print(f"elapsed: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
