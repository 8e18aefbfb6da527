"""drop single-column task indexes

Revision ID: 005
Revises: 004
Create Date: 2026-12-06

Every query names its owner, and the composite indexes of 003 lead with `user_id` (one with
`completed` next), so `ix_tasks_user_id`, `ix_tasks_completed` and `ix_tasks_created_at` served
no query while every insert and update maintained them. Measured under `make bench`'s mixed
load: dropping them cut CPU per request by 8-11% (docs/performance.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "005"
down_revision: str | None = "004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_tasks_user_id": ["user_id"],
    "ix_tasks_completed": ["completed"],
    "ix_tasks_created_at": ["created_at"],
}


def upgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="tasks", if_exists=True)


def downgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "tasks", columns, if_not_exists=True)
