"""add task counts

Revision ID: 004
Revises: 003
Create Date: 2026-11-26

One row per user with the number of their tasks, kept exact by triggers on `tasks`, so the
list's `X-Total-Count` costs one row read however many tasks a user has. Filled from the
existing tasks in the same transaction as the triggers are created.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "004"
down_revision: str | None = "003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_TRIGGERS = """
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_counts (user_id, total) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET total = task_counts.total + 1;
        RETURN NEW;
    END IF;
    UPDATE task_counts SET total = total - 1 WHERE user_id = OLD.user_id;
    RETURN OLD;
END;
$$;
DROP TRIGGER IF EXISTS tasks_counted ON tasks;
CREATE TRIGGER tasks_counted AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION count_tasks();
"""
SQLITE_TRIGGERS = (
    """
CREATE TRIGGER IF NOT EXISTS tasks_counted_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (user_id, total) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET total = total + 1;
END
""",
    """
CREATE TRIGGER IF NOT EXISTS tasks_counted_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET total = total - 1 WHERE user_id = OLD.user_id;
END
""",
)


def upgrade() -> None:
    op.create_table(
        "task_counts",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # No task may land between the count and the trigger: hold writers off until commit.
        # The mode CREATE TRIGGER needs anyway, taken first: no lock upgrade to deadlock on.
        op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
        op.execute(POSTGRESQL_TRIGGERS)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    op.execute(
        "INSERT INTO task_counts (user_id, total) SELECT user_id, count(*) FROM tasks GROUP BY user_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tasks_counted ON tasks")
        op.execute("DROP FUNCTION IF EXISTS count_tasks()")
    else:
        op.execute("DROP TRIGGER IF EXISTS tasks_counted_insert")
        op.execute("DROP TRIGGER IF EXISTS tasks_counted_delete")
    op.drop_table("task_counts")
