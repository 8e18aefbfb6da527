"""Concurrent writers (many client threads) against a real server process on the private cluster.

No 5xx, no acknowledged create lost, and the final state of a contended task is the state the
last acknowledged write reported. Budget: CONCURRENT_CREATES (default 500) creates.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from urllib.parse import quote

import httpx
import psycopg
import pytest

from tests.conftest import make_token
from tests.robustness.conftest import TALLY, budget
from tests.robustness.servers import ApiServer

SAME_TASK_WRITERS = 50
CREATES = budget("CONCURRENT_CREATES", 500)
# Ids a real server must route after exactly one percent-decoding, "%2F" literally included.
ODD_USERS = ["x%2Fy", "ann+1@ex.com", "zoë.用户", "a b?c#d", "o'brien;--"]
USERS = ODD_USERS + [f"user{n}@example.com" for n in range(50 - len(ODD_USERS))]

Call = Callable[[], httpx.Response]


def tasks_url(user: str) -> str:
    return f"/api/{quote(user, safe='')}/tasks"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
def server(pg_database: str) -> Iterator[ApiServer]:
    with ApiServer(pg_database) as server:
        yield server


@pytest.fixture
def client(server: ApiServer) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with httpx.Client(base_url=server.base_url, timeout=30, limits=limits) as client:
        yield client


def all_at_once(calls: list[Call]) -> list[httpx.Response]:
    """Runs every call in its own thread, released together by a barrier."""
    start = threading.Barrier(len(calls))

    def run(call: Call) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _stamp(response: httpx.Response) -> datetime:
    return datetime.fromisoformat(response.json()["updated_at"])


def _writes_to(client: httpx.Client, url: str, with_deletes: int) -> list[Call]:
    headers = auth("alice")
    half = (SAME_TASK_WRITERS - with_deletes) // 2
    puts = [
        partial(client.put, url, json={"title": f"title {n}"}, headers=headers) for n in range(half)
    ]
    patches = [
        partial(client.patch, url, json={"completed": n % 2 == 0}, headers=headers)
        for n in range(SAME_TASK_WRITERS - with_deletes - half)
    ]
    deletes = [partial(client.delete, url, headers=headers)] * with_deletes
    return [*puts, *patches, *deletes]


def test_parallel_updates_of_one_task_end_in_the_last_acknowledged_state(
    client: httpx.Client,
) -> None:
    task = client.post(tasks_url("alice"), json={"title": "contended"}, headers=auth("alice"))
    url = f"{tasks_url('alice')}/{task.json()['id']}"

    responses = all_at_once(_writes_to(client, url, with_deletes=0))

    assert Counter(r.status_code for r in responses) == {200: SAME_TASK_WRITERS}
    stamps = sorted(_stamp(r) for r in responses)
    assert len(set(stamps)) == len(stamps), "each write is ordered after the one before"
    last = max(responses, key=_stamp).json()
    assert client.get(url, headers=auth("alice")).json() == last
    TALLY["parallel writes to one task"] += len(responses)


def test_write_that_waited_for_a_concurrent_transaction_answers_with_its_result(
    client: httpx.Client, pg_database: str
) -> None:
    task = client.post(tasks_url("alice"), json={"title": "before"}, headers=auth("alice")).json()
    url = f"{tasks_url('alice')}/{task['id']}"
    with psycopg.connect(pg_database) as other, ThreadPoolExecutor(max_workers=1) as pool:
        other.execute("UPDATE tasks SET completed = true WHERE id = %s", [task["id"]])
        put = pool.submit(client.put, url, json={"title": "after"}, headers=auth("alice"))
        _wait_until_a_query_waits_for_a_lock(pg_database)
        other.commit()
        response = put.result(timeout=30)

    # The write saw the committed change, so its answer is the state it left, not a stale one.
    assert (response.json()["title"], response.json()["completed"]) == ("after", True)
    assert client.get(url, headers=auth("alice")).json() == response.json()


def _wait_until_a_query_waits_for_a_lock(database_url: str) -> None:
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    with psycopg.connect(database_url, autocommit=True) as watcher:
        while watcher.execute(waiting).fetchone() == (0,):
            assert time.monotonic() < deadline, "the write never reached the locked row"
            time.sleep(0.01)  # bounded polling: PostgreSQL offers no event for "now waiting"


def test_parallel_updates_and_deletes_of_one_task_delete_it_exactly_once(
    client: httpx.Client,
) -> None:
    task = client.post(tasks_url("alice"), json={"title": "contended"}, headers=auth("alice"))
    url = f"{tasks_url('alice')}/{task.json()['id']}"

    responses = all_at_once(_writes_to(client, url, with_deletes=10))

    by_method = Counter((r.request.method, r.status_code) for r in responses)
    assert by_method[("DELETE", 204)] == 1
    assert by_method[("DELETE", 404)] == 9
    assert {status for (_method, status) in by_method} <= {200, 204, 404}
    assert client.get(url, headers=auth("alice")).status_code == 404
    TALLY["parallel writes to one task"] += len(responses)


def test_parallel_creates_by_many_users_are_all_kept(client: httpx.Client) -> None:
    titles = [(USERS[n % len(USERS)], f"task {n}") for n in range(CREATES)]

    def create(user_title: tuple[str, str]) -> tuple[str, httpx.Response]:
        user, title = user_title
        return user, client.post(tasks_url(user), json={"title": title}, headers=auth(user))

    with ThreadPoolExecutor(max_workers=50) as pool:
        created = list(pool.map(create, titles))

    assert Counter(response.status_code for _user, response in created) == {201: CREATES}
    acknowledged: dict[str, dict[int, str]] = {user: {} for user in USERS}
    for user, response in created:
        acknowledged[user][response.json()["id"]] = response.json()["title"]
    for user, tasks in acknowledged.items():
        listed = client.get(tasks_url(user), headers=auth(user)).json()
        assert {task["id"]: task["title"] for task in listed} == tasks, user
        assert {task["user_id"] for task in listed} <= {user}
    TALLY["parallel creates acknowledged and found again"] += CREATES
