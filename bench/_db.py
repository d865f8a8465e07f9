"""Fresh databases and memory figures for the benchmarks that write to the database.

Why a fresh database each run: the outbox claim and the seat counts scan what earlier runs
left behind, so figures taken on a used database are not comparable. Why the name guard on
PostgreSQL: making it fresh means DROP DATABASE, and a benchmark must never be one typo away
from dropping a database that matters.
"""

from __future__ import annotations

import resource
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db import is_sqlite

GUARD = "bench"  # a PostgreSQL database is dropped only if its name contains this


@asynccontextmanager
async def fresh_database(url: str | None, prefix: str) -> AsyncIterator[str]:
    """Yield the URL of an empty database; the bot's migrations then create the tables.

    None: a SQLite file in a temporary folder, removed afterwards. A SQLite URL: a file that
    must not exist yet (it is kept). A PostgreSQL URL: the database is dropped and created
    again, which is refused unless its name contains `bench`.
    """
    if url is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    parsed = make_url(url)
    if is_sqlite(url):
        refuse_existing(parsed.database)
        yield url
        return
    name = parsed.database or ""
    if GUARD not in name:
        raise SystemExit(
            f"refusing to drop database {name!r}: its name must contain {GUARD!r} "
            "(the benchmark drops and re-creates it)"
        )
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    yield url


def refuse_existing(path: str | None) -> None:
    """A SQLite file given by name must be new: the run fills it and would count old rows."""
    if path and path != ":memory:" and Path(path).exists():
        raise SystemExit(f"{path} exists: give the name of a new file (the run fills it)")


async def backend_name(engine: AsyncEngine) -> str:
    """`SQLite 3.40.1` or `PostgreSQL 15.8`: the server the figures were taken on."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            version = await connection.scalar(text("select sqlite_version()"))
            return f"SQLite {version}"
        version = await connection.scalar(text("show server_version"))
        return f"PostgreSQL {str(version).split()[0]}"


def memory_mb() -> tuple[float, float]:
    """(RSS now, RSS high-water mark) of this process in MiB; ru_maxrss is KiB on Linux.

    The kernel updates the high-water mark lazily, so it can trail the current RSS by a
    little: the peak reported is the larger of the two (as bench.throughput does).
    """
    now = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return now, max(now, peak)
