"""Layer three of isolation: every query is scoped to one owner."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from src.models.task import MAX_TASK_ID, Task, utc_now
from src.schemas.requests import TaskCreate, TaskUpdate


class TaskNotFoundError(Exception):
    """The task does not exist or belongs to someone else: deliberately indistinguishable."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class TaskService:
    """The caller's tasks, and nobody else's.

    Each method runs in one transaction that it ends itself, so a pooled connection is only
    ever held by the thread doing the work, never by a request waiting for something else.
    """

    def __init__(self, session: Session, owner_id: str) -> None:
        self._session = session
        self._owner_id = owner_id

    def list_all(self) -> Sequence[Task]:
        newest_first = (col(Task.created_at).desc(), col(Task.id).desc())
        with self._session.begin():
            return self._session.exec(self._owned().order_by(*newest_first)).all()

    def get(self, task_id: int) -> Task:
        with self._session.begin():
            return self._get(task_id)

    def create(self, data: TaskCreate) -> Task:
        now = utc_now()
        task = Task(**data.model_dump(), user_id=self._owner_id, created_at=now, updated_at=now)
        with self._session.begin():
            self._session.add(task)
        return task

    def replace(self, task_id: int, data: TaskUpdate) -> Task:
        with self._session.begin():
            task = self._get(task_id, for_update=True)
            task.title, task.description = data.title, data.description
            _touch(task)
        return task

    def set_completed(self, task_id: int, completed: bool) -> Task:
        with self._session.begin():
            task = self._get(task_id, for_update=True)
            task.completed = completed
            _touch(task)
        return task

    def delete(self, task_id: int) -> None:
        if not _storable_id(task_id):
            raise TaskNotFoundError(task_id)
        statement = delete(Task).where(col(Task.id) == task_id, col(Task.user_id) == self._owner_id)
        with self._session.begin():
            deleted = self._session.exec(statement).rowcount
        if deleted == 0:
            raise TaskNotFoundError(task_id)

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


def _storable_id(task_id: int) -> bool:
    # An id the column cannot hold cannot exist; asking PostgreSQL would be an overflow error.
    return 1 <= task_id <= MAX_TASK_ID


def _touch(task: Task) -> None:
    # Strictly later than before, even when two writes land within one clock tick.
    task.updated_at = max(utc_now(), _after(task.updated_at))


def _after(moment: datetime) -> datetime:
    return moment + timedelta(microseconds=1)
