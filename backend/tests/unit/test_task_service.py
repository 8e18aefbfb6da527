"""TaskService against a real database: scoping, changes, not-found."""

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session, SQLModel, select

from src.models.task import MAX_TASK_ID, Task
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskUpdate
from src.services.task_service import TaskNotFoundError, TaskService


def test_create_sets_owner_from_service_not_input(settings: Settings, session: Session) -> None:
    task = TaskService(clean_engine, "alice").create(TaskCreate(title="Buy milk"))

    stored = session.exec(select(Task)).one()
    assert (stored.id, stored.user_id, stored.completed) == (task.id, "alice", False)


def test_list_page_returns_only_owner_tasks_newest_first(
    settings: Settings, session: Session
) -> None:
    alice, bob = TaskService(clean_engine, "alice"), TaskService(clean_engine, "bob")
    first = alice.create(TaskCreate(title="first"))
    bob.create(TaskCreate(title="bob's"))
    second = alice.create(TaskCreate(title="second"))

    titles = [task.title for task in alice.list_page(TaskListQuery()).items]

    assert titles == ["second", "first"]
    assert second.created_at >= first.created_at


def test_list_page_same_timestamp_orders_by_id_desc(settings: Settings, session: Session) -> None:
    service = TaskService(clean_engine, "alice")
    first = service.create(TaskCreate(title="a"))
    second = service.create(TaskCreate(title="b"))
    with session.begin():
        session.get_one(Task, second.id).created_at = first.created_at

    assert [task.id for task in service.list_page(TaskListQuery()).items] == [second.id, first.id]


def test_get_other_owner_task_raises_not_found(settings: Settings, session: Session) -> None:
    task = TaskService(clean_engine, "alice").create(TaskCreate(title="secret"))

    with pytest.raises(TaskNotFoundError):
        TaskService(clean_engine, "bob").get(task.id)


@pytest.mark.parametrize("task_id", [0, -1, MAX_TASK_ID + 1, 2**63, 10**20])
def test_get_id_outside_column_range_raises_not_found(
    settings: Settings, session: Session, task_id: int
) -> None:
    with pytest.raises(TaskNotFoundError):
        TaskService(clean_engine, "alice").get(task_id)


def test_replace_changes_text_and_advances_updated_at(
    settings: Settings, session: Session
) -> None:
    service = TaskService(clean_engine, "alice")
    task = service.create(TaskCreate(title="old", description="old text"))
    created_at, updated_at = task.created_at, task.updated_at

    replaced = service.replace(task.id, TaskUpdate(title="new"))

    assert (replaced.title, replaced.description) == ("new", None)
    assert replaced.created_at == created_at
    assert replaced.updated_at > updated_at


def test_set_completed_toggles_and_advances_updated_at(
    settings: Settings, session: Session
) -> None:
    service = TaskService(clean_engine, "alice")
    task = service.create(TaskCreate(title="t"))
    created = task.updated_at

    done_at = service.set_completed(task.id, True).updated_at
    undone = service.set_completed(task.id, False)

    assert undone.completed is False
    assert created < done_at < undone.updated_at


def test_delete_removes_only_that_task(settings: Settings, session: Session) -> None:
    service = TaskService(clean_engine, "alice")
    doomed, kept = service.create(TaskCreate(title="a")), service.create(TaskCreate(title="b"))

    service.delete(doomed.id)

    assert [task.id for task in service.list_page(TaskListQuery()).items] == [kept.id]


def test_delete_other_owner_task_raises_and_keeps_it(
    settings: Settings, session: Session
) -> None:
    task = TaskService(clean_engine, "alice").create(TaskCreate(title="mine"))

    with pytest.raises(TaskNotFoundError):
        TaskService(clean_engine, "bob").delete(task.id)
    assert TaskService(clean_engine, "alice").get(task.id).title == "mine"


@pytest.mark.parametrize("task_id", [0, MAX_TASK_ID + 1])
def test_delete_id_outside_column_range_raises_not_found(
    settings: Settings, session: Session, task_id: int
) -> None:
    with pytest.raises(TaskNotFoundError):
        TaskService(clean_engine, "alice").delete(task_id)


def test_methods_return_every_connection_they_take(settings: Settings) -> None:
    taken: list[str] = []

    def out(*_: object) -> None:
        taken.append("out")

    def back(*_: object) -> None:
        taken.append("in")

    event.listen(clean_engine, "checkout", out)
    event.listen(clean_engine, "checkin", back)
    service = TaskService(clean_engine, "alice")
    try:
        task = service.create(TaskCreate(title="t"))
        service.list_page(TaskListQuery())
        service.get(task.id)
        service.set_completed(task.id, True)
        service.replace(task.id, TaskUpdate(title="u"), if_match="*")
        service.create_once(TaskCreate(title="k"), "key")
        service.delete(task.id)
    finally:
        event.remove(clean_engine, "checkout", out)
        event.remove(clean_engine, "checkin", back)

    assert taken.count("out") == taken.count("in") >= 7


def test_service_on_an_engine_not_made_by_the_app_still_commits(tmp_path: Path) -> None:
    # Its connections do not rest in autocommit: the service must ask for it, or its lone
    # statements would sit in a transaction that nobody commits and be rolled back.
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    SQLModel.metadata.create_all(engine)
    try:
        task = TaskService(engine, "alice").create(TaskCreate(title="kept"))
        TaskService(engine, "alice").set_completed(task.id, True)

        with Session(engine) as session:
            stored = session.exec(select(Task)).one()
        assert (stored.id, stored.title, stored.completed) == (task.id, "kept", True)
    finally:
        engine.dispose()
