"""Every statement on tasks, idempotency keys and task events, each naming the one owner.

Statements are built and compiled once per shape (src/services/statements.py); `owned()` is
layer three of isolation: a statement that does not name the owner cannot be compiled. Each
write is recorded in the change feed by the same statement (src/services/event_statements.py).
"""

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

from src.db import Connection
from src.schemas.queries import TaskListQuery
from src.schemas.responses import TaskRecord, TaskResponse
from src.services.event_statements import PURGE, REPLAY, recorded
from src.services.list_statements import count_shape, list_values, page_shape, page_statement
from src.services.statements import KEYS, NOW, OWNER, OWNER_ID, TASKS, Statement
from src.services.statements import bound as _bound
from src.services.statements import owned as _owned
from src.services.statements import statement as _statement

# The columns a write may change; `updated_at` always advances with them.
CHANGEABLE = ("title", "description", "completed")


_THIS_TASK = (_owned(TASKS), TASKS.c.id == sa.bindparam("task_id"))
_GET = _statement(sa.select(TASKS).where(*_THIS_TASK))
# Concurrent writers queue on the row: each reads the state the previous one committed.
_GET_FOR_UPDATE = _statement(sa.select(TASKS).where(*_THIS_TASK).with_for_update())


@cache
def _insert(purge: bool) -> Statement:
    written = (
        sa.insert(TASKS)
        .values(user_id=OWNER_ID, **_bound("title", "description"), completed=sa.false())
        .values(created_at=NOW, updated_at=NOW)
        .returning(*TASKS.c)
    )
    return recorded(written.cte("written"), "created", purge=purge)


@cache
def _delete(purge: bool) -> Statement:
    written = sa.delete(TASKS).where(*_THIS_TASK).returning(TASKS.c.id, TASKS.c.user_id)
    return recorded(written.cte("written"), "deleted", purge=purge)


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
    .values(user_id=OWNER_ID, **_bound("key", "request_hash", "task_id", "response_body"))
    .values(created_at=NOW)
)


@cache
def _update(columns: tuple[str, ...], if_older: bool, purge: bool = False) -> Statement:
    """Set `columns` and `updated_at` to `now`; with `if_older`, only if the stored one is
    older, so a version never goes backwards or repeats (no row: take the locked path)."""
    where = [*_THIS_TASK, TASKS.c.updated_at < NOW] if if_older else _THIS_TASK
    changes = _bound(*columns) | {"updated_at": NOW}
    written = sa.update(TASKS).where(*where).values(changes).returning(*TASKS.c)
    return recorded(written.cte("written"), "updated", purge=purge)


def every_statement() -> Iterator[Statement]:
    """Each statement this module can run, in every shape: what the isolation test inspects."""
    flags = (False, True)
    yield from (_GET, _GET_FOR_UPDATE, _FIND_KEY, _PURGE_KEYS, _RECORD_KEY, REPLAY, PURGE)
    yield from (write(purge) for write in (_insert, _delete) for purge in flags)
    for size in range(1, len(CHANGEABLE) + 1):
        for columns in permutations(CHANGEABLE, size):
            yield from (_update(columns, *shape) for shape in product(flags, flags))
    sorts = get_args(TaskListQuery.model_fields["sort"].annotation)
    orders = get_args(TaskListQuery.model_fields["order"].annotation)
    for by_status, by_text in product(flags, flags):
        yield count_shape(by_status, by_text)
        for sort, order in product(sorts, orders):
            yield page_shape(by_status, by_text, sort, order)


Since = datetime | None


def _purging(since: Since, **values: object) -> dict[str, object]:
    return values if since is None else values | {"since": since}


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

    # Every write also records its event; with `purge_before`, the same statement deletes a
    # batch of the owner's events created before then.
    async def insert(
        self, title: str, description: str | None, now: datetime, purge_before: Since = None
    ) -> TaskResponse:
        values = _purging(purge_before, title=title, description=description, now=now)
        row = await self._one(_insert(purge_before is not None), **values)
        return _TASK.validate_python(row)

    async def update(
        self,
        task_id: int,
        changes: dict[str, object],
        now: datetime,
        *,
        if_older: bool,
        purge_before: Since = None,
    ) -> TaskResponse | None:
        statement = _update(tuple(changes), if_older, purge_before is not None)
        row = await self._one(
            statement, **_purging(purge_before, task_id=task_id, now=now), **changes
        )
        return None if row is None else _TASK.validate_python(row)

    async def delete(self, task_id: int, now: datetime, purge_before: Since = None) -> bool:
        values = _purging(purge_before, task_id=task_id, now=now)
        return await self._one(_delete(purge_before is not None), **values) is not None

    async def events_from(self, event_id: int, limit: int) -> list[dict[str, Any]]:
        """The owner's stored events from `event_id` on (that one included), oldest first."""
        cursor = await self._execute(REPLAY, {"from_id": event_id, "limit": limit})
        return await cursor.fetchall()

    async def purge_events(self, since: datetime) -> None:
        """Deletes a batch of the owner's events created before `since`."""
        await self._execute(PURGE, {"since": since})

    async def page(self, query: TaskListQuery) -> list[TaskRecord]:
        cursor = await self._execute(*page_statement(query))
        # The columns are the record's fields: every statement returns whole rows.
        return cast(list[TaskRecord], await cursor.fetchall())

    async def count(self, query: TaskListQuery) -> int:
        """How many tasks match the filters, whatever the page."""
        statement = count_shape(query.completed is not None, query.q is not None)
        row = await self._one(statement, **list_values(query))
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
