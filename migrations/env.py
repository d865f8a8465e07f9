"""Alembic environment: always handed a live connection by bot.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `python -m bot db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
