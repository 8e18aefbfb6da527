"""Response bodies."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

# The one example task: the schema shows it, and the OpenAPI answers build theirs from it.
TASK_EXAMPLE: dict[str, JsonValue] = {
    "id": 1,
    "user_id": "alice",
    "title": "Buy milk",
    "description": "Two litres, semi-skimmed",
    "completed": False,
    "created_at": "2026-01-01T09:30:00Z",
    "updated_at": "2026-01-01T09:30:00Z",
}


class TaskResponse(BaseModel):
    """A task as the service stores it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [TASK_EXAMPLE]},
    )

    id: int = Field(description="Assigned by the service; unique across all users.")
    user_id: str = Field(description="The owner: the `sub` of the token that created it.")
    title: str = Field(description="1 to 200 characters, trimmed.")
    description: str | None = Field(description="Up to 1000 characters, or null.")
    completed: bool = Field(description="False when created; changed with PATCH.")
    # UTC: the pool's sessions run in UTC (src/db.py).
    created_at: datetime = Field(description="When it was created (UTC, with offset).")
    updated_at: datetime = Field(description="When it last changed (UTC, with offset).")


class TaskRecord(TypedDict):
    """A task row as the list reads it: TaskResponse's fields, serialised without validation.

    The rows come from the service's own statements on typed columns, so validating each again
    would prove nothing; on a page of tasks it cost as much as turning them into JSON.
    """

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


class ErrorResponse(BaseModel):
    """Every error other than a schema violation: one human-readable reason."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "Task not found"}]})

    detail: str = Field(description="What went wrong, and what to do about it.")


class HealthResponse(BaseModel):
    """Whether the service can reach its database, and whether the database accepts writes."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "healthy", "database": "ok"}]}
    )

    status: Literal["healthy", "unhealthy"]
    database: Literal["ok", "unreachable", "read-only"] = Field(
        description="`read-only`: the database answers reads but refuses every write (a hot "
        "standby, or `default_transaction_read_only`); writes answer 503 until it is writable."
    )
