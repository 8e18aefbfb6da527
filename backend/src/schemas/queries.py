"""What the task routes read from the URL: the list's query parameters and the task id."""

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from src.schemas.text import storable

MAX_LIMIT = 1000
# Far beyond any real list, and inside PostgreSQL's bigint OFFSET.
MAX_OFFSET = 2**31 - 1

# As long as the longest description, so any stored text can be searched for.
SearchText = Annotated[str, StringConstraints(max_length=1000), AfterValidator(storable)]


class TaskListQuery(BaseModel):
    """Filter, order and page the caller's tasks."""

    # Unknown parameters (a cache buster, say) are ignored rather than refused.
    model_config = ConfigDict(extra="ignore", frozen=True)

    completed: bool | None = Field(
        default=None, description="Only completed (`true`) or only open (`false`) tasks."
    )
    q: SearchText | None = Field(
        default=None,
        description="Text the title or description must contain, ignoring case; "
        "`%` and `_` match themselves.",
    )
    sort: Literal["created_at", "updated_at", "title"] = Field(
        default="created_at", description="Field to order by (`title` ignores case)."
    )
    order: Literal["asc", "desc"] = Field(
        default="desc", description="Direction; ties are broken by id in the same direction."
    )
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT, description="Page size (at most 1000).")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Tasks to skip.")

    @field_validator("q", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty search box sends `q=`: that means no filter, not a search for "".
        return None if isinstance(value, str) and not value.strip() else value


_CANONICAL_ID = re.compile(r"0|[1-9][0-9]*")


def canonical_id(value: object) -> object:
    """Only the id's one spelling names it: `01`, `+1`, ` 1` and `1.0` would all be task 1."""
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise PydanticCustomError(
            "task_id_not_canonical",
            "Task id must be decimal digits without sign, spaces or leading zeros",
        )
    return value
