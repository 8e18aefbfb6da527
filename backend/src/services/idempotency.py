"""Idempotency keys: a retried create answers with the first response instead of a duplicate."""

import hashlib
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Table, bindparam, delete, insert, select

from src.db import Connection, compiled
from src.models.idempotency_key import IdempotencyKey
from src.schemas.requests import TaskCreate
from src.schemas.responses import TaskResponse

KEY_TTL = timedelta(hours=24)

_KEYS: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]  # set when the class is made
_OWNER = _KEYS.c.user_id == bindparam("owner")
_FIND = compiled(
    select(_KEYS).where(
        _OWNER, _KEYS.c.key == bindparam("key"), _KEYS.c.created_at > bindparam("since")
    )
)
# Opportunistic and bounded by one owner's keys; it also frees an expired key for reuse.
_PURGE = compiled(delete(_KEYS).where(_OWNER, _KEYS.c.created_at <= bindparam("since")))
_RECORD = compiled(
    insert(_KEYS).values(
        user_id=bindparam("owner"),
        key=bindparam("key"),
        request_hash=bindparam("request_hash"),
        task_id=bindparam("task_id"),
        response_body=bindparam("response_body"),
        created_at=bindparam("now"),
    )
)


class IdempotencyKeyReusedError(Exception):
    """The key already created a task from a different request body."""


class IdempotencyKeyConflictError(Exception):
    """A request with the same key collided with this one and its outcome cannot be read yet."""


def fingerprint(data: TaskCreate) -> str:
    # The validated body, so key order and the title's surrounding spaces do not matter.
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


class IdempotencyKeys:
    """One owner's keys. The caller owns the transaction; these methods only read and write."""

    def __init__(self, connection: Connection, owner_id: str) -> None:
        self._connection = connection
        self._owner_id = owner_id

    async def find(self, key: str, now: datetime) -> "KeyRecord | None":
        """The key's live record; an expired one is as good as absent."""
        values = {"owner": self._owner_id, "key": key, "since": now - KEY_TTL}
        cursor = await self._connection.execute(_FIND.sql, _FIND.bind(values))
        row = await cursor.fetchone()
        if row is None:
            return None
        return KeyRecord(key, row["request_hash"], row["response_body"])

    async def purge_expired(self, now: datetime) -> None:
        await self._connection.execute(
            _PURGE.sql, _PURGE.bind({"owner": self._owner_id, "since": now - KEY_TTL})
        )

    async def record(self, key: str, request_hash: str, task: TaskResponse, now: datetime) -> None:
        """Store the key and response; a concurrent twin makes this raise UniqueViolation."""
        values = {
            "owner": self._owner_id,
            "key": key,
            "request_hash": request_hash,
            "task_id": task.id,
            "response_body": task.model_dump_json(),
            "now": now,
        }
        await self._connection.execute(_RECORD.sql, _RECORD.bind(values))


class KeyRecord(NamedTuple):
    key: str
    request_hash: str
    response_body: str  # the original 201 body, replayed verbatim even after the task changed


def replay(record: KeyRecord, request_hash: str) -> TaskResponse:
    """The task as first created; refused for a different body."""
    if record.request_hash != request_hash:
        raise IdempotencyKeyReusedError(record.key)
    return TaskResponse.model_validate_json(record.response_body)
