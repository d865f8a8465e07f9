"""Is this bot able to work? The database answers, and how much the outbox has left to send.

One check serves `/healthz` (a load balancer or a platform polls it) and
`python -m bot health` (an operator, a container HEALTHCHECK, a cron job). It reads counts
only: no personal data, so the endpoint needs no secret.

"Healthy" means the database answers and the outbox can be read. The schema revision is
reported but does not decide: during an upgrade the release step migrates first, and the
old processes still serving must not all be taken out of the load balancer at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import outbox
from bot.db import session_factory
from bot.migrate import alembic_config

TIMEOUT = 5.0  # seconds: a health check that hangs is a failed one


@dataclass
class Health:
    """What a check found; `ok` decides the HTTP status (200 or 503) and the exit status."""

    database: str = "unreachable"
    revision: str | None = None
    head: str | None = None
    outbox: dict[str, int] = field(default_factory=dict)
    due: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.due is not None

    def as_json(self) -> dict[str, Any]:
        """The body of `/healthz` and of `python -m bot health --json`."""
        return {
            "status": "ok" if self.ok else "failing",
            "database": self.database,
            "schema": {"revision": self.revision, "head": self.head},
            "outbox": {"due": self.due, **self.outbox},
            **self.extra,
        }

    def lines(self) -> list[str]:
        """The same, for a person at a terminal."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.outbox.items())) or "empty"
        schema = "up to date" if self.revision == self.head else "NOT at head"
        return [
            f"status:   {'ok' if self.ok else 'FAILING'}",
            f"database: {self.database}",
            f"schema:   {self.revision} (code expects {self.head}: {schema})",
            f"outbox:   {self.due if self.due is not None else '?'} due now; {counts}",
            *(f"{key}: {value}" for key, value in self.extra.items()),
        ]


def schema_head() -> str | None:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def check(engine: AsyncEngine, now: datetime, *, within: float = TIMEOUT) -> Health:
    """Ask the database for its revision and the outbox backlog, within `within` seconds."""
    health = Health(head=schema_head())
    try:
        await asyncio.wait_for(_probe(engine, now, health), within)
    except TimeoutError:
        health.database = f"no answer within {within:g} s"
    except Exception as exc:  # reported, never raised: a health check must answer
        if health.database == "ok":
            health.database = f"ok, but the outbox cannot be read ({type(exc).__name__})"
        else:
            health.database = f"unreachable ({type(exc).__name__})"
    return health


async def _probe(engine: AsyncEngine, now: datetime, health: Health) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        health.database = "ok"
        try:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            health.revision = str(revision) if revision is not None else None
        except Exception:
            await connection.rollback()  # not migrated yet: reported as revision None
    backlog = await outbox.backlog(session_factory(engine), now)
    health.outbox = backlog.counts
    health.due = backlog.due


async def probe_server(port: int, *, within: float = TIMEOUT) -> str:
    """What this machine's `/healthz` answers: `ok`, or why not (webhook mode only)."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=within) as client:
            response = await client.get(f"http://127.0.0.1:{port}/healthz")
    except httpx.HTTPError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok" if response.status_code == 200 else f"status {response.status_code}"
