"""The table model and the request schemas that guard it."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from src.config import Settings
from src.models.task import Task
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import TaskResponse
from src.services.task_service import TaskService
from tests.conftest import SqlConnection, opened_database


def test_task_defaults_not_completed_with_equal_utc_timestamps() -> None:
    task = Task(user_id="alice", title="Buy milk")

    assert task.completed is False
    assert task.description is None
    assert task.created_at.tzinfo is not None
    assert task.created_at.utcoffset() == timedelta(0)
    assert abs(task.updated_at - task.created_at) < timedelta(seconds=1)


@pytest.mark.anyio
async def test_task_timestamps_read_back_in_utc_whatever_the_server_time_zone(
    settings: Settings, sql: SqlConnection
) -> None:
    # Stored at +05:00, on a server whose sessions default to Newfoundland time (-03:30): the
    # same instant comes back, in UTC.
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    [row] = sql.execute(
        "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
        " VALUES ('alice', 't', false, %(moment)s, %(moment)s) RETURNING id",
        {"moment": moment},
    ).fetchall()
    database_name = sql.info.dbname
    sql.execute(f"ALTER DATABASE \"{database_name}\" SET TimeZone = 'America/St_Johns'")
    try:
        async with opened_database(settings, db_pool_size=1) as database:
            loaded = await TaskService(database, "alice").get(row["id"])
    finally:
        sql.execute(f'ALTER DATABASE "{database_name}" RESET TimeZone')

    assert (loaded.created_at, loaded.updated_at) == (moment, moment)
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.model_dump(mode="json")["created_at"] == "2026-03-01T07:00:00Z"


def test_task_create_title_is_trimmed() -> None:
    assert TaskCreate(title="  Buy milk \n").title == "Buy milk"


@pytest.mark.parametrize(
    "title",
    ["", "   ", "x" * 201, "a\x00b", "\ud800"],
    ids=["empty", "whitespace", "too-long", "nul", "lone-surrogate"],
)
def test_task_create_bad_title_is_rejected(title: str) -> None:
    with pytest.raises(ValidationError):
        TaskCreate(title=title)


def test_task_create_title_of_200_characters_after_trim_is_accepted() -> None:
    assert len(TaskCreate(title=" " + "x" * 200 + " ").title) == 200


def test_task_create_description_over_1000_characters_is_rejected() -> None:
    with pytest.raises(ValidationError):
        TaskCreate(title="t", description="x" * 1001)


def test_task_create_description_of_1000_characters_is_accepted() -> None:
    assert TaskCreate(title="t", description="x" * 1000).description == "x" * 1000


@pytest.mark.parametrize("field", ["user_id", "id", "completed", "created_at", "updated_at"])
def test_task_create_server_owned_field_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        TaskCreate.model_validate({"title": "t", field: "x"})


def test_task_update_omitted_description_is_none() -> None:
    assert TaskUpdate(title="t").description is None


@pytest.mark.parametrize("value", ["yes", 1, 0, "true", None], ids=repr)
def test_task_patch_non_boolean_completed_is_rejected(value: object) -> None:
    with pytest.raises(ValidationError):
        TaskPatch.model_validate({"completed": value})


def test_task_response_serialises_timestamps_with_offset() -> None:
    moment = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    task = Task(id=1, user_id="alice", title="t", created_at=moment, updated_at=moment)

    body = TaskResponse.model_validate(task).model_dump(mode="json")

    assert body["created_at"] == "2026-01-01T09:30:00Z"
