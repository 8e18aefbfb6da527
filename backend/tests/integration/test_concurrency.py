"""Races on a real database: concurrent keyed creates, conditional writes, vanishing rows."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from psycopg.errors import LockNotAvailable

from src.config import Settings
from src.db import Database
from src.errors import PreconditionFailedError, TaskNotFoundError
from src.schemas.requests import TaskCreate, TaskUpdate
from src.schemas.responses import TaskResponse
from src.services import task_service
from src.services.etags import etag_of
from src.services.task_repository import KeyRecord, TaskRepository
from src.services.task_service import CreatedTask, TaskService
from tests.conftest import AuthHeaders, SqlConnection, opened_database

T = TypeVar("T")
RACERS = 6


@pytest.fixture
async def racing_database(settings: Settings) -> AsyncIterator[Database]:
    """The app's pool with a connection per racer, every one open before the race starts."""
    async with opened_database(settings, db_pool_size=RACERS) as database:
        yield database


async def _race(
    database: Database, work: Callable[[TaskService], Awaitable[T]]
) -> list[T | Exception]:
    """Run `work` RACERS times at once, each on its own connection, released together."""
    start = asyncio.Barrier(RACERS)

    async def run() -> T | Exception:
        service = TaskService(database, "alice")
        await start.wait()
        try:
            return await work(service)
        except (PreconditionFailedError, TaskNotFoundError) as error:
            return error

    return list(await asyncio.gather(*(run() for _ in range(RACERS))))


def _tasks(sql: SqlConnection) -> list[TaskResponse]:
    """Every stored task, read on a connection of its own rather than through the service."""
    rows = sql.execute("SELECT * FROM tasks ORDER BY id").fetchall()
    return [TaskResponse.model_validate(row) for row in rows]


@pytest.mark.anyio
async def test_concurrent_creates_with_one_key_create_one_task(
    racing_database: Database, sql: SqlConnection
) -> None:
    results = await _race(
        racing_database, lambda tasks: tasks.create_once(TaskCreate(title="once"), "same-key")
    )

    created = [r for r in results if isinstance(r, CreatedTask)]
    assert len(created) == RACERS
    assert len({c.task.id for c in created}) == 1
    assert sorted(c.replayed for c in created) == [False] + [True] * (RACERS - 1)
    assert [t.id for t in _tasks(sql)] == [created[0].task.id]


@pytest.mark.anyio
async def test_concurrent_writes_with_one_etag_let_exactly_one_through(
    racing_database: Database, sql: SqlConnection
) -> None:
    task = await TaskService(racing_database, "alice").create(TaskCreate(title="t"))
    etag = etag_of(task)

    results = await _race(
        racing_database, lambda tasks: tasks.replace(task.id, TaskUpdate(title="mine"), etag)
    )

    winners = [r for r in results if isinstance(r, TaskResponse)]
    assert len(winners) == 1
    assert all(isinstance(r, PreconditionFailedError) for r in results if r not in winners)
    assert [etag_of(t) for t in _tasks(sql)] == [etag_of(winners[0])]


CONDITIONAL_WRITES: dict[str, Callable[[TaskService, int, str], Awaitable[object]]] = {
    "replace": lambda tasks, task_id, etag: tasks.replace(task_id, TaskUpdate(title="mine"), etag),
    "set_completed": lambda tasks, task_id, etag: tasks.set_completed(task_id, True, etag),
    "delete": lambda tasks, task_id, etag: tasks.delete(task_id, etag),
}
AFTER_CONDITIONAL_WRITE = {
    "replace": [("mine", False)],
    "set_completed": [("original", True)],
    "delete": [],
}


