"""The change feed: each write by the service records its event and announces it, atomically."""

import json
import os
from datetime import timedelta

import psycopg
import pytest

from src.db import Database
from src.errors import TaskNotFoundError
from src.models.task import utc_now
from src.schemas.requests import TaskCreate, TaskUpdate
from src.schemas.responses import TaskResponse
from src.services import task_service
from src.services.event_statements import CHANNEL
from src.services.task_service import TaskService
from tests.conftest import SqlConnection

pytestmark = pytest.mark.anyio

NOTIFY_TIMEOUT = 10.0  # seconds; a listener that hears nothing fails the test, never hangs it


def _direct(url: str) -> str:
    # LISTEN through a transaction-mode pooler hears nothing, so listen where the app's own
    # listener does: DATABASE_DIRECT_URL when set (the PgBouncer run sets it).
    return os.environ.get("DATABASE_DIRECT_URL") or url


def _events(sql: SqlConnection) -> list[tuple[int, str, str, int, object]]:
    rows = sql.execute("SELECT id, user_id, kind, task_id, task FROM task_events ORDER BY id")
    return [(r["id"], r["user_id"], r["kind"], r["task_id"], r["task"]) for r in rows]


async def test_each_write_records_its_event_in_order(
    database: Database, sql: SqlConnection
) -> None:
    alice = TaskService(database, "alice")

    task = await alice.create(TaskCreate(title="Buy milk"))
    done = await alice.set_completed(task.id, True)
    renamed = await alice.replace(task.id, TaskUpdate(title="Buy oat milk"), if_match="*")
    await alice.delete(task.id)

    events = _events(sql)
    assert [(e[0], e[1], e[2], e[3]) for e in events] == [
        (1, "alice", "created", task.id),
        (2, "alice", "updated", task.id),
        (3, "alice", "updated", task.id),
        (4, "alice", "deleted", task.id),
    ]
    stored = [e[4] for e in events]
    assert [None if s is None else TaskResponse.model_validate(s) for s in stored] == [
        task,
        done,
        renamed,
        None,
    ]


async def test_a_write_that_changes_nothing_records_nothing(
    database: Database, sql: SqlConnection
) -> None:
    task = await TaskService(database, "alice").create(TaskCreate(title="mine"))
    bob = TaskService(database, "bob")

    with pytest.raises(TaskNotFoundError):
        await bob.set_completed(task.id, True)
    with pytest.raises(TaskNotFoundError):
        await bob.delete(task.id)
    first = await bob.create_once(TaskCreate(title="once"), "key")
    await bob.create_once(TaskCreate(title="once"), "key")  # a replay creates nothing

    assert [(e[1], e[2], e[3]) for e in _events(sql)] == [
        ("alice", "created", task.id),
        ("bob", "created", first.task.id),
    ]


async def test_writes_announce_their_event_to_listeners(
    database: Database, clean_database: str
) -> None:
    async with await psycopg.AsyncConnection.connect(
        _direct(clean_database), autocommit=True
    ) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        alice = TaskService(database, "alice")
        task = await alice.create(TaskCreate(title="Buy milk"))
        await alice.delete(task.id)

        payloads = [
            json.loads(n.payload)
            async for n in listener.notifies(stop_after=2, timeout=NOTIFY_TIMEOUT)
        ]

    assert [(p["id"], p["user_id"], p["kind"], p["task_id"]) for p in payloads] == [
        (1, "alice", "created", task.id),
        (2, "alice", "deleted", task.id),
    ]
    assert TaskResponse.model_validate(payloads[0]["task"]) == task
    assert payloads[1]["task"] is None


async def test_an_event_too_large_to_announce_whole_is_announced_without_its_task(
    database: Database, clean_database: str, sql: SqlConnection
) -> None:
    # Control characters are escaped as six bytes each, and the user id is there twice: over
    # pg_notify's 8000-byte limit.
    user, text = "ü" * 255, "\x01" * 1000
    async with await psycopg.AsyncConnection.connect(
        _direct(clean_database), autocommit=True
    ) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        task = await TaskService(database, user).create(
            TaskCreate(title="\x01" * 200, description=text)
        )

        [payload] = [
            json.loads(n.payload)
            async for n in listener.notifies(stop_after=1, timeout=NOTIFY_TIMEOUT)
        ]

    assert payload == {"id": 1, "user_id": user, "task_id": task.id, "kind": "created"}
    assert _events(sql)[0][4] is not None  # the table holds it whole


async def test_a_purging_write_deletes_only_its_owners_expired_events(
    database: Database, sql: SqlConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = utc_now() - timedelta(hours=169)
    for user in ("alice", "bob"):
        sql.execute(
            "INSERT INTO task_events (user_id, task_id, kind, task, created_at) "
            "VALUES (%s, 1, 'deleted', NULL, %s)",
            (user, old),
        )
    monkeypatch.setattr(task_service, "PURGE_EVERY", 1)  # this write is one that purges

    task = await TaskService(database, "alice").create(TaskCreate(title="new"))

    assert [(e[1], e[2], e[3]) for e in _events(sql)] == [
        ("bob", "deleted", 1),
        ("alice", "created", task.id),
    ]
