"""Layer three of isolation: every query is scoped to one owner."""

from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from psycopg import AsyncCursor
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow

from src.db import ClientGone, Connection, Database, Statement
from src.models.task import MAX_TASK_ID, utc_now
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.schemas.responses import TaskResponse
from src.services import task_listing, task_table
from src.services.etags import etag_of, if_match_allows
from src.services.idempotency import (
    IdempotencyKeyConflictError,
    IdempotencyKeys,
    fingerprint,
    replay,
)
from src.services.task_listing import TaskPage


class TaskNotFoundError(Exception):
    """The task does not exist or belongs to someone else: deliberately indistinguishable."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class PreconditionFailedError(Exception):
    """The task changed since the caller read it (`If-Match` no longer matches)."""


class CreatedTask(NamedTuple):
    task: TaskResponse
    replayed: bool  # True when an earlier request with the same idempotency key created it


class TaskService:
    """The caller's tasks, and nobody else's.

    The common requests are one statement each, in autocommit: one round trip, no BEGIN or
    COMMIT. What needs several statements (a conditional write, a keyed create, a write that
    must wait for a row) runs in one transaction that the method ends itself.
    """

    def __init__(
        self, database: Database, owner_id: str, client_gone: ClientGone | None = None
    ) -> None:
        self._database = database
        self._owner_id = owner_id
        self._client_gone = client_gone

    async def list_page(self, query: TaskListQuery) -> TaskPage:
        values = task_listing.parameters(self._owner_id, query)
        async with self._connection() as connection:
            items = task_table.records(
                await _all(connection, task_listing.page_statement(query), values)
            )
            total = task_listing.total_if_known(query, len(items))
            if total is None:
                counted = await _one(connection, task_listing.count_statement(query), values)
                total = int(counted["total"]) if counted else 0
        return TaskPage(items=items, total=total)

    async def get(self, task_id: int) -> TaskResponse:
        row = None
        if _storable_id(task_id):
            async with self._connection() as connection:
                row = await _one(connection, task_table.GET, self._this(task_id))
        if row is None:
            raise TaskNotFoundError(task_id)
        return task_table.response(row)

    async def create(self, data: TaskCreate) -> TaskResponse:
        async with self._connection() as connection:
            return await self._insert(connection, data)

    async def create_once(self, data: TaskCreate, idempotency_key: str | None) -> CreatedTask:
        """Create a task, or replay the one an earlier request with the same key created."""
        if idempotency_key is None:
            return CreatedTask(await self.create(data), replayed=False)
        request_hash = fingerprint(data)
        async with self._connection() as connection:
            keys = IdempotencyKeys(connection, self._owner_id)
            try:
                async with connection.transaction():
                    now = utc_now()
                    if (record := await keys.find(idempotency_key, now)) is not None:
                        return CreatedTask(replay(record, request_hash), replayed=True)
                    await keys.purge_expired(now)
                    task = await self._insert(connection, data)
                    await keys.record(idempotency_key, request_hash, task, now)
                return CreatedTask(task, replayed=False)
            except UniqueViolation:
                # A concurrent twin committed the key first (our insert waited for it, then
                # failed on the primary key): our transaction is rolled back, so answer with
                # its task.
                record = await keys.find(idempotency_key, utc_now())
                if record is None:
                    raise IdempotencyKeyConflictError(idempotency_key) from None
                return CreatedTask(replay(record, request_hash), replayed=True)

    async def replace(
        self, task_id: int, data: TaskUpdate, if_match: str | None = None
    ) -> TaskResponse:
        return await self._change(task_id, if_match, title=data.title, description=data.description)

    async def set_completed(
        self, task_id: int, completed: bool, if_match: str | None = None
    ) -> TaskResponse:
        return await self._change(task_id, if_match, completed=completed)

    async def delete(self, task_id: int, if_match: str | None = None) -> None:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        async with self._connection() as connection:
            if if_match is None:
                cursor = await _execute(connection, task_table.DELETE, self._this(task_id))
            else:
                async with connection.transaction():
                    self._guard(await self._locked(connection, task_id), if_match)
                    cursor = await _execute(connection, task_table.DELETE, self._this(task_id))
        if cursor.rowcount == 0:
            raise TaskNotFoundError(task_id)

    async def _change(self, task_id: int, if_match: str | None, **values: object) -> TaskResponse:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        columns = tuple(values)
        changes = {f"new_{name}": value for name, value in values.items()}
        async with self._connection() as connection:
            if if_match is None:
                # The common write: one UPDATE ... RETURNING. No row means the task is not ours
                # or not there, or its version is not older than our clock: the locked path
                # decides.
                statement = task_table.update_if_older(columns)
                row = await _one(
                    connection, statement, {**self._this(task_id), "now": utc_now(), **changes}
                )
                if row is not None:
                    return task_table.response(row)
            async with connection.transaction():
                task = await self._locked(connection, task_id)
                if if_match is not None:
                    self._guard(task, if_match)
                # Strictly later than before, even when two writes land within one clock tick.
                now = max(utc_now(), _after(task.updated_at))
                statement = task_table.update_locked(columns)
                row = await _one(
                    connection, statement, {**self._this(task_id), "now": now, **changes}
                )
        if row is None:  # pragma: no cover - the row is locked by this transaction
            raise TaskNotFoundError(task_id)
        return task_table.response(row)

    async def _locked(self, connection: Connection, task_id: int) -> TaskResponse:
        """The task, its row locked until the transaction ends, so no write lands in between."""
        row = await _one(connection, task_table.GET_FOR_UPDATE, self._this(task_id))
        if row is None:
            raise TaskNotFoundError(task_id)
        return task_table.response(row)

    @staticmethod
    def _guard(task: TaskResponse, if_match: str) -> None:
        """Refuse unless `If-Match` names the locked task's current version."""
        if not if_match_allows(if_match, etag_of(task)):
            raise PreconditionFailedError(task.id)

    async def _insert(self, connection: Connection, data: TaskCreate) -> TaskResponse:
        values = {
            "owner": self._owner_id,
            "now": utc_now(),
            "new_title": data.title,
            "new_description": data.description,
        }
        row = await _one(connection, task_table.INSERT, values)
        if row is None:  # pragma: no cover - INSERT ... RETURNING always returns its row
            raise RuntimeError("INSERT returned no row")
        return task_table.response(row)

    def _this(self, task_id: int) -> dict[str, object]:
        return {"task_id": task_id, "owner": self._owner_id}

    def _connection(self) -> AbstractAsyncContextManager[Connection]:
        return self._database.connection(self._client_gone)


async def _execute(
    connection: Connection, statement: Statement, values: dict[str, object]
) -> AsyncCursor[DictRow]:
    return await connection.execute(statement.sql, statement.bind(values))


async def _one(
    connection: Connection, statement: Statement, values: dict[str, object]
) -> dict[str, Any] | None:
    cursor = await _execute(connection, statement, values)
    row: dict[str, Any] | None = await cursor.fetchone()
    return row


async def _all(
    connection: Connection, statement: Statement, values: dict[str, object]
) -> list[dict[str, Any]]:
    cursor = await _execute(connection, statement, values)
    rows: list[dict[str, Any]] = await cursor.fetchall()
    return rows


def _storable_id(task_id: int) -> bool:
    # An id the column cannot hold cannot exist; asking PostgreSQL would be an overflow error.
    return 1 <= task_id <= MAX_TASK_ID


def _after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
