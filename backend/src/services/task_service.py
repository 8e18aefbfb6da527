"""The rules of a user's tasks: versions, conditional writes, idempotent creates, pages.

Every row is read and written through `TaskRepository`, which holds each statement and the one
owner filter they start from (layer three of isolation).
"""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any, NamedTuple

from psycopg.errors import UniqueViolation

from src.db import ClientGone, Database
from src.errors import (
    IdempotencyKeyConflictError,
    IdempotencyKeyReusedError,
    PreconditionFailedError,
    TaskNotFoundError,
)
from src.models.task import MAX_TASK_ID, utc_now
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.schemas.responses import TaskRecord, TaskResponse
from src.services.etags import etag_of, if_match_allows
from src.services.subscription import FeedEvent, feed_event
from src.services.task_repository import KeyRecord, TaskRepository

KEY_TTL = timedelta(hours=24)  # how long an Idempotency-Key replays its first answer
DEFAULT_EVENTS_RETENTION = timedelta(hours=168)
# One write in this many (per process) also purges a batch of its owner's expired events, in
# the write's own statement: the change feed stays bounded at no extra round trip.
PURGE_EVERY = 64
_WRITES = count()
REPLAY_LIMIT = 1000  # events a resuming stream may replay; a client further behind reloads


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[TaskRecord]
    total: int  # every task matching the filters, across all pages


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
        self,
        database: Database,
        owner_id: str,
        client_gone: ClientGone | None = None,
        events_retention: timedelta = DEFAULT_EVENTS_RETENTION,
    ) -> None:
        self._database = database
        self._owner_id = owner_id
        self._client_gone = client_gone
        self._events_retention = events_retention

    async def list_page(self, query: TaskListQuery) -> TaskPage:
        async with self._tasks() as tasks:
            items = await tasks.page(query)
            # A short page that is not past the end already proves the total.
            if len(items) < query.limit and (items or query.offset == 0):
                return TaskPage(items, query.offset + len(items))
            return TaskPage(items, await tasks.count(query))

    async def get(self, task_id: int) -> TaskResponse:
        task = None
        if _storable_id(task_id):
            async with self._tasks() as tasks:
                task = await tasks.get(task_id)
        if task is None:
            raise TaskNotFoundError
        return task

    async def create(self, data: TaskCreate) -> TaskResponse:
        return (await self.create_once(data, None)).task

    async def create_once(self, data: TaskCreate, idempotency_key: str | None) -> CreatedTask:
        """Create a task, or replay the one an earlier request with the same key created."""
        async with self._tasks() as tasks:
            if idempotency_key is None:
                now = utc_now()
                task = await tasks.insert(data.title, data.description, now, self._purge(now))
                return CreatedTask(task, replayed=False)
            request_hash = _fingerprint(data)
            try:
                async with tasks.transaction():
                    now = utc_now()
                    if (record := await tasks.find_key(idempotency_key, now - KEY_TTL)) is not None:
                        return CreatedTask(_replay(record, request_hash), replayed=True)
                    await tasks.purge_keys(now - KEY_TTL)
                    task = await tasks.insert(data.title, data.description, now)
                    await tasks.record_key(idempotency_key, request_hash, task, now)
                return CreatedTask(task, replayed=False)
            except UniqueViolation:
                # A concurrent twin committed the key first (our insert waited for it, then
                # failed on the primary key): our transaction is rolled back, so answer with
                # its task.
                record = await tasks.find_key(idempotency_key, utc_now() - KEY_TTL)
                if record is None:
                    raise IdempotencyKeyConflictError from None
                return CreatedTask(_replay(record, request_hash), replayed=True)

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
            raise TaskNotFoundError
        async with self._tasks() as tasks:
            if if_match is None:
                now = utc_now()
                deleted = await tasks.delete(task_id, now, self._purge(now))
            else:
                async with tasks.transaction():
                    _guard(await _locked(tasks, task_id), if_match)
                    deleted = await tasks.delete(task_id, utc_now())
        if not deleted:
            raise TaskNotFoundError

    async def _change(self, task_id: int, if_match: str | None, **changes: object) -> TaskResponse:
        if not _storable_id(task_id):
            raise TaskNotFoundError
        async with self._tasks() as tasks:
            if if_match is None:
                # The common write: one UPDATE ... RETURNING. No row means the task is not ours
                # or not there, or its version is not older than our clock: the locked path
                # decides.
                now = utc_now()
                task = await tasks.update(
                    task_id, changes, now, if_older=True, purge_before=self._purge(now)
                )
                if task is not None:
                    return task
            async with tasks.transaction():
                task = await _locked(tasks, task_id)
                if if_match is not None:
                    _guard(task, if_match)
                # Strictly later than before, even when two writes land within one clock tick.
                now = max(utc_now(), _after(task.updated_at))
                task = await tasks.update(task_id, changes, now, if_older=False)
        if task is None:  # pragma: no cover - the row is locked by this transaction
            raise TaskNotFoundError
        return task

    async def events_after(self, last_event_id: int) -> list[FeedEvent] | None:
        """The owner's events after `last_event_id`, oldest first; None when that event is
        not stored (purged, or never the owner's) or too many follow: reload instead."""
        since = utc_now() - self._events_retention
        async with self._tasks() as tasks:
            await tasks.purge_events(since)
            rows = await tasks.events_from(last_event_id, REPLAY_LIMIT + 2)
        if not rows or rows[0]["id"] != last_event_id or rows[0]["created_at"] < since:
            return None
        if len(rows) > REPLAY_LIMIT + 1:
            return None
        return [_as_feed_event(row) for row in rows[1:]]

    async def stored_event(self, event_id: int) -> FeedEvent | None:
        """One of the owner's events as stored, or None once purged."""
        async with self._tasks() as tasks:
            rows = await tasks.events_from(event_id, 1)
        return _as_feed_event(rows[0]) if rows and rows[0]["id"] == event_id else None

    def _purge(self, now: datetime) -> datetime | None:
        """The purge's cut-off when this write is one that purges, else None."""
        return now - self._events_retention if next(_WRITES) % PURGE_EVERY == 0 else None

    @asynccontextmanager
    async def _tasks(self) -> AsyncIterator[TaskRepository]:
        async with self._database.connection(self._client_gone) as connection:
            yield TaskRepository(connection, self._owner_id)


def _as_feed_event(row: dict[str, Any]) -> FeedEvent:
    return feed_event(row["id"], row["kind"], row["task_id"], row["task"])


async def _locked(tasks: TaskRepository, task_id: int) -> TaskResponse:
    """The task, its row locked until the transaction ends, so no write lands in between."""
    task = await tasks.get(task_id, lock=True)
    if task is None:
        raise TaskNotFoundError
    return task


def _guard(task: TaskResponse, if_match: str) -> None:
    """Refuse unless `If-Match` names the locked task's current version."""
    if not if_match_allows(if_match, etag_of(task)):
        raise PreconditionFailedError


def _fingerprint(data: TaskCreate) -> str:
    # The validated body, so key order and the title's surrounding spaces do not matter.
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


def _replay(record: KeyRecord, request_hash: str) -> TaskResponse:
    """The task as first created; refused for a different body."""
    if record.request_hash != request_hash:
        raise IdempotencyKeyReusedError
    return TaskResponse.model_validate_json(record.response_body)


def _storable_id(task_id: int) -> bool:
    # An id the column cannot hold cannot exist; asking PostgreSQL would be an overflow error.
    return 1 <= task_id <= MAX_TASK_ID


def _after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
