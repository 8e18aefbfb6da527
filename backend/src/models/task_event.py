"""The `task_events` table: the change feed behind the live task lists.

Each create, update and delete the service makes records one row here in the same statement as
the write, so a change and its event commit together or not at all. Streams replay a user's
rows after the id a client last saw (`Last-Event-ID`); rows older than
TASK_EVENTS_RETENTION_HOURS are purged.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Identity, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from src.models.task import UTCDateTime

EVENT_KINDS = ("created", "updated", "deleted")


class TaskEvent(SQLModel, table=True):
    __tablename__ = "task_events"
    # A replay reads one user's rows after an id: one index range, however busy other users are.
    __table_args__ = (
        Index("ix_task_events_user_id_id", "user_id", "id"),
        CheckConstraint("kind IN ('created', 'updated', 'deleted')", name="ck_task_events_kind"),
    )

    # Ever increasing: what a client sends back as Last-Event-ID.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, Identity(always=True), primary_key=True),
    )
    user_id: str = Field(max_length=255)
    task_id: int
    kind: str = Field(max_length=7)
    # The task as written; null for a delete.
    task: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)
