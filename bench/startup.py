"""Start-to-ready time, peak memory and stop time of one `python -m bot run` process in
webhook mode, as a platform sees them: spawn, poll `/healthz` until 200, answer
`--updates` questions, read the peak RSS (VmHWM), SIGTERM, wait for the exit.

Why from outside: a platform's health check and its memory limit see the process, not
our timers; "ready" here includes Python's start, imports, migrations, loading the
knowledge base and registering the webhook.

Run from the project root (PostgreSQL database whose name contains `bench`; it is dropped
and re-created each run; without it, SQLite only):

    .venv/bin/python -m bench.startup --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/dataide_bench
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import httpx

from bench._common import print_header, table
from bench._db import fresh_database
from bench.webhook import fire
from bot.memory_api import MemoryBotApi
from bot.memory_http import MemoryHttpServer
from tests.processes import TOKEN, BotProcess, bot_environment, start_bot

COMMAND = ".venv/bin/python -m bench.startup"


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def until_healthy(bot: BotProcess, started: float) -> float:
    """Seconds from spawn until `/healthz` answers 200."""
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            if bot.port:
                try:
                    if (await client.get(bot.url + "/healthz")).status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(0.01)


async def one_run(url: str | None, updates: int, cache: Path) -> tuple[float, float, float, float]:
    """(seconds to ready, peak RSS idle, peak RSS after the questions, seconds to stop).

    `cache` is the process's CACHE_DIR: empty, it trains the classifier at start (a first
    start, or the first after the knowledge base changed); filled, it reads the weights.
    """
    api = MemoryBotApi(token=TOKEN)
    async with MemoryHttpServer(api) as server, fresh_database(url, "startup") as database:
        env = bot_environment(server, database, CACHE_DIR=str(cache))
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            bot = await start_bot(env, Path(folder), ready=False)
            listening = await bot.wait_for_event("webhook_listening")
            bot.port = int(listening["port"])
            ready = await until_healthy(bot, started)
            idle = peak_rss_mb(bot.process.pid)
            await fire(api, [bot], updates, 40, 30_000_000)
            busy = peak_rss_mb(bot.process.pid)
            stopping = time.perf_counter()
            await bot.stop()
            stopped = time.perf_counter() - stopping
    return ready, idle, busy, stopped


async def main_async(url: str | None, runs: int, updates: int) -> None:
    print_header("Start-to-ready and peak memory", f"{COMMAND} {' '.join(sys.argv[1:])}")
    rows = []
    for name, database in [("SQLite", None), ("PostgreSQL", url)]:
        if name == "PostgreSQL" and url is None:
            continue
        with tempfile.TemporaryDirectory() as kept:
            trained = [await one_run(database, updates, Path(kept))]  # fills `kept`
            for _ in range(runs - 1):
                with tempfile.TemporaryDirectory() as empty:
                    trained.append(await one_run(database, updates, Path(empty)))
            read = [await one_run(database, updates, Path(kept)) for _ in range(runs)]
        for weights, found in (("trained at start", trained), ("read from CACHE_DIR", read)):
            rows.append(row(name, weights, found))
    headers = ["database", "classifier", "runs", "ready s (median)", "ready s (max)"]
    headers += ["peak RSS idle MiB", f"peak RSS after {updates} updates MiB"]
    headers += ["SIGTERM to exit s (median)"]
    print(table(headers, rows, labels=2))


def row(name: str, weights: str, found: list[tuple[float, float, float, float]]) -> list[str]:
    ready, idle, busy, stop = (sorted(column) for column in zip(*found, strict=True))
    return [
        name,
        weights,
        str(len(found)),
        f"{statistics.median(ready):.2f}",
        f"{max(ready):.2f}",
        f"{statistics.median(idle):.0f}",
        f"{max(busy):.0f}",
        f"{statistics.median(stop):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None, help="PostgreSQL, name with 'bench'")
    parser.add_argument("--runs", type=int, default=5, help="starts per database (5)")
    parser.add_argument("--updates", type=int, default=300, help="questions answered (300)")
    args = parser.parse_args()
    asyncio.run(main_async(args.database_url, args.runs, args.updates))


if __name__ == "__main__":
    main()
