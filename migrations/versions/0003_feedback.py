"""Feedback on answers (👍 / 👎 and what was missing); opting out of announcements.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "person_id",
            sa.BigInteger(),
            sa.ForeignKey("people.telegram_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "question_id",
            sa.Integer(),
            sa.ForeignKey("question_log.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_feedback_question_id", "feedback", ["question_id"])
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.add_column("people", sa.Column("opted_out_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("opted_out_at")
    op.drop_table("feedback")
