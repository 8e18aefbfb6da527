"""The statements on `tasks`, compiled once from the SQLModel table.

Each binds its values by name at execution, so a request builds no SQL. Every statement names
the owner: layer three of isolation.
"""

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, delete, insert, select, update

from src.db import Statement, compiled
from src.models.task import Task
from src.models.task_count import TaskCount
from src.schemas.responses import TaskRecord, TaskResponse

TASKS: Table = Task.__table__  # type: ignore[attr-defined]  # set when the class is made
TASK_COUNTS: Table = TaskCount.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(TASKS.c)
_THIS_TASK = (TASKS.c.id == bindparam("task_id"), TASKS.c.user_id == bindparam("owner"))

GET = compiled(select(TASKS).where(*_THIS_TASK))
# Concurrent writers queue on the row: each reads the state the previous one committed.
GET_FOR_UPDATE = compiled(select(TASKS).where(*_THIS_TASK).with_for_update())
INSERT = compiled(
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
DELETE = compiled(delete(TASKS).where(*_THIS_TASK))


@cache
def update_if_older(columns: tuple[str, ...]) -> Statement:
    """Set `columns` (from `new_<column>`) and `updated_at` to `now`, in one statement.

    Only when the stored `updated_at` is older than `now`, so a version never goes backwards
    or repeats; otherwise no row, and the caller takes the locked read-then-write path. The
    database applies it to the latest committed row, so concurrent writers cannot interleave.
    """
    return compiled(
        update(TASKS)
        .where(*_THIS_TASK, TASKS.c.updated_at < bindparam("now"))
        .values(**_new_values(columns), updated_at=bindparam("now"))
        .returning(*_COLUMNS)
    )


@cache
def update_locked(columns: tuple[str, ...]) -> Statement:
    """Set `columns` and `updated_at` on a row the caller's transaction has locked."""
    return compiled(
        update(TASKS)
        .where(*_THIS_TASK)
        .values(**_new_values(columns), updated_at=bindparam("now"))
        .returning(*_COLUMNS)
    )


def _new_values(columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(f"new_{name}") for name in columns}


_TASK = TypeAdapter(TaskResponse)


def response(row: Mapping[str, Any]) -> TaskResponse:
    return _TASK.validate_python(row)


def records(rows: list[dict[str, Any]]) -> list[TaskRecord]:
    # The columns are the record's fields (every statement returns the whole row).
    return cast(list[TaskRecord], rows)
