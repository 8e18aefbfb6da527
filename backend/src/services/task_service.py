"""Layer three of isolation: every query is scoped to one owner."""

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from src.db import autocommit, transactional
from src.models.task import MAX_TASK_ID, Task, utc_now
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
    must wait for a row) runs in one transaction that the method ends itself. Either way a
    pooled connection is only ever held by the thread doing the work, never by a request
    waiting for something else.
    """

    def __init__(self, engine: Engine, owner_id: str) -> None:
        self._engine = engine
        self._owner_id = owner_id

    def list_page(self, query: TaskListQuery) -> TaskPage:
        values = task_listing.parameters(self._owner_id, query)
        with self._autocommit() as connection:
            rows = connection.execute(task_listing.page_statement(query), values)
            items = [task_table.response(row) for row in rows]
            total = task_listing.total_if_known(query, len(items))
            if total is None:
                counted = connection.execute(task_listing.count_statement(query), values)
                total = counted.scalar_one()
        return TaskPage(items=items, total=total)

    def get(self, task_id: int) -> TaskResponse:
        row = None
        if _storable_id(task_id):
            with self._autocommit() as connection:
                row = connection.execute(task_table.GET, self._this(task_id)).first()
        if row is None:
            raise TaskNotFoundError(task_id)
        return task_table.response(row)

    def create(self, data: TaskCreate) -> TaskResponse:
        values = {"owner": self._owner_id, "now": utc_now(), **_new(data)}
        with self._autocommit() as connection:
            return task_table.response(connection.execute(task_table.INSERT, values).one())

    def create_once(self, data: TaskCreate, idempotency_key: str | None) -> CreatedTask:
        """Create a task, or replay the one an earlier request with the same key created."""
        if idempotency_key is None:
            return CreatedTask(self.create(data), replayed=False)
        request_hash = fingerprint(data)
        with self._session() as session:
            keys = IdempotencyKeys(session, self._owner_id)
            try:
                with session.begin():
                    now = utc_now()
                    if (record := keys.find(idempotency_key, now)) is not None:
                        return CreatedTask(replay(record, request_hash), replayed=True)
                    keys.purge_expired(now)
                    task = self._insert(session, data)
                    keys.record(idempotency_key, request_hash, task, now)
                return CreatedTask(task, replayed=False)
            except IntegrityError:
                # A concurrent twin committed the key first (our insert waited for it, then
                # failed on the primary key): our transaction is rolled back, so answer with
                # its task.
                with session.begin():
                    record = keys.find(idempotency_key, utc_now())
                    if record is None:
                        raise IdempotencyKeyConflictError(idempotency_key) from None
                    return CreatedTask(replay(record, request_hash), replayed=True)

    def replace(self, task_id: int, data: TaskUpdate, if_match: str | None = None) -> TaskResponse:
        return self._change(task_id, if_match, title=data.title, description=data.description)

    def set_completed(
        self, task_id: int, completed: bool, if_match: str | None = None
    ) -> TaskResponse:
        return self._change(task_id, if_match, completed=completed)

    def delete(self, task_id: int, if_match: str | None = None) -> None:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        if if_match is None:
            with self._autocommit() as connection:
                deleted = connection.execute(task_table.DELETE, self._this(task_id)).rowcount
        else:
            with self._session() as session, session.begin():
                self._guard(session, self._get(session, task_id), if_match)
                deleted = (
                    session.connection().execute(task_table.DELETE, self._this(task_id)).rowcount
                )
        if deleted == 0:
            raise TaskNotFoundError(task_id)

    def _change(self, task_id: int, if_match: str | None, **values: object) -> TaskResponse:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        if if_match is None:
            # The common write: one UPDATE ... RETURNING. No row means the task is not ours or
            # not there, or its version is not older than our clock: the locked path decides.
            statement = task_table.update_if_older(tuple(values))
            changes = {f"new_{name}": value for name, value in values.items()}
            with self._autocommit() as connection:
                row = connection.execute(
                    statement, {**self._this(task_id), "now": utc_now(), **changes}
                ).first()
            if row is not None:
                return task_table.response(row)
        try:
            with self._session() as session, session.begin():
                task = self._get(session, task_id, for_update=True)
                if if_match is not None:
                    self._guard(session, task, if_match)
                for name, value in values.items():
                    setattr(task, name, value)
                _touch(task)
                session.flush()
                return TaskResponse.model_validate(task)
        except StaleDataError:
            # Deleted by a concurrent request between our read and our write.
            raise TaskNotFoundError(task_id) from None

    def _guard(self, session: Session, task: Task, if_match: str) -> None:
        """Refuse unless `If-Match` names the task's current version, then pin that version.

        The no-op UPDATE re-checks the version in the database and takes the row's write lock
        (the database's, on SQLite) until commit, so no other write can land between check
        and change.
        """
        if not if_match_allows(if_match, etag_of(task)):
            raise PreconditionFailedError(task.id)
        pin = (
            update(Task)
            .where(
                col(Task.id) == task.id,
                col(Task.user_id) == self._owner_id,
                col(Task.updated_at) == task.updated_at,
            )
            .values(updated_at=col(Task.updated_at))
            .execution_options(synchronize_session=False)
        )
        if session.exec(pin).rowcount == 0:
            raise PreconditionFailedError(task.id)

    def _get(self, session: Session, task_id: int, *, for_update: bool = False) -> Task:
        statement = select(Task).where(Task.user_id == self._owner_id, Task.id == task_id)
        if for_update:
            # Concurrent writers queue on the row: each reads the state the previous one
            # committed, so no answer reports a state that a parallel write overwrote.
            statement = statement.with_for_update()
        task = session.exec(statement).first()
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def _insert(self, session: Session, data: TaskCreate) -> TaskResponse:
        values = {"owner": self._owner_id, "now": utc_now(), **_new(data)}
        return task_table.response(session.execute(task_table.INSERT, values).one())

    def _this(self, task_id: int) -> dict[str, object]:
        return {"task_id": task_id, "owner": self._owner_id}

    def _autocommit(self) -> Connection:
        # Each statement commits itself: no BEGIN and COMMIT round trips around a lone statement.
        return autocommit(self._engine).connect()

    def _session(self) -> Session:
        return Session(transactional(self._engine), expire_on_commit=False)


def _new(data: TaskCreate) -> dict[str, object]:
    return {"new_title": data.title, "new_description": data.description}


def _storable_id(task_id: int) -> bool:
    # An id the column cannot hold cannot exist; asking PostgreSQL would be an overflow error.
    return 1 <= task_id <= MAX_TASK_ID


def _touch(task: Task) -> None:
    # Strictly later than before, even when two writes land within one clock tick.
    task.updated_at = max(utc_now(), _after(task.updated_at))


def _after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
