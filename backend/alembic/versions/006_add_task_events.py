"""add task events

Revision ID: 006
Revises: 005
Create Date: 2026-12-06

The change feed of the live task lists: one row per create, update or delete, written by the
service in the same statement as the change (no trigger), read back by event streams.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "006"
down_revision: str | None = "005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=7), nullable=False),
        sa.Column("task", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('created', 'updated', 'deleted')", name="ck_task_events_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_events_user_id_id", "task_events", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_events_user_id_id", table_name="task_events")
    op.drop_table("task_events")
