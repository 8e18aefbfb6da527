"""Request bodies. None of them can set `id`, `user_id`, `completed` or timestamps."""

from pydantic import BaseModel, ConfigDict, JsonValue, StrictBool

from src.schemas.text import Description, Title

_EXAMPLE: dict[str, JsonValue] = {"title": "Buy milk", "description": "Two litres, semi-skimmed"}


class TaskCreate(BaseModel):
    """A new task; it starts not completed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: Title
    description: Description | None = None


class TaskUpdate(BaseModel):
    """A full replacement of title and description (an omitted description becomes null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: Title
    description: Description | None = None


class TaskPatch(BaseModel):
    """A change of completion status."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"completed": True}]})

    completed: StrictBool
