"""TaskService against a real database: scoping, changes, not-found."""

import pytest
from sqlmodel import Session, select

from src.models.task import MAX_TASK_ID, Task
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.services.task_service import TaskNotFoundError, TaskService


def test_create_sets_owner_from_service_not_input(session: Session) -> None:
    task = TaskService(session, "alice").create(TaskCreate(title="Buy milk"))

    stored = session.exec(select(Task)).one()
    assert (stored.id, stored.user_id, stored.completed) == (task.id, "alice", False)


def test_list_page_returns_only_owner_tasks_newest_first(session: Session) -> None:
    alice, bob = TaskService(session, "alice"), TaskService(session, "bob")
    first = alice.create(TaskCreate(title="first"))
    bob.create(TaskCreate(title="bob's"))
    second = alice.create(TaskCreate(title="second"))

    titles = [task.title for task in alice.list_page(TaskListQuery()).items]

    assert titles == ["second", "first"]
    assert second.created_at >= first.created_at


def test_list_page_same_timestamp_orders_by_id_desc(session: Session) -> None:
    service = TaskService(session, "alice")
    first = service.create(TaskCreate(title="a"))
    second = service.create(TaskCreate(title="b"))
    with session.begin():
        session.get_one(Task, second.id).created_at = first.created_at

    assert [task.id for task in service.list_page(TaskListQuery()).items] == [second.id, first.id]


def test_get_other_owner_task_raises_not_found(session: Session) -> None:
    task = TaskService(session, "alice").create(TaskCreate(title="secret"))

    with pytest.raises(TaskNotFoundError):
        TaskService(session, "bob").get(task.id)  # type: ignore[arg-type]  # id set by insert


@pytest.mark.parametrize("task_id", [0, -1, MAX_TASK_ID + 1, 2**63, 10**20])
def test_get_id_outside_column_range_raises_not_found(session: Session, task_id: int) -> None:
    with pytest.raises(TaskNotFoundError):
        TaskService(session, "alice").get(task_id)


def test_replace_changes_text_and_advances_updated_at(session: Session) -> None:
    service = TaskService(session, "alice")
    task = service.create(TaskCreate(title="old", description="old text"))
    created_at, updated_at = task.created_at, task.updated_at

    replaced = service.replace(task.id, TaskUpdate(title="new"))  # type: ignore[arg-type]

    assert (replaced.title, replaced.description) == ("new", None)
    assert replaced.created_at == created_at
    assert replaced.updated_at > updated_at


def test_set_completed_toggles_and_advances_updated_at(session: Session) -> None:
    service = TaskService(session, "alice")
    task = service.create(TaskCreate(title="t"))
    created = task.updated_at

    done_at = service.set_completed(task.id, True).updated_at  # type: ignore[arg-type]
    undone = service.set_completed(task.id, False)  # type: ignore[arg-type]

    assert undone.completed is False
    assert created < done_at < undone.updated_at


def test_delete_removes_only_that_task(session: Session) -> None:
    service = TaskService(session, "alice")
    doomed, kept = service.create(TaskCreate(title="a")), service.create(TaskCreate(title="b"))

    service.delete(doomed.id)  # type: ignore[arg-type]

    assert [task.id for task in service.list_page(TaskListQuery()).items] == [kept.id]


def test_delete_other_owner_task_raises_and_keeps_it(session: Session) -> None:
    task = TaskService(session, "alice").create(TaskCreate(title="mine"))

    with pytest.raises(TaskNotFoundError):
        TaskService(session, "bob").delete(task.id)  # type: ignore[arg-type]
    assert TaskService(session, "alice").get(task.id).title == "mine"  # type: ignore[arg-type]


@pytest.mark.parametrize("task_id", [0, MAX_TASK_ID + 1])
def test_delete_id_outside_column_range_raises_not_found(session: Session, task_id: int) -> None:
    with pytest.raises(TaskNotFoundError):
        TaskService(session, "alice").delete(task_id)


def test_methods_leave_no_transaction_open(session: Session) -> None:
    service = TaskService(session, "alice")
    task = service.create(TaskCreate(title="t"))
    service.list_page(TaskListQuery())
    service.get(task.id)  # type: ignore[arg-type]

    assert not session.in_transaction()
