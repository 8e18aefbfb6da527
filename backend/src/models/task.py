"""The `tasks` table."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

# PostgreSQL's `integer`: ids outside it cannot exist, so they are answered 404 without a query.
MAX_TASK_ID = 2**31 - 1


# Timestamps keep their time zone (PostgreSQL's timestamptz): an instant, whatever the server's.
UTCDateTime = DateTime(timezone=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    # One per list ordering, each led by the owner: a page reads `limit` index entries, however
    # many tasks the owner or the table holds. `id` breaks ties in the same scan. They are the
    # plan's indexes on `user_id` and `completed` too: no query reads a single-column one.
    __table_args__ = (
        Index("ix_tasks_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_tasks_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index(
            "ix_tasks_user_id_completed_created_at_id", "user_id", "completed", "created_at", "id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=255)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
