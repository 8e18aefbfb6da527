"""The single statements the common requests need, built once at import.

Each binds its values by name at execution, so a request builds no SQL expression and SQLAlchemy
serves the compiled SQL from its cache. Every statement names the owner: layer three of isolation.
"""

from functools import cache
from typing import Any

from sqlalchemy import Delete, Row, Select, Table, Update, bindparam, delete, insert, select, update

from src.models.task import Task
from src.models.task_count import TaskCount
from src.schemas.responses import TaskResponse

TASKS: Table = Task.__table__  # type: ignore[attr-defined]  # set when the class is made
TASK_COUNTS: Table = TaskCount.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(TASKS.c)
_THIS_TASK = (TASKS.c.id == bindparam("task_id"), TASKS.c.user_id == bindparam("owner"))

GET: Select[Any] = select(TASKS).where(*_THIS_TASK)
INSERT = (
    insert(TASKS)
    .values(
        user_id=bindparam("owner"),
        title=bindparam("new_title"),
        description=bindparam("new_description"),
        completed=False,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(*_COLUMNS)
)
DELETE: Delete = delete(TASKS).where(*_THIS_TASK)


@cache
def update_if_older(columns: tuple[str, ...]) -> Update:
    """Set `columns` (from `new_<column>`) and `updated_at` to `now`, in one statement.

    Only when the stored `updated_at` is older than `now`, so a version never goes backwards
    or repeats; otherwise no row, and the caller takes the locked read-then-write path. The
    database applies it to the latest committed row, so concurrent writers cannot interleave.
    """
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in columns}
    return (
        update(TASKS)
        .where(*_THIS_TASK, TASKS.c.updated_at < bindparam("now"))
        .values(**values, updated_at=bindparam("now"))
        .returning(*_COLUMNS)
    )


def response(row: Row[Any]) -> TaskResponse:
    return TaskResponse.model_validate(row)
