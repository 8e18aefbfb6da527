"""TaskService against a real database: scoping, changes, not-found."""

import logging
from contextlib import AsyncExitStack

import pytest
from psycopg.pq import TransactionStatus

from src.db import Database
from src.errors import IdempotencyKeyReusedError, PreconditionFailedError, TaskNotFoundError
from src.models.task import MAX_TASK_ID
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.services.task_service import TaskService
from tests.conftest import SqlConnection

pytestmark = pytest.mark.anyio


async def test_create_sets_owner_from_service_not_input(
    database: Database, sql: SqlConnection
) -> None:
    task = await TaskService(database, "alice").create(TaskCreate(title="Buy milk"))

    stored = sql.execute("SELECT id, user_id, completed FROM tasks").fetchall()
    assert stored == [{"id": task.id, "user_id": "alice", "completed": False}]


async def test_list_page_returns_only_owner_tasks_newest_first(database: Database) -> None:
    alice, bob = TaskService(database, "alice"), TaskService(database, "bob")
    first = await alice.create(TaskCreate(title="first"))
    await bob.create(TaskCreate(title="bob's"))
    second = await alice.create(TaskCreate(title="second"))

    titles = [task["title"] for task in (await alice.list_page(TaskListQuery())).items]

    assert titles == ["second", "first"]
    assert second.created_at >= first.created_at


async def test_list_page_same_timestamp_orders_by_id_desc(
    database: Database, sql: SqlConnection
) -> None:
    service = TaskService(database, "alice")
    first = await service.create(TaskCreate(title="a"))
    second = await service.create(TaskCreate(title="b"))
    sql.execute(
        "UPDATE tasks SET created_at = %(at)s WHERE id = %(id)s",
        {"at": first.created_at, "id": second.id},
    )

    page = await service.list_page(TaskListQuery())

    assert [task["id"] for task in page.items] == [second.id, first.id]


async def test_get_other_owner_task_raises_not_found(database: Database) -> None:
    task = await TaskService(database, "alice").create(TaskCreate(title="secret"))

    with pytest.raises(TaskNotFoundError):
        await TaskService(database, "bob").get(task.id)


@pytest.mark.parametrize("task_id", [0, -1, MAX_TASK_ID + 1, 2**63, 10**20])
async def test_get_id_outside_column_range_raises_not_found(
    database: Database, task_id: int
) -> None:
    with pytest.raises(TaskNotFoundError):
        await TaskService(database, "alice").get(task_id)


async def test_replace_changes_text_and_advances_updated_at(database: Database) -> None:
    service = TaskService(database, "alice")
    task = await service.create(TaskCreate(title="old", description="old text"))
    created_at, updated_at = task.created_at, task.updated_at

    replaced = await service.replace(task.id, TaskUpdate(title="new"))

    assert (replaced.title, replaced.description) == ("new", None)
    assert replaced.created_at == created_at
    assert replaced.updated_at > updated_at


async def test_set_completed_toggles_and_advances_updated_at(database: Database) -> None:
    service = TaskService(database, "alice")
    task = await service.create(TaskCreate(title="t"))
    created = task.updated_at

    done_at = (await service.set_completed(task.id, True)).updated_at
    undone = await service.set_completed(task.id, False)

    assert undone.completed is False
    assert created < done_at < undone.updated_at


async def test_delete_removes_only_that_task(database: Database) -> None:
    service = TaskService(database, "alice")
    doomed = await service.create(TaskCreate(title="a"))
    kept = await service.create(TaskCreate(title="b"))

    await service.delete(doomed.id)

    assert [task["id"] for task in (await service.list_page(TaskListQuery())).items] == [kept.id]


async def test_delete_other_owner_task_raises_and_keeps_it(database: Database) -> None:
    task = await TaskService(database, "alice").create(TaskCreate(title="mine"))

    with pytest.raises(TaskNotFoundError):
        await TaskService(database, "bob").delete(task.id)
    assert (await TaskService(database, "alice").get(task.id)).title == "mine"


@pytest.mark.parametrize("task_id", [0, MAX_TASK_ID + 1])
async def test_delete_id_outside_column_range_raises_not_found(
    database: Database, task_id: int
) -> None:
    with pytest.raises(TaskNotFoundError):
        await TaskService(database, "alice").delete(task_id)


async def test_methods_return_every_connection_they_take_outside_a_transaction(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    service = TaskService(database, "alice")
    await database.pool.wait()
    database.pool.pop_stats()
    caplog.set_level(logging.WARNING, logger="psycopg.pool")

    task = await service.create(TaskCreate(title="t"))
    await service.list_page(TaskListQuery(limit=1))  # a full page: a second statement counts
    await service.get(task.id)
    await service.set_completed(task.id, True)
    await service.replace(task.id, TaskUpdate(title="u"), if_match="*")
    await service.create_once(TaskCreate(title="k"), "key")
    # Errors raised inside a transaction, and outside one, return their connection too.
    with pytest.raises(TaskNotFoundError):
        await service.get(task.id + 100)
    with pytest.raises(PreconditionFailedError):
        await service.set_completed(task.id, False, if_match='"stale"')
    with pytest.raises(IdempotencyKeyReusedError):
        await service.create_once(TaskCreate(title="other"), "key")
    await service.delete(task.id, if_match="*")

    # Every connection can be taken again (the pool returns them in the background): none
    # leaked, and each comes back idle, not mid-transaction.
    async with AsyncExitStack() as stack:
        held = [
            await stack.enter_async_context(database.pool.connection(timeout=5))
            for _ in range(database.pool.max_size)
        ]
        # The server's own report of each session, as of its last statement.
        statuses = [connection.info.transaction_status for connection in held]

    assert statuses == [TransactionStatus.IDLE] * database.pool.max_size
    # The pool had no transaction to roll back (it would warn) and no connection to discard.
    assert [record.getMessage() for record in caplog.records] == []
    stats = database.pool.get_stats()
    assert (stats["requests_num"], stats.get("returns_bad", 0)) == (10 + len(held), 0)


async def test_writes_are_committed_when_the_method_returns(
    database: Database, sql: SqlConnection
) -> None:
    # Seen from another connection at once: no write sits in a transaction nobody commits,
    # whether the method ran one statement (autocommit) or several (its own transaction).
    service = TaskService(database, "alice")

    task = await service.create(TaskCreate(title="kept"))
    after_create = _stored(sql)
    await service.set_completed(task.id, True)
    after_complete = _stored(sql)
    await service.replace(task.id, TaskUpdate(title="renamed"), if_match="*")
    after_replace = _stored(sql)
    keyed = await service.create_once(TaskCreate(title="keyed"), "key")
    after_keyed = _stored(sql)
    await service.delete(task.id)
    after_delete = _stored(sql)

    assert after_create == [(task.id, "kept", False)]
    assert after_complete == [(task.id, "kept", True)]
    assert after_replace == [(task.id, "renamed", True)]
    assert after_keyed == [(task.id, "renamed", True), (keyed.task.id, "keyed", False)]
    assert after_delete == [(keyed.task.id, "keyed", False)]
    assert sql.execute("SELECT key, task_id FROM idempotency_keys").fetchall() == [
        {"key": "key", "task_id": keyed.task.id}
    ]


def _stored(sql: SqlConnection) -> list[tuple[int, str, bool]]:
    rows = sql.execute("SELECT id, title, completed FROM tasks ORDER BY id").fetchall()
    return [(row["id"], row["title"], row["completed"]) for row in rows]
