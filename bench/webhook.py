"""Webhook throughput: questions POSTed to one `python -m bot run` process, then to two
sharing one PostgreSQL database, as Telegram would (HTTP, secret header, up to
`--concurrency` requests in flight, Telegram's default `max_connections` being 40).

Why it measures replies per second *answered*: each POST returns once the update is
handled and its reply sent (the webhook answers 200 only then), so the rate counts work
done, and the replies are counted in the in-memory Bot API to be sure none was dropped.
Each process paces what it sends with its `SEND_RATE` budget (Telegram's ~30 messages/s):
`--send-rate` sets it, and the table says which limit the rate ran into.

Run from the project root (PostgreSQL database whose name contains `bench`; it is dropped
and re-created):

    .venv/bin/python -m bench.webhook --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/dataide_bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import httpx

from bench._common import percentile, print_header, table
from bench._db import fresh_database
from bot.evaluate import load_questions
from bot.memory_api import MemoryBotApi, UserSpec
from bot.memory_http import MemoryHttpServer
from tests.processes import PATH, SECRET, TOKEN, BotProcess, bot_environment, start_bot

COMMAND = ".venv/bin/python -m bench.webhook"


@dataclass(frozen=True)
class Result:
    processes: int
    updates: int
    seconds: float
    latencies_ms: list[float]
    answered: int
    refused: int
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.answered / self.seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fire(
    api: MemoryBotApi, bots: Sequence[BotProcess], count: int, concurrency: int, first: int
) -> Result:
    """`count` eval questions from distinct people, spread over `bots` in turn."""
    texts = [q.q for q in load_questions()]
    people = [UserSpec(first + i, f"P{i}", language_code="fr") for i in range(count)]
    updates = [api.user_message(p, texts[i % len(texts)]) for i, p in enumerate(people)]
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    refused = 0
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency * 2)
    cpu_before = sum(cpu_seconds(b.process.pid) for b in bots)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(index: int) -> None:
            nonlocal refused
            bot = bots[index % len(bots)]
            async with gate:
                started = time.perf_counter()
                response = await client.post(
                    bot.url + PATH, content=json.dumps(updates[index]), headers=headers
                )
                latencies.append((time.perf_counter() - started) * 1000)
            refused += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        seconds = time.perf_counter() - started
    cpu = sum(cpu_seconds(b.process.pid) for b in bots) - cpu_before
    answered = sum(1 for p in people if api.bot_messages(p.id))
    return Result(len(bots), count, seconds, sorted(latencies), answered, refused, cpu)


async def measure(url: str, processes: int, count: int, concurrency: int, rate: float) -> Result:
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server, fresh_database(url, "webhook") as database:
        env = bot_environment(server, database, SEND_RATE=str(rate), LOG_FORMAT="json")
        with tempfile.TemporaryDirectory() as folder:
            bots = await asyncio.gather(*(start_bot(env, Path(folder)) for _ in range(processes)))
            try:
                await fire(api, bots, min(count, 40), concurrency, 10_000_000)  # warm-up
                return await fire(api, bots, count, concurrency, 20_000_000)
            finally:
                for bot in bots:
                    await bot.stop()


def row(result: Result, rate: float) -> list[str]:
    cap = rate * result.processes
    return [
        str(result.processes),
        str(result.updates),
        f"{result.seconds:.2f}",
        f"{result.rate:.1f}",
        f"{cap:g}",
        f"{percentile(result.latencies_ms, 0.5):.0f}",
        f"{percentile(result.latencies_ms, 0.99):.0f}",
        f"{result.answered}/{result.updates}",
        str(result.refused),
        f"{result.cpu_seconds / result.updates * 1000:.1f}",
    ]


async def main_async(url: str, count: int, concurrency: int, rate: float) -> None:
    print_header(
        "Webhook throughput, one and two processes", f"{COMMAND} {' '.join(sys.argv[1:])}"
    )
    one = await measure(url, 1, count, concurrency, rate)
    two = await measure(url, 2, count, concurrency, rate)
    headers = ["processes", "updates", "seconds", "answered/s", "send cap/s", "p50 ms"]
    headers += ["p99 ms", "answered", "refused", "bot CPU ms/update"]
    print(table(headers, [row(one, rate), row(two, rate)]))
    print()
    print(f"ratio two/one: {two.rate / one.rate:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="PostgreSQL, name with 'bench'")
    parser.add_argument("--updates", type=int, default=600, help="questions per run (600)")
    parser.add_argument("--concurrency", type=int, default=40, help="POSTs in flight (40)")
    parser.add_argument("--send-rate", type=float, default=29.0, help="SEND_RATE (29)")
    args = parser.parse_args()
    asyncio.run(main_async(args.database_url, args.updates, args.concurrency, args.send_rate))


if __name__ == "__main__":
    main()