@pytest.mark.anyio
@pytest.mark.parametrize("operation", CONDITIONAL_WRITES, ids=CONDITIONAL_WRITES)
async def test_write_from_elsewhere_cannot_land_between_if_match_check_and_write(
    database: Database, sql: SqlConnection, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    service = TaskService(database, "alice")
    task = await service.create(TaskCreate(title="original"))
    attempts: list[str] = []

    def check_while_someone_else_writes(checked: TaskResponse) -> str:
        # Between the If-Match check and the write: a write on another connection must wait
        # for this one to commit (here it gives up waiting), or it would be lost or ignored.
        attempts.append(_try_write(sql, checked.id, "theirs"))
        return etag_of(checked)

    monkeypatch.setattr(task_service, "etag_of", check_while_someone_else_writes)
    await CONDITIONAL_WRITES[operation](service, task.id, etag_of(task))

    assert attempts == ["waited for the row lock"]
    assert [(t.title, t.completed) for t in _tasks(sql)] == AFTER_CONDITIONAL_WRITE[operation]


def _try_write(sql: SqlConnection, task_id: int, title: str) -> str:
    # The event loop is blocked here, so the service's transaction cannot end meanwhile: if the
    # row is locked, this times out however short the limit.
    try:
        with sql.transaction():
            sql.execute("SET LOCAL lock_timeout = '10ms'")
            sql.execute("UPDATE tasks SET title = %s WHERE id = %s", (title, task_id))
    except LockNotAvailable:
        return "waited for the row lock"
    return "written"


UNCONDITIONAL_WRITES: dict[str, Callable[[TaskService, int], Awaitable[object]]] = {
    "replace": lambda tasks, task_id: tasks.replace(task_id, TaskUpdate(title="mine")),
    "set_completed": lambda tasks, task_id: tasks.set_completed(task_id, True),
}


@pytest.mark.anyio
@pytest.mark.parametrize("operation", UNCONDITIONAL_WRITES, ids=UNCONDITIONAL_WRITES)
async def test_task_deleted_between_one_statement_write_and_locked_write_is_not_found(
    database: Database, sql: SqlConnection, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    service = TaskService(database, "alice")
    task = await service.create(TaskCreate(title="t"))
    real_locked = task_service._locked

    async def delete_elsewhere_then_lock(tasks: TaskRepository, task_id: int) -> TaskResponse:
        sql.execute("DELETE FROM tasks WHERE id = %s", (task_id,))
        return await real_locked(tasks, task_id)

    # A clock behind the stored version makes the one-statement write step aside for the
    # locked read-then-write, which is where a row can vanish between the two.
    _set_clock(monkeypatch, task.updated_at - timedelta(seconds=1))
    monkeypatch.setattr(task_service, "_locked", delete_elsewhere_then_lock)

    with pytest.raises(TaskNotFoundError):
        await UNCONDITIONAL_WRITES[operation](service, task.id)
    assert _tasks(sql) == []


@pytest.mark.anyio
@pytest.mark.parametrize("behind", [timedelta(0), timedelta(hours=1)], ids=["at", "behind"])
async def test_write_with_clock_at_or_behind_the_version_still_advances_it(
    database: Database, monkeypatch: pytest.MonkeyPatch, behind: timedelta
) -> None:
    service = TaskService(database, "alice")
    task = await service.create(TaskCreate(title="t"))
    _set_clock(monkeypatch, task.updated_at - behind)

    done = await service.set_completed(task.id, True)
    renamed = await service.replace(task.id, TaskUpdate(title="u"))

    assert (done.completed, renamed.title, renamed.completed) == (True, "u", True)
    assert task.updated_at < done.updated_at < renamed.updated_at
    assert await service.get(task.id) == renamed


def _set_clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(task_service, "utc_now", lambda: moment)


@pytest.mark.anyio
async def test_lost_key_lookup_race_replays_the_winner(
    database: Database, sql: SqlConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = TaskService(database, "alice")
    winner = await service.create_once(TaskCreate(title="t"), "k")
    real_find = TaskRepository.find_key
    calls: list[str] = []

    async def miss_once(self: TaskRepository, key: str, since: datetime) -> KeyRecord | None:
        # The first lookup runs "before" the winner committed; the retry sees it.
        calls.append(key)
        return None if len(calls) == 1 else await real_find(self, key, since)

    monkeypatch.setattr(TaskRepository, "find_key", miss_once)
    loser = await service.create_once(TaskCreate(title="t"), "k")

    assert (loser.task, loser.replayed) == (winner.task, True)
    assert calls == ["k", "k"]
    assert [t.id for t in _tasks(sql)] == [winner.task.id]


def test_key_collision_whose_record_cannot_be_read_returns_409(
    client: TestClient,
    auth_headers: AuthHeaders,
    sql: SqlConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = auth_headers("alice") | {"Idempotency-Key": "k"}
    first = client.post("/api/alice/tasks", json={"title": "t"}, headers=headers)

    async def never_found(self: TaskRepository, key: str, since: datetime) -> None:
        return None

    monkeypatch.setattr(TaskRepository, "find_key", never_found)
    response = client.post("/api/alice/tasks", json={"title": "t"}, headers=headers)

    assert response.status_code == 409, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {
        "detail": "A request with this Idempotency-Key is still being processed; retry shortly"
    }
    assert [t.id for t in _tasks(sql)] == [first.json()["id"]]  # the collision created nothing
