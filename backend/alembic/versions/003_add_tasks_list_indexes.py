"""add tasks list indexes

Revision ID: 003
Revises: 002
Create Date: 2026-11-26

One composite index per list ordering, each led by the owner, so a page reads `limit` index
entries however many tasks exist. B-trees scan both ways: one index serves asc and desc.
On a large live PostgreSQL table, create them by hand first with CREATE INDEX CONCURRENTLY
under these names; this migration then only records them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "003"
down_revision: str | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_tasks_user_id_created_at_id": ["user_id", "created_at", "id"],
    "ix_tasks_user_id_updated_at_id": ["user_id", "updated_at", "id"],
    "ix_tasks_user_id_completed_created_at_id": ["user_id", "completed", "created_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "tasks", columns, if_not_exists=True)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="tasks")
