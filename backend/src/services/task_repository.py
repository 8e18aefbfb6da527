"""Every statement on tasks and idempotency keys, each starting from the one owner filter.

Statements are SQLAlchemy Core expressions on the SQLModel tables, compiled once per shape and
run by psycopg with their values bound by name, so a request builds no SQL. `_owned()` is layer
three of isolation: a statement that does not name the owner cannot be compiled here.
"""

import re
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import cache
from itertools import permutations, product
from typing import Any, NamedTuple, cast, get_args

import sqlalchemy as sa
from psycopg import AsyncCursor
from psycopg.rows import DictRow
from pydantic import TypeAdapter
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from src.db import Connection
from src.models.idempotency_key import IdempotencyKey
from src.models.task import Task
from src.models.task_count import TaskCount
from src.schemas.queries import TaskListQuery
from src.schemas.responses import TaskRecord, TaskResponse

TASKS: sa.Table = Task.__table__  # type: ignore[attr-defined]  # set when the class is made
TASK_COUNTS: sa.Table = TaskCount.__table__  # type: ignore[attr-defined]
KEYS: sa.Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
# The columns a write may change; `updated_at` always advances with them.
CHANGEABLE = ("title", "description", "completed")
OWNER = "owner"  # the bound parameter every statement carries


_OWNER_ID: sa.BindParameter[str] = sa.bindparam(OWNER)


def _owned(table: sa.Table) -> sa.ColumnElement[bool]:
    """The owner filter: the rows of the caller, and of nobody else."""
    return table.c.user_id == _OWNER_ID


_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # SQLAlchemy's own
Statement = str  # SQL with named placeholders: %(name)s


def _statement(expression: sa.ClauseElement) -> Statement:
    compiled = expression.compile(dialect=_DIALECT)
    if OWNER not in compiled.params:
        raise ValueError(f"statement does not name the owner: {compiled}")
    if any(value is not None for value in compiled.params.values()):
        raise ValueError(f"statement holds a literal; bind it by name: {compiled}")
    return str(compiled)


def _bound(*names: str) -> dict[str, sa.BindParameter[Any]]:
    return {name: sa.bindparam(name) for name in names}


_THIS_TASK = (_owned(TASKS), TASKS.c.id == sa.bindparam("task_id"))
_GET = _statement(sa.select(TASKS).where(*_THIS_TASK))
# Concurrent writers queue on the row: each reads the state the previous one committed.
_GET_FOR_UPDATE = _statement(sa.select(TASKS).where(*_THIS_TASK).with_for_update())
_NOW: sa.BindParameter[datetime] = sa.bindparam("now")
_INSERT = _statement(
    sa.insert(TASKS)
    .values(user_id=_OWNER_ID, **_bound("title", "description"), completed=sa.false())
    .values(created_at=_NOW, updated_at=_NOW)
    .returning(*TASKS.c)
)
_DELETE = _statement(sa.delete(TASKS).where(*_THIS_TASK))
# The unfiltered list's total is the owner's row of `task_counts` (src/models/task_count.py):
# one row read, however many tasks the owner has.
_OWNER_TOTAL = _statement(
    sa.select(
        sa.func.coalesce(
            sa.select(TASK_COUNTS.c.total).where(_owned(TASK_COUNTS)).scalar_subquery(),
            sa.literal_column("0"),
        ).label("total")
    )
)
_FIND_KEY = _statement(
    sa.select(KEYS).where(
        _owned(KEYS), KEYS.c.key == sa.bindparam("key"), KEYS.c.created_at > sa.bindparam("since")
    )
)
# Bounded by one owner's keys; it also frees an expired key for reuse.
_SINCE: sa.BindParameter[datetime] = sa.bindparam("since")
_PURGE_KEYS = _statement(sa.delete(KEYS).where(_owned(KEYS), KEYS.c.created_at <= _SINCE))
_RECORD_KEY = _statement(
    sa.insert(KEYS)
    .values(user_id=_OWNER_ID, **_bound("key", "request_hash", "task_id", "response_body"))
    .values(created_at=_NOW)
)


@cache
def _update(columns: tuple[str, ...], if_older: bool) -> Statement:
    """Set `columns` and `updated_at` to `now`; with `if_older`, only if the stored one is
    older, so a version never goes backwards or repeats (no row: take the locked path)."""
    where = [*_THIS_TASK, TASKS.c.updated_at < _NOW] if if_older else _THIS_TASK
    changes = _bound(*columns) | {"updated_at": _NOW}
    return _statement(sa.update(TASKS).where(*where).values(changes).returning(*TASKS.c))


# The list: compiled once per shape of query (2 x 2 x 3 x 2 at most), so a request only binds.
@cache
def _page(by_status: bool, by_text: bool, sort: str, order: str) -> Statement:
    key, tie = sa.func.lower(TASKS.c.title) if sort == "title" else TASKS.c[sort], TASKS.c.id
    ordering = (key.desc(), tie.desc()) if order == "desc" else (key.asc(), tie.asc())
    listed = sa.select(TASKS).where(*_filters(by_status, by_text)).order_by(*ordering)
    return _statement(listed.limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))


@cache
def _count(by_status: bool, by_text: bool) -> Statement:
    if not (by_status or by_text):
        return _OWNER_TOTAL
    counted = sa.select(sa.func.count().label("total")).select_from(TASKS)
    return _statement(counted.where(*_filters(by_status, by_text)))


