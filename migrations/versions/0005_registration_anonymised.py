"""Registrations can be anonymised: person_id becomes nullable (bot.retention clears it,
with the name and email, once a session is long past).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.alter_column("person_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM registrations WHERE person_id IS NULL")
    with op.batch_alter_table("registrations") as batch:
        batch.alter_column("person_id", existing_type=sa.BigInteger(), nullable=False)
