"""Layer three of isolation: every query is scoped to one owner."""

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Delete, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from src.models.task import MAX_TASK_ID, Task, utc_now
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.services import task_listing
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
    task: Task
    replayed: bool  # True when an earlier request with the same idempotency key created it


class TaskService:
    """The caller's tasks, and nobody else's.

    Each method runs in one transaction that it ends itself, so a pooled connection is only
    ever held by the thread doing the work, never by a request waiting for something else.
    """

    def __init__(self, session: Session, owner_id: str) -> None:
        self._session = session
        self._owner_id = owner_id

    def list_page(self, query: TaskListQuery) -> TaskPage:
        matching = task_listing.filtered(self._owned(), query)
        page = task_listing.ordered(matching, query).limit(query.limit).offset(query.offset)
        with self._session.begin():
            items = list(self._session.exec(page).all())
            total = task_listing.total_if_known(query, len(items))
            if total is None:
                counted = select(func.count()).select_from(matching.subquery())
                total = self._session.exec(counted).one()
        return TaskPage(items=items, total=total)

    def get(self, task_id: int) -> Task:
        with self._session.begin():
            return self._get(task_id)

    def create(self, data: TaskCreate) -> Task:
        with self._session.begin():
            return self._insert(data)

    def create_once(self, data: TaskCreate, idempotency_key: str | None) -> CreatedTask:
        """Create a task, or replay the one an earlier request with the same key created."""
        if idempotency_key is None:
            return CreatedTask(self.create(data), replayed=False)
        keys, request_hash = IdempotencyKeys(self._session, self._owner_id), fingerprint(data)
        try:
            with self._session.begin():
                now = utc_now()
                if (record := keys.find(idempotency_key, now)) is not None:
                    return CreatedTask(replay(record, request_hash), replayed=True)
                keys.purge_expired(now)
                task = self._insert(data)
                keys.record(idempotency_key, request_hash, task, now)
            return CreatedTask(task, replayed=False)
        except IntegrityError:
            # A concurrent twin committed the key first (our insert waited for it, then failed
            # on the primary key): our transaction is rolled back, so answer with its task.
            with self._session.begin():
                record = keys.find(idempotency_key, utc_now())
                if record is None:
                    raise IdempotencyKeyConflictError(idempotency_key) from None
                return CreatedTask(replay(record, request_hash), replayed=True)

    def replace(self, task_id: int, data: TaskUpdate, if_match: str | None = None) -> Task:
        return self._change(task_id, if_match, title=data.title, description=data.description)

    def set_completed(self, task_id: int, completed: bool, if_match: str | None = None) -> Task:
        return self._change(task_id, if_match, completed=completed)

    def delete(self, task_id: int, if_match: str | None = None) -> None:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        with self._session.begin():
            if if_match is not None:
                self._guard(self._get(task_id), if_match)
            deleted = self._session.exec(self._delete_statement(task_id)).rowcount
        if deleted == 0:
            raise TaskNotFoundError(task_id)

    def _insert(self, data: TaskCreate) -> Task:
        now = utc_now()
        task = Task(**data.model_dump(), user_id=self._owner_id, created_at=now, updated_at=now)
        self._session.add(task)
        self._session.flush()
        return task

    def _change(self, task_id: int, if_match: str | None, **values: object) -> Task:
        try:
            with self._session.begin():
                task = self._get(task_id, for_update=True)
                if if_match is not None:
                    self._guard(task, if_match)
                for name, value in values.items():
                    setattr(task, name, value)
                _touch(task)
        except StaleDataError:
            # Deleted by a concurrent request between our read and our write.
            raise TaskNotFoundError(task_id) from None
        return task

    def _guard(self, task: Task, if_match: str) -> None:
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
        if self._session.exec(pin).rowcount == 0:
            raise PreconditionFailedError(task.id)

    def _get(self, task_id: int, *, for_update: bool = False) -> Task:
        task = None
        if _storable_id(task_id):
            statement = self._owned().where(Task.id == task_id)
            if for_update:
                # Concurrent writers queue on the row: each reads the state the previous one
                # committed, so no answer reports a state that a parallel write overwrote.
                statement = statement.with_for_update()
            task = self._session.exec(statement).first()
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def _owned(self) -> SelectOfScalar[Task]:
        return select(Task).where(Task.user_id == self._owner_id)

    def _delete_statement(self, task_id: int) -> Delete:
        return delete(Task).where(col(Task.id) == task_id, col(Task.user_id) == self._owner_id)


def _storable_id(task_id: int) -> bool:
    # An id the column cannot hold cannot exist; asking PostgreSQL would be an overflow error.
    return 1 <= task_id <= MAX_TASK_ID


def _touch(task: Task) -> None:
    # Strictly later than before, even when two writes land within one clock tick.
    task.updated_at = max(utc_now(), _after(task.updated_at))


def _after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