_LIKE_ESCAPE = "/"


def _filters(by_status: bool, by_text: bool) -> list[sa.ColumnElement[bool]]:
    filters = [_owned(TASKS)]
    if by_status:
        filters.append(TASKS.c.completed == sa.bindparam("completed"))
    if by_text:
        # lower() on both sides, by the database's rules; the text's own % and _ are escaped.
        pattern = sa.func.lower(sa.bindparam("pattern"))
        texts = (TASKS.c.title, TASKS.c.description)
        filters.append(
            sa.or_(*(sa.func.lower(t).like(pattern, escape=_LIKE_ESCAPE) for t in texts))
        )
    return filters


def _list_values(query: TaskListQuery) -> dict[str, object]:
    values: dict[str, object] = {"limit": query.limit, "offset": query.offset}
    if query.completed is not None:
        values["completed"] = query.completed
    if query.q is not None:
        values["pattern"] = "%" + re.sub("([/%_])", _LIKE_ESCAPE + r"\1", query.q) + "%"
    return values


def page_statement(query: TaskListQuery) -> tuple[Statement, dict[str, object]]:
    """The list page's statement and its values, but for the owner."""
    statement = _page(query.completed is not None, query.q is not None, query.sort, query.order)
    return statement, _list_values(query)


def every_statement() -> Iterator[Statement]:
    """Each statement this module can run, in every shape: what the isolation test inspects."""
    yield from (_GET, _GET_FOR_UPDATE, _INSERT, _DELETE, _FIND_KEY, _PURGE_KEYS, _RECORD_KEY)
    for size in range(1, len(CHANGEABLE) + 1):
        for columns in permutations(CHANGEABLE, size):
            yield from (_update(columns, True), _update(columns, False))
    flags = (False, True)
    sorts = get_args(TaskListQuery.model_fields["sort"].annotation)
    orders = get_args(TaskListQuery.model_fields["order"].annotation)
    for by_status, by_text in product(flags, flags):
        yield _count(by_status, by_text)
        for sort, order in product(sorts, orders):
            yield _page(by_status, by_text, sort, order)


class KeyRecord(NamedTuple):
    key: str
    request_hash: str
    response_body: str  # the original 201 body, replayed verbatim even after the task changed


_TASK = TypeAdapter(TaskResponse)


class TaskRepository:
    """One owner's rows, through one connection; the caller decides about transactions."""

    def __init__(self, connection: Connection, owner_id: str) -> None:
        self._connection = connection
        self._owner_id = owner_id

    def transaction(self) -> AbstractAsyncContextManager[object]:
        """Several statements as one: all or nothing, and row locks held until it ends."""
        return self._connection.transaction()

    async def get(self, task_id: int, *, lock: bool = False) -> TaskResponse | None:
        """The task; `lock` holds its row until the transaction ends."""
        row = await self._one(_GET_FOR_UPDATE if lock else _GET, task_id=task_id)
        return None if row is None else _TASK.validate_python(row)

    async def insert(self, title: str, description: str | None, now: datetime) -> TaskResponse:
        row = await self._one(_INSERT, title=title, description=description, now=now)
        return _TASK.validate_python(row)

    async def update(
        self, task_id: int, changes: dict[str, object], now: datetime, *, if_older: bool
    ) -> TaskResponse | None:
        statement = _update(tuple(changes), if_older)
        row = await self._one(statement, task_id=task_id, now=now, **changes)
        return None if row is None else _TASK.validate_python(row)

    async def delete(self, task_id: int) -> bool:
        cursor = await self._execute(_DELETE, {"task_id": task_id})
        return cursor.rowcount > 0

    async def page(self, query: TaskListQuery) -> list[TaskRecord]:
        cursor = await self._execute(*page_statement(query))
        # The columns are the record's fields: every statement returns whole rows.
        return cast(list[TaskRecord], await cursor.fetchall())

    async def count(self, query: TaskListQuery) -> int:
        """How many tasks match the filters, whatever the page."""
        statement = _count(query.completed is not None, query.q is not None)
        row = await self._one(statement, **_list_values(query))
        return int(row["total"]) if row else 0

    async def find_key(self, key: str, since: datetime) -> KeyRecord | None:
        row = await self._one(_FIND_KEY, key=key, since=since)
        return None if row is None else KeyRecord(key, row["request_hash"], row["response_body"])

    async def purge_keys(self, since: datetime) -> None:
        await self._execute(_PURGE_KEYS, {"since": since})

    async def record_key(
        self, key: str, request_hash: str, task: TaskResponse, now: datetime
    ) -> None:
        """Store the key and response; a concurrent twin makes this raise UniqueViolation."""
        values = {"key": key, "request_hash": request_hash, "task_id": task.id, "now": now}
        await self._execute(_RECORD_KEY, values | {"response_body": task.model_dump_json()})

    async def _execute(self, statement: Statement, values: dict[str, Any]) -> AsyncCursor[DictRow]:
        values[OWNER] = self._owner_id
        return await self._connection.execute(statement, values)

    async def _one(self, statement: Statement, **values: object) -> dict[str, Any] | None:
        cursor = await self._execute(statement, values)
        row: dict[str, Any] | None = await cursor.fetchone()
        return row
