"""Registration: registrations per second with 100 people registering at once, on SQLite and
on PostgreSQL, and the peak memory of a process holding 10 000 people and 10 000
registrations.

Why: announcing a session sends people to register within minutes. Each registration is one
transaction that locks the session row, counts the seats, inserts the registration and
queues its reminders, so registrations for one session are serialised, and on SQLite every
write is (one writer, one pooled connection). The rate with 100 at once says how large a rush
the bot absorbs and how long the unlucky wait (p99); the one-at-a-time row is the cost of one
registration alone, the floor the concurrent figure is compared with. The memory figure is
taken in a process of its own (a child of this script), so nothing else raises its peak.

Run from the project root:
  .venv/bin/python -m bench.registrations                      (SQLite, temporary file)
  .venv/bin/python -m bench.registrations --database-url postgresql+asyncpg://...bench
                                                 (SQLite, then that PostgreSQL database)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/x.py`

import psutil
from sqlalchemy import func, select

from bench._common import percentile, print_header, table
from bench._db import backend_name, fresh_database, memory_mb
from bot import infosessions, registrations
from bot.app import close_services, create_services
from bot.clock import SystemClock
from bot.config import PROJECT_ROOT, Settings
from bot.infosessions import NewSession
from bot.models import InfoSession, OutboxMessage, Person, Registration
from bot.people import Profile
from bot.registrations import Details
from bot.services import Services

TOKEN = "123456:TEST"
PERSON_BASE = 7_000_000
BASELINE = 200  # registrations one at a time, after the concurrent run


@dataclass
class Throughput:
    """One concurrent run (and its one-at-a-time baseline) on one database."""

    backend: str
    registrations: int
    sessions: int
    concurrency: int
    seconds: float
    latencies_ms: list[float]  # sorted
    statuses: dict[str, int]
    errors: dict[str, int]
    stored: dict[str, int]  # rows in the database afterwards
    cpu_seconds: float  # this process's CPU time during the concurrent run
    baseline_ms: list[float] = field(default_factory=list)  # sorted, concurrency 1
    baseline_seconds: float = float("nan")  # wall time of those BASELINE registrations

    @property
    def rate(self) -> float:
        return self.registrations / self.seconds


@dataclass
class Memory:
    """The memory phase's figures, sent back from the child process as JSON."""

    backend: str
    people: int
    registrations: int
    outbox_rows: int
    setup_seconds: float
    rss_start_mb: float  # after imports, before the services
    rss_services_mb: float  # services built (knowledge base loaded), database empty
    rss_loaded_mb: float  # people cached and registrations made
    rss_end_mb: float  # after the listings
    peak_rss_mb: float
    cached_people: int
    upcoming_ms: list[float]
    of_person_ms: list[float]
    of_session_ms: list[float]
    errors: dict[str, int]


def settings_for(url: str) -> Settings:
    """Production's settings (reminder offsets, registration limit) on this database."""
    return Settings(_env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=url)


def details(person: int) -> Details:
    """What a person types in the registration dialogue (2/3 French, like our audience)."""
    language = "en" if person % 3 == 0 else "fr"
    return Details(f"Personne {person}", "Organisme communautaire", f"p{person}@example.org",
                   language)  # fmt: skip


async def make_sessions(services: Services, count: int, capacity: int) -> list[int]:
    """`count` sessions a week ahead, each with room for everyone: no waitlist, so every
    registration takes the full path (seat count, insert, two reminders queued)."""
    now = services.clock.now()
    ids = []
    for index in range(count):
        new = NewSession(
            starts_at=now + timedelta(days=7, hours=index),
            duration_minutes=60,
            capacity=capacity,
            language="fr" if index % 2 == 0 else "en",
            title=f"Séance d'information {index + 1}",
            link="https://meet.example.org/dataide",
        )
        ids.append((await infosessions.create(services.sessions, new, None, now)).id)
    return ids


async def make_people(services: Services, people: Sequence[int], concurrency: int) -> None:
    """First contact of each person, as every update does it (People.touch: an upsert, and
    the process's cache of people, which is part of what the memory figure holds)."""
    queue = iter(people)

    async def worker() -> None:
        for person in queue:
            profile = Profile(person, f"Personne{person}", "Test", None, "fr")
            await services.people.touch(profile, services.clock.now())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def register_all(
    services: Services, jobs: Sequence[tuple[int, int]], concurrency: int
) -> tuple[float, list[float], Counter[str], Counter[str]]:
    """`concurrency` tasks take (person, session) jobs from one shared iterator and call
    `registrations.register` as the confirmation handler does. Returns wall seconds, sorted
    latencies (ms), result statuses and exceptions by type."""
    queue: Iterator[tuple[int, int]] = iter(jobs)
    notices = services.session_text()
    limit = services.settings.max_upcoming_registrations or None
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()

    async def worker() -> None:
        for person, session_id in queue:
            started = time.perf_counter()
            try:
                result = await registrations.register(
                    services.sessions, session_id, person, details(person),
                    services.clock.now(), notices, limit=limit,
                )  # fmt: skip
                statuses[result.status] += 1
            except Exception as exc:  # counted and reported: a benchmark must not hide them
                errors[type(exc).__name__] += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, sorted(latencies), statuses, errors


