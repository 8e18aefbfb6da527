"""What one request costs: no thread hop, and for the common requests one statement."""

import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from psycopg import AsyncCursor
from psycopg.pq import TransactionStatus

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
def test_each_route_runs_on_the_event_loop_without_a_thread_hop(
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
    # Auth, the route, the database and the response all run on the event loop: a sync
    # dependency or driver call would queue every request for a threadpool thread.
    assert hops == []


class Sent(NamedTuple):
    """A statement the app sent, with its connection's transaction state around it."""

    verb: str
    before: TransactionStatus  # IDLE: no BEGIN came first
    after: TransactionStatus  # IDLE: committed by itself; nothing left to COMMIT or roll back


IDLE = TransactionStatus.IDLE
IN_TRANSACTION = TransactionStatus.INTRANS


@contextmanager
def statements_sent() -> Iterator[list[Sent]]:
    """Every statement any async psycopg connection (the app's pool) executes in the block.

    Each goes through `AsyncCursor.execute`, a ping of an idle connection included; BEGIN and
    COMMIT do not, and show as the transaction state the statements between them run in.
    """
    sent: list[Sent] = []
    real_execute: Callable[..., Awaitable[AsyncCursor[object]]] = AsyncCursor.execute

    async def recording(
        cursor: AsyncCursor[object], query: object, *args: object, **kwargs: object
    ) -> AsyncCursor[object]:
        before = cursor.connection.info.transaction_status
        result = await real_execute(cursor, query, *args, **kwargs)
        verb = str(query).split(maxsplit=1)[0].upper()
        sent.append(Sent(verb, before, cursor.connection.info.transaction_status))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AsyncCursor, "execute", recording)
        yield sent


# The requests a frontend sends most, each without If-Match or Idempotency-Key.
SINGLE_STATEMENT = {
    "list": ("GET", "", None, "SELECT"),
    "create": ("POST", "", {"title": "t"}, "INSERT"),
    "read": ("GET", "/{id}", None, "SELECT"),
    "replace": ("PUT", "/{id}", {"title": "t2"}, "UPDATE"),
    "patch": ("PATCH", "/{id}", {"completed": True}, "UPDATE"),
    "delete": ("DELETE", "/{id}", None, "DELETE"),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "verb"), SINGLE_STATEMENT.values(), ids=SINGLE_STATEMENT
)
def test_common_requests_send_one_statement_in_autocommit(
    client: TestClient,
    auth_headers: AuthHeaders,
    create_task: CreateTask,
    method: str,
    path: str,
    body: dict[str, object] | None,
    verb: str,
) -> None:
    task_id = create_task("alice")["id"]

    with statements_sent() as sent:
        response = client.request(
            method, ALICE + path.format(id=task_id), json=body, headers=auth_headers("alice")
        )

    assert response.status_code < 300, response.text
    # One statement, committing itself: no BEGIN, no COMMIT, no second query, no reset when
    # the connection goes back to the pool.
    assert sent == [Sent(verb, IDLE, IDLE)]


def test_conditional_write_runs_its_statements_in_one_transaction(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    # The other side of the test above: a BEGIN does show, so "one statement" is not vacuous.
    task_id = create_task("alice")["id"]
    etag = client.get(f"{ALICE}/{task_id}", headers=auth_headers("alice")).headers["ETag"]

    with statements_sent() as sent:
        response = client.put(
            f"{ALICE}/{task_id}",
            json={"title": "t2"},
            headers=auth_headers("alice") | {"If-Match": etag},
        )

    assert response.status_code == 200, response.text
    assert sent == [
        Sent("SELECT", IN_TRANSACTION, IN_TRANSACTION),  # ... FOR UPDATE: the row waits for us
        Sent("UPDATE", IN_TRANSACTION, IN_TRANSACTION),
    ]


def test_serving_process_collects_cycles_rarely_and_never_rescans_start_up_objects() -> None:
    # Importing src.main (as uvicorn does in each worker) tunes the collector once.
    import src.main

    assert gc.get_threshold()[0] == src.main.GC_YOUNG_THRESHOLD > 700
    assert gc.get_freeze_count() > 10_000  # modules, classes, functions, the app itself
