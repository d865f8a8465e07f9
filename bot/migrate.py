"""Apply Alembic migrations from code: at start, in `python -m bot db upgrade`, in tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
MIGRATION_LOCK = 4_815_162_342  # any fixed number: the advisory lock migrations queue on


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config that needs no alembic.ini next to the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema; safe to call on every start."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_sync)


def _upgrade_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes starting together on one database: one migrates, the others
        # wait here, then find the schema at head. Released when the transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")
