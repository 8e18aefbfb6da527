"""What one request costs in thread hops: one, the route's own, whatever it answers."""

import gc
import sqlite3
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event

from tests.conftest import AuthHeaders

CreateTask = Callable[..., dict[str, object]]
ALICE = "/api/alice/tasks"
# method, path after /api/alice/tasks ("{id}" is an existing task), body, extra headers
# ("{etag}" is that task's ETag), expected status, response headers that must be present
ROUTES: dict[str, tuple[str, str, dict[str, object] | None, dict[str, str], int, set[str]]] = {
    "list": ("GET", "?limit=1", None, {}, 200, {"x-total-count", "link"}),
    "create": ("POST", "", {"title": "t"}, {}, 201, {"location", "etag"}),
    "create-replayed": (
        "POST",
        "",
        {"title": "t"},
        {"Idempotency-Key": "k1"},
        201,
        {"location", "etag", "idempotent-replayed"},
    ),
    "read": ("GET", "/{id}", None, {}, 200, {"etag"}),
    "read-not-modified": ("GET", "/{id}", None, {"If-None-Match": "{etag}"}, 304, {"etag"}),
    "update": ("PUT", "/{id}", {"title": "t2"}, {"If-Match": "{etag}"}, 200, {"etag"}),
    "patch": ("PATCH", "/{id}", {"completed": True}, {"If-Match": "{etag}"}, 200, {"etag"}),
    "delete": ("DELETE", "/{id}", None, {"If-Match": "{etag}"}, 204, set()),
}


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the functions each request sends to the thread pool."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        sent.append(getattr(getattr(func, "func", func), "__name__", repr(func)))  # partials too
        return await run_sync(func, *args, **kwargs)  # type: ignore[arg-type]  # passes through

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


@pytest.mark.parametrize(
    ("method", "path", "body", "extra", "expected", "present"), ROUTES.values(), ids=ROUTES.keys()
)
def test_each_route_makes_one_thread_hop(
    client: TestClient,
    auth_headers: AuthHeaders,
    create_task: CreateTask,
    hops: list[str],
    method: str,
    path: str,
    body: dict[str, object] | None,
    extra: dict[str, str],
    expected: int,
    present: set[str],
) -> None:
    create_task("alice")  # a second one, so the one-item list page links to the next
    task_id = create_task("alice")["id"]
    etag = client.get(f"{ALICE}/{task_id}", headers=auth_headers("alice")).headers["ETag"]
    headers = auth_headers("alice") | {k: v.format(etag=etag) for k, v in extra.items()}
    if "Idempotency-Key" in extra:  # the first create with this key; the request below replays it
        client.post(ALICE, json=body, headers=headers)
    hops.clear()

    response = client.request(method, ALICE + path.format(id=task_id), json=body, headers=headers)

    assert response.status_code == expected, response.text
    assert present <= set(response.headers)
    assert len(hops) == 1, hops  # the route itself; auth and shaping the response add none


# The requests a frontend sends most, each without If-Match or Idempotency-Key.
SINGLE_STATEMENT = {
    "list": ("GET", "", None),
    "create": ("POST", "", {"title": "t"}),
    "read": ("GET", "/{id}", None),
    "replace": ("PUT", "/{id}", {"title": "t2"}),
    "patch": ("PATCH", "/{id}", {"completed": True}),
    "delete": ("DELETE", "/{id}", None),
}


@pytest.mark.parametrize(
    ("method", "path", "body"), SINGLE_STATEMENT.values(), ids=SINGLE_STATEMENT
)
def test_common_requests_send_one_statement_in_autocommit(
    client: TestClient,
    settings: Settings,
    auth_headers: AuthHeaders,
    create_task: CreateTask,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    task_id = create_task("alice")["id"]
    sent: list[tuple[str, bool]] = []
    returned: list[bool] = []

    def statement(connection: Connection, _cursor: object, text: str, *_: object) -> None:
        sent.append((text.split()[0], _autocommits(connection.connection.dbapi_connection)))

    def checkin(dbapi_connection: Any, _record: object) -> None:
        returned.append(_autocommits(dbapi_connection))

    event.listen(clean_engine, "before_cursor_execute", statement)
    event.listen(clean_engine, "checkin", checkin)
    try:
        response = client.request(
            method, ALICE + path.format(id=task_id), json=body, headers=auth_headers("alice")
        )
    finally:
        event.remove(clean_engine, "before_cursor_execute", statement)
        event.remove(clean_engine, "checkin", checkin)

    assert response.status_code < 300, response.text
    # One statement, committing itself: no BEGIN, no COMMIT, no second query.
    assert [autocommit for _, autocommit in sent] == [True], sent
    # Returned to the pool still in autocommit: resetting it would cost a round trip of its own.
    assert returned == [True]


def _autocommits(dbapi_connection: Any) -> bool:
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.isolation_level is None
    return bool(dbapi_connection.autocommit)


def test_serving_process_collects_cycles_rarely_and_never_rescans_start_up_objects() -> None:
    # Importing src.main (as uvicorn does in each worker) tunes the collector once.
    import src.main

    assert gc.get_threshold()[0] == src.main.GC_YOUNG_THRESHOLD > 700
    assert gc.get_freeze_count() > 10_000  # modules, classes, functions, the app itself
