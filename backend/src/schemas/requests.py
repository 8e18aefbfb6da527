"""Request bodies. None of them can set `id`, `user_id`, `completed` or timestamps."""

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool

from src.schemas.text import Description, Title

_EXAMPLE: dict[str, JsonValue] = {"title": "Buy milk", "description": "Two litres, semi-skimmed"}
_TITLE = "1 to 200 characters after trimming surrounding whitespace."
_DESCRIPTION = "Up to 1000 characters; null or omitted means none."


class TaskCreate(BaseModel):
    """A new task; it starts not completed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: Title = Field(description=_TITLE)
    description: Description | None = Field(default=None, description=_DESCRIPTION)


class TaskUpdate(BaseModel):
    """A full replacement of title and description (an omitted description becomes null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: Title = Field(description=_TITLE)
    description: Description | None = Field(default=None, description=_DESCRIPTION)


class TaskPatch(BaseModel):
    """A change of completion status."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"completed": True}]})

    completed: StrictBool = Field(description="A JSON boolean; strings and numbers are refused.")
