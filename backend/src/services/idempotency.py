"""Idempotency keys: a retried create answers with the first response instead of a duplicate."""

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from src.models.idempotency_key import IdempotencyKey
from src.schemas.requests import TaskCreate
from src.schemas.responses import TaskResponse

KEY_TTL = timedelta(hours=24)


class IdempotencyKeyReusedError(Exception):
    """The key already created a task from a different request body."""


class IdempotencyKeyConflictError(Exception):
    """A request with the same key collided with this one and its outcome cannot be read yet."""


def fingerprint(data: TaskCreate) -> str:
    # The validated body, so key order and the title's surrounding spaces do not matter.
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


class IdempotencyKeys:
    """One owner's keys. The caller owns the transaction; these methods only read and write."""

    def __init__(self, session: Session, owner_id: str) -> None:
        self._session = session
        self._owner_id = owner_id

    def find(self, key: str, now: datetime) -> IdempotencyKey | None:
        """The key's live record; an expired one is as good as absent."""
        statement = select(IdempotencyKey).where(
            IdempotencyKey.user_id == self._owner_id,
            IdempotencyKey.key == key,
            col(IdempotencyKey.created_at) > now - KEY_TTL,
        )
        return self._session.exec(statement).first()

    def purge_expired(self, now: datetime) -> None:
        # Opportunistic and bounded by one owner's keys; it also frees an expired key for reuse.
        statement = delete(IdempotencyKey).where(
            col(IdempotencyKey.user_id) == self._owner_id,
            col(IdempotencyKey.created_at) <= now - KEY_TTL,
        )
        self._session.exec(statement)

    def record(self, key: str, request_hash: str, task: TaskResponse, now: datetime) -> None:
        """Store the key and response; a concurrent twin makes the flush raise IntegrityError."""
        self._session.add(
            IdempotencyKey(
                user_id=self._owner_id,
                key=key,
                request_hash=request_hash,
                task_id=task.id,
                response_body=task.model_dump_json(),
                created_at=now,
            )
        )
        self._session.flush()


def replay(record: IdempotencyKey, request_hash: str) -> TaskResponse:
    """The task as first created; refused for a different body."""
    if record.request_hash != request_hash:
        raise IdempotencyKeyReusedError(record.key)
    return TaskResponse.model_validate_json(record.response_body)