def process_cpu() -> float:
    """User + system CPU seconds of this process (all its threads, aiosqlite's included)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


async def stored_counts(services: Services) -> dict[str, int]:
    """Rows actually in the database: the rate must not be bought by losing registrations."""
    async with services.sessions() as session:
        counts = {}
        for name, model in (
            ("people", Person),
            ("sessions", InfoSession),
            ("registrations", Registration),
            ("outbox", OutboxMessage),
        ):
            counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
        return counts  # fmt: skip


async def throughput(
    url: str | None, total: int, concurrency: int, session_count: int
) -> Throughput:
    """`total` distinct people register, `concurrency` at a time, over `session_count`
    sessions; then `BASELINE` more people register one at a time."""
    async with fresh_database(url, "bench-registrations-") as database:
        services = await create_services(settings_for(database), SystemClock())
        try:
            backend = await backend_name(services.engine)
            ids = await make_sessions(services, session_count, total + BASELINE)
            people = [PERSON_BASE + i for i in range(total + BASELINE)]
            await make_people(services, people, concurrency)
            jobs = [(person, ids[i % len(ids)]) for i, person in enumerate(people)]
            cpu_before = process_cpu()
            seconds, latencies, statuses, errors = await register_all(
                services, jobs[:total], concurrency
            )
            cpu_seconds = process_cpu() - cpu_before
            stored = await stored_counts(services)
            base_seconds, baseline, base_statuses, base_errors = await register_all(
                services, jobs[total:], 1
            )
            errors.update({f"{k} (one at a time)": n for k, n in base_errors.items()})
            unexpected = {k: n for k, n in base_statuses.items() if k != "confirmed"}
            errors.update({f"status {k} (one at a time)": n for k, n in unexpected.items()})
        finally:
            await close_services(services)
    return Throughput(backend, total, session_count, concurrency, seconds, latencies,
                      dict(statuses), dict(errors), stored, cpu_seconds, baseline,
                      base_seconds)  # fmt: skip


async def memory(
    url: str | None, people: int, total: int, concurrency: int, session_count: int
) -> Memory:
    """The child process: services, `people` people seen (cached by People), `total`
    registrations, then the listings a busy day calls: the session list, each person's
    registrations, each session's export."""
    rss_start, _ = memory_mb()
    async with fresh_database(url, "bench-registrations-memory-") as database:
        services = await create_services(settings_for(database), SystemClock())
        try:
            backend = await backend_name(services.engine)
            rss_services, _ = memory_mb()
            started = time.perf_counter()
            ids = await make_sessions(services, session_count, total)
            everyone = [PERSON_BASE + i for i in range(people)]
            await make_people(services, everyone, concurrency)
            jobs = [
                (everyone[i % people], ids[(i // people + i) % len(ids)]) for i in range(total)
            ]
            _, _, statuses, errors = await register_all(services, jobs, concurrency)
            setup = time.perf_counter() - started
            errors.update({f"status {k}": n for k, n in statuses.items() if k != "confirmed"})
            rss_loaded, _ = memory_mb()
            now = services.clock.now()
            upcoming = []
            for _ in range(100):
                tick = time.perf_counter()
                views = await infosessions.upcoming(services.sessions, now)
                upcoming.append((time.perf_counter() - tick) * 1000)
                assert len(views) >= session_count
            of_person = []
            for person in everyone[:: max(1, people // 1000)]:
                tick = time.perf_counter()
                await registrations.of_person(services.sessions, person, now)
                of_person.append((time.perf_counter() - tick) * 1000)
            of_session = []
            for session_id in ids:
                tick = time.perf_counter()
                await registrations.of_session(services.sessions, session_id)
                of_session.append((time.perf_counter() - tick) * 1000)
            stored = await stored_counts(services)
            cached = len(getattr(services.people, "_seen", {}))
        finally:
            await close_services(services)
    rss_end, peak = memory_mb()
    return Memory(backend, stored["people"], stored["registrations"], stored["outbox"], setup,
                  rss_start, rss_services, rss_loaded, rss_end, peak, cached, sorted(upcoming),
                  sorted(of_person), sorted(of_session), dict(errors))  # fmt: skip


def memory_in_child(url: str | None, args: argparse.Namespace) -> Memory:
    """Run the memory phase in a fresh interpreter: its peak RSS is then its own."""
    command = [sys.executable, "-m", "bench.registrations", "--memory-phase",
               "--people", str(args.people), "--memory-registrations",
               str(args.memory_registrations), "--concurrency", str(args.concurrency),
               "--sessions", str(args.sessions)]  # fmt: skip
    if url is not None:
        command += ["--database-url", url]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"memory phase failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return Memory(**json.loads(done.stdout.strip().splitlines()[-1]))


def ms(values: Sequence[float], fraction: float) -> str:
    return f"{percentile(values, fraction):.1f}"


def report(runs: Sequence[Throughput], memories: Sequence[Memory]) -> None:
    """The two tables, then what each run stored (nothing lost) and any error."""
    headers = ["database", "registrations", "sessions", "at once", "seconds",
               "registrations/s", "p50 ms", "p99 ms", "max ms", "one at a time: p50 ms",
               "one at a time: /s", "CPU/wall", "confirmed", "errors"]  # fmt: skip
    rows = []
    for run in runs:
        alone = percentile(run.baseline_ms, 0.5)
        alone_rate = len(run.baseline_ms) / run.baseline_seconds
        rows.append([run.backend, str(run.registrations), str(run.sessions),
                     str(run.concurrency), f"{run.seconds:.2f}", f"{run.rate:.0f}",
                     ms(run.latencies_ms, 0.5), ms(run.latencies_ms, 0.99),
                     f"{run.latencies_ms[-1]:.1f}", f"{alone:.1f}", f"{alone_rate:.0f}",
                     f"{run.cpu_seconds / run.seconds:.2f}",
                     f"{run.statuses.get('confirmed', 0)}/{run.registrations}",
                     str(sum(run.errors.values()))])  # fmt: skip
    print("registration throughput")
    print(table(headers, rows))
    print()
    for run in runs:
        print(f"{run.backend}: rows after the concurrent run {run.stored}; statuses "
              f"{run.statuses}; errors {run.errors or 'none'}")  # fmt: skip
    print()
    headers = ["database", "people", "registrations", "outbox rows", "setup s",
               "RSS start", "services", "loaded", "end", "peak RSS MiB", "upcoming p50 ms",
               "of_person p50/p99 ms", "of_session max ms"]  # fmt: skip
    rows = [
        [m.backend, str(m.people), str(m.registrations), str(m.outbox_rows),
         f"{m.setup_seconds:.1f}", f"{m.rss_start_mb:.0f}", f"{m.rss_services_mb:.0f}",
         f"{m.rss_loaded_mb:.0f}", f"{m.rss_end_mb:.0f}", f"{m.peak_rss_mb:.0f}",
         ms(m.upcoming_ms, 0.5), f"{ms(m.of_person_ms, 0.5)}/{ms(m.of_person_ms, 0.99)}",
         f"{m.of_session_ms[-1]:.1f}"]
        for m in memories
    ]  # fmt: skip
    print("memory of a process holding the people and registrations (own child process)")
    print(table(headers, rows))
    for m in memories:
        print(f"{m.backend}: people cached by People: {m.cached_people}; "
              f"errors {m.errors or 'none'}")  # fmt: skip


def notes(args: argparse.Namespace) -> str:
    return (
        f"notes: {args.registrations} distinct people (created first by People.touch, not "
        f"timed) register over {args.sessions} sessions a week ahead with room for all, "
        f"{args.concurrency} asyncio tasks calling bot.registrations.register (as the "
        "confirmation handler does, SessionText as notices: two reminders queued per "
        f"registration); latency = one register() call while the others run. 'one at a "
        f"time' = {BASELINE} more people registering sequentially on the same database "
        "afterwards, the cost of a registration alone. Engines as bot.db builds them: SQLite "
        "(WAL, synchronous=NORMAL) with one pooled connection; PostgreSQL with pool 10 + 10 "
        "overflow. Memory: a child process builds the services (knowledge base, matcher), "
        f"touches {args.people} people (People caches them), makes "
        f"{args.memory_registrations} registrations (same path), then lists upcoming "
        f"sessions 100 times, of_person for ~1 000 people and of_session for every session; "
        "RSS via psutil, peak = ru_maxrss of the child."
    )


def main() -> None:
    """Parse; as the parent, run each database then its memory child; as the child
    (--memory-phase), print the memory figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--people", type=int, default=10_000, help="memory phase")
    parser.add_argument("--memory-registrations", type=int, default=10_000)
    parser.add_argument("--database-url", default=None,
                        help="run on SQLite (temporary file) and then on this database; a "
                        "PostgreSQL database is dropped and re-created, so its name must "
                        "contain 'bench'")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-phase", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_phase:
        result = asyncio.run(memory(args.database_url, args.people, args.memory_registrations,
                                    args.concurrency, args.sessions))  # fmt: skip
        print(json.dumps(asdict(result)))
        return
    defaults = {"registrations": 2000, "concurrency": 100, "sessions": 5, "people": 10_000,
                "memory_registrations": 10_000, "database_url": None}  # fmt: skip
    options = "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}"
        for name, default in defaults.items()
        if getattr(args, name) != default
    ) + (" --skip-memory" if args.skip_memory else "")
    print_header("registration", ".venv/bin/python -m bench.registrations" + options)
    started = time.perf_counter()
    urls: list[str | None] = [None] + ([args.database_url] if args.database_url else [])
    runs, memories = [], []
    for url in urls:
        runs.append(asyncio.run(throughput(url, args.registrations, args.concurrency,
                                           args.sessions)))  # fmt: skip
        if not args.skip_memory:
            memories.append(memory_in_child(url, args))
    report(runs, memories)
    print()
    print(notes(args))
    print(f"elapsed: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
