"""Fixtures: a database per test (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
a pinned clock, settings built here rather than read from the environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.config import PROJECT_ROOT, Settings
from tests.harness import Harness, running_bot

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # a Saturday, 10:00 in Montréal
STAFF_ID = 900


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(params=_backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a new SQLite file, or a freshly emptied PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    url = os.environ["TEST_DATABASE_URL"]
    await empty_schema(url)
    yield url


async def empty_schema(url: str) -> None:
    """Drop every table of a PostgreSQL database (tests then migrate it afresh)."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: nothing read from the environment or a .env file."""
    values: dict[str, object] = {
        "TELEGRAM_BOT_TOKEN": "123456:TEST",
        "TELEGRAM_API_URL": "https://api.telegram.org",
        "DATABASE_URL": database_url,
        "STAFF_IDS": str(STAFF_ID),
        "KNOWLEDGE_DIR": str(PROJECT_ROOT / "knowledge"),
        "BOT_TIMEZONE": "America/Toronto",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def bot(settings: Settings, clock: FrozenClock) -> AsyncIterator[Harness]:
    """The real Application on the in-memory Bot API; fails the test on unexpected errors."""
    async with running_bot(settings, clock) as harness:
        yield harness
        assert harness.api.unknown_calls == [], "the bot called a method Telegram lacks"
    assert harness.errors == [], f"handlers raised: {harness.errors!r}"
