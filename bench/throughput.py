"""End-to-end throughput: questions answered per second by the real Application, and by a
bare python-telegram-bot echo bot on the same in-memory Bot API, in the same run.

Why: the echo bot is the floor PTB and the fake API cost on this machine, so the ratio
ours/echo says how much our own work (database, language, matching, rendering) costs,
whatever the machine. The replies check makes sure the rate is not bought by dropping answers.

Run from the project root:  .venv/bin/python -m bench.throughput   (or bench/throughput.py)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import psutil
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench._common import EXAMPLES_DIR, percentile, print_header, table
from bot.app import build_application, close_services, create_services, start
from bot.clock import SystemClock
from bot.config import Settings
from bot.evaluate import load_questions
from bot.memory_api import MemoryBotApi, UserSpec
from bot.models import QuestionLog

TOKEN = "123456:TEST"
SEED = 20261121
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class Question:
    """One update to feed: who writes, and what."""

    user: UserSpec
    text: str


@dataclass(frozen=True)
class Run:
    """What one application did with the same questions."""

    name: str
    updates: int
    seconds: float
    latencies_ms: list[float]  # time inside process_update per update, sorted
    replies: int
    chats_off: int  # chats whose reply count differs from their question count
    errors: int
    rss_mb: float
    peak_rss_mb: float
    logged: int | None = None  # rows in the question log afterwards (ours only)

    @property
    def rate(self) -> float:
        """Questions answered per second of wall time."""
        return self.updates / self.seconds


def workload(count: int, users: int) -> list[Question]:
    """`count` eval questions (cycled, shuffled) spread round-robin over `users` people."""
    rng = random.Random(SEED)
    texts = [q.q for q in load_questions(EXAMPLES_DIR)]
    people = [
        UserSpec(100_000 + i, f"Personne{i}", language_code="fr" if i % 3 else "en")
        for i in range(users)
    ]
    picked = [texts[i % len(texts)] for i in range(count)]
    rng.shuffle(picked)
    return [Question(people[i % users], text) for i, text in enumerate(picked)]


def memory_mb() -> tuple[float, float]:
    """(RSS now, RSS high-water mark) of this process in MiB; ru_maxrss is KiB on Linux.

    The kernel updates the high-water mark lazily, so it can trail the current RSS by a
    little: the peak reported is the larger of the two.
    """
    now = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return now, max(now, peak)


async def feed(
    app: AnyApplication, updates: Sequence[dict[str, Any]], concurrency: int
) -> tuple[float, list[float]]:
    """Every update through `process_update`, at most `concurrency` in flight (PTB's
    concurrent_updates bounds its tasks the same way, with a semaphore)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(data: dict[str, Any]) -> None:
        async with gate:
            started = time.perf_counter()
            await app.process_update(Update.de_json(data, app.bot))
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(data) for data in updates))
    return time.perf_counter() - started, sorted(latencies)


def queue_updates(api: MemoryBotApi, questions: Sequence[Question]) -> list[dict[str, Any]]:
    """The users write every question (Telegram's side, not timed)."""
    return [api.user_message(q.user, q.text) for q in questions]


def count_replies(api: MemoryBotApi, questions: Sequence[Question]) -> tuple[int, int]:
    """(bot messages in all chats, chats whose count differs from the questions asked)."""
    asked = Counter(q.user.id for q in questions)
    got = {chat: len(api.bot_messages(chat)) for chat in asked}
    return sum(got.values()), sum(1 for chat, n in asked.items() if got[chat] != n)


def collect_errors(app: AnyApplication) -> list[object]:
    """Record every handler error (our own error handler still runs and answers)."""
    errors: list[object] = []

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app.add_error_handler(collect)
    return errors


async def run_echo(questions: Sequence[Question], concurrency: int) -> Run:
    """A bare PTB Application with one echo MessageHandler, on its own MemoryBotApi."""
    api = MemoryBotApi(token=TOKEN)
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(api.request())
        .get_updates_request(api.request())
        .concurrent_updates(True)
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        assert update.message.text is not None
        await update.message.reply_text(update.message.text)

    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    errors = collect_errors(app)
    updates = queue_updates(api, questions)
    async with app:
        seconds, latencies = await feed(app, updates, concurrency)
    replies, off = count_replies(api, questions)
    return Run("PTB echo bot", len(updates), seconds, latencies, replies, off, len(errors),
               *memory_mb())  # fmt: skip


