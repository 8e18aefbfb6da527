"""Response bodies."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class TaskResponse(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "user_id": "alice",
                    "title": "Buy milk",
                    "description": "Two litres, semi-skimmed",
                    "completed": False,
                    "created_at": "2026-01-01T09:30:00Z",
                    "updated_at": "2026-01-01T09:30:00Z",
                }
            ]
        },
    )

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

    detail: str


class HealthResponse(BaseModel):
    status: str
    database: str
