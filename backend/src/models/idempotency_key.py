"""The `idempotency_keys` table: one row per (user, key) that created a task."""

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from src.models.task import UTCDateTime, utc_now


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    # The composite primary key is the uniqueness that makes concurrent retries create one task.
    user_id: str = Field(primary_key=True, max_length=255)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    task_id: int
    # The original 201 body, replayed verbatim even after the task changes or is deleted.
    response_body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