async def run_ours(questions: Sequence[Question], concurrency: int, folder: Path) -> Run:
    """The real Application (all handlers, SQLite in a temp file), no rate limiter."""
    api = MemoryBotApi(token=TOKEN)
    settings = Settings(
        _env_file=None,
        TELEGRAM_BOT_TOKEN=TOKEN,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder}/bench.db",
    )
    services = await create_services(settings, SystemClock())
    app = build_application(
        services, request=api.request(), get_updates_request=api.request(), rate_limiter=False
    )
    errors = collect_errors(app)
    updates = queue_updates(api, questions)
    try:
        async with app:
            await start(app)
            seconds, latencies = await feed(app, updates, concurrency)
        await services.question_log.flush()  # the log is written in the background
        async with services.sessions() as session:
            logged = await session.scalar(select(func.count()).select_from(QuestionLog))
    finally:
        await close_services(services)
    replies, off = count_replies(api, questions)
    return Run("ours (bot.app)", len(updates), seconds, latencies, replies, off, len(errors),
               *memory_mb(), logged=logged)  # fmt: skip


def row(run: Run, echo: Run) -> list[str]:
    """One table row; rates are also given relative to echo, the machine-independent figure."""
    return [
        run.name,
        str(run.updates),
        f"{run.seconds:.2f}",
        f"{run.rate:.0f}",
        f"{run.rate / echo.rate:.2f}",
        f"{percentile(run.latencies_ms, 0.5):.1f}",
        f"{percentile(run.latencies_ms, 0.99):.1f}",
        f"{run.replies}/{run.updates}"
        + (f" ({run.chats_off} chats off)" if run.chats_off else ""),
        str(run.errors),
        f"{run.rss_mb:.0f}",
        f"{run.peak_rss_mb:.0f}",
    ]


async def main_async(count: int, users: int, concurrency: int) -> None:
    """Echo first (the lighter one, so the peak after ours is ours), then ours."""
    questions = workload(count, users)
    rss_start, _ = memory_mb()
    echo = await run_echo(questions, concurrency)
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as folder:
        ours = await run_ours(questions, concurrency, Path(folder))
    headers = ["application", "updates", "seconds", "questions/s", "× echo", "p50 ms",
               "p99 ms", "replies", "errors", "RSS MiB", "peak RSS MiB"]  # fmt: skip
    print(table(headers, [row(echo, echo), row(ours, echo)]))
    print()
    print(f"replies: {ours.replies}/{ours.updates} (ours), {echo.replies}/{echo.updates} (echo)")
    print(f"ratio ours/echo: {ours.rate / echo.rate:.3f}")
    print(
        f"questions logged in the database: {ours.logged}/{ours.updates} "
        "(empty and emoji-only messages are answered but, by design, not logged)"
    )
    print(
        f"notes: {count} questions from knowledge/examples/ by {users} distinct users, at most "
        f"{concurrency} updates in flight (asyncio.Semaphore + gather), each through "
        "Application.process_update(Update.de_json(...)); MemoryBotApi without rate limits, "
        "no AIORateLimiter; ours on SQLite (temp file, WAL) with SystemClock. p50/p99 = time "
        "inside process_update per update while the others run. RSS = this process after the "
        f"run (psutil); peak = ru_maxrss high-water mark (it was {rss_start:.0f} MiB before "
        "either app was built; echo ran first, so the peak after ours includes both)."
    )


def main() -> None:
    """Parse the sizes (defaults: the figures in docs/benchmarks.md), run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    defaults = (args.questions, args.users, args.concurrency) == (2000, 200, 50)
    options = "" if defaults else (
        f" --questions {args.questions} --users {args.users} --concurrency {args.concurrency}"
    )  # fmt: skip
    print_header("end-to-end throughput", ".venv/bin/python -m bench.throughput" + options)
    started = time.perf_counter()
    # As a deployment does (`kb train` at build time): the bot reads its classifier's weights
    # from CACHE_DIR, so this process's peak memory is a usual start's, not a training's.
    subprocess.run([sys.executable, "-m", "bot", "kb", "train"], check=True)
    asyncio.run(main_async(args.questions, args.users, args.concurrency))
    print(f"elapsed: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
