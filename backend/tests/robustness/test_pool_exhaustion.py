"""A server with a two-connection pool and forty requests at once, on the private cluster.

Requests that find no free connection within DB_POOL_TIMEOUT get a 503 (never a 500, never an
unbounded wait); afterwards the pool holds no more than its two connections, even after its
connections were killed under it, and the service answers normally.
"""

import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.conftest import make_token
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer

POOL_SIZE = 2
POOL_TIMEOUT = 1.0
REQUESTS = 40  # twenty times the pool
TASKS = "/api/alice/tasks"
HEADERS = {"Authorization": f"Bearer {make_token('alice')}"}
UNAVAILABLE = {"detail": "Database is temporarily unavailable; retry shortly"}
# The server's connections: every client connection to the test's database but the admin's own.
SERVER_CONNECTIONS = (
    "FROM pg_stat_activity WHERE backend_type = 'client backend'"
    " AND datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def client(pg_database: str) -> Iterator[httpx.Client]:
    # Ping on every checkout: connections killed right after use must not reach a request
    # (by default only connections idle for DB_PING_AFTER_IDLE seconds are pinged).
    settings = {"db_pool_size": str(POOL_SIZE), "db_ping_after_idle": "0"}
    with ApiServer(pg_database, db_pool_timeout=str(POOL_TIMEOUT), **settings) as server:
        limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
        with httpx.Client(base_url=server.base_url, timeout=30, limits=limits) as client:
            yield client


@pytest.fixture
def admin(pg_database: str) -> Iterator[psycopg.Connection]:
    """A connection of the test's own, outside the server's pool; its transactions end on commit."""
    with psycopg.connect(pg_database) as connection:
        yield connection


def _timed_list(client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(TASKS, headers=HEADERS)
    return response, time.monotonic() - started


def _server_connections(admin: psycopg.Connection) -> int:
    row = admin.execute(f"SELECT count(*) {SERVER_CONNECTIONS}").fetchone()
    admin.commit()
    assert row is not None
    return int(row[0])


def _burst(client: httpx.Client) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        futures = [pool.submit(client.get, TASKS, headers=HEADERS) for _ in range(REQUESTS)]
        return Counter(future.result().status_code for future in futures)


def test_requests_beyond_the_pool_get_503_after_bounded_wait(
    client: httpx.Client, admin: psycopg.Connection
) -> None:
    client.post(TASKS, json={"title": "held"}, headers=HEADERS)
    # Hold every pooled connection: their queries wait on this lock until it is released.
    admin.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        futures = [pool.submit(_timed_list, client) for _ in range(REQUESTS)]
        done = _until_all_but(futures, POOL_SIZE)
        admin.commit()  # release the lock: the requests holding connections can finish
        answers = [future.result() for future in futures]

    statuses = Counter(response.status_code for response, _seconds in answers)
    assert statuses == {503: REQUESTS - POOL_SIZE, 200: POOL_SIZE}
    for response, seconds in (answers[futures.index(f)] for f in done):
        assert (response.json(), response.headers["Retry-After"]) == (UNAVAILABLE, "2")
        assert seconds < POOL_TIMEOUT + 2, "a request waited for a connection past its bound"
    assert _server_connections(admin) <= POOL_SIZE
    assert _burst(client) == {200: REQUESTS}, "the pool serves again once connections free up"
    TALLY["pool-exhaustion requests answered 503 within the bound"] += statuses[503]


def test_connections_killed_under_the_pool_are_replaced_not_leaked(
    client: httpx.Client, admin: psycopg.Connection
) -> None:
    assert _burst(client) == {200: REQUESTS}
    row = admin.execute(f"SELECT count(pg_terminate_backend(pid)) {SERVER_CONNECTIONS}").fetchone()
    admin.commit()
    assert row is not None
    killed = int(row[0])

    statuses = _burst(client)

    assert killed >= 1
    assert statuses == {200: REQUESTS}, "pre-ping replaces dead connections before use"
    assert _server_connections(admin) <= POOL_SIZE
    TALLY["pooled connections killed and replaced"] += killed


def _until_all_but(
    futures: list[Future[tuple[httpx.Response, float]]], left: int
) -> set[Future[tuple[httpx.Response, float]]]:
    """Waits (bounded) until all but `left` requests have answered; returns those that did."""
    pending = set(futures)
    deadline = time.monotonic() + 30
    while len(pending) > left:
        assert time.monotonic() < deadline, "requests waited without answering"
        _done, pending = wait(
            pending, timeout=deadline - time.monotonic(), return_when=FIRST_COMPLETED
        )
    return set(futures) - pending


def test_work_of_a_client_that_left_while_queued_is_not_started(
    pg_database: str, admin: psycopg.Connection
) -> None:
    settings = {"db_pool_size": "1", "db_pool_timeout": "30"}
    with (
        ApiServer(pg_database, **settings) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        admin.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            holder = pool.submit(client.get, TASKS, headers=HEADERS)  # takes the one connection
            time.sleep(0.5)
            # A create queued behind it, whose client then gives up and closes the connection.
            address = urlsplit(server.base_url)
            leaver = socket.create_connection((address.hostname, address.port))
            body = b'{"title": "left behind"}'
            head = f"POST {TASKS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            head += f"Authorization: {HEADERS['Authorization']}\r\n"
            leaver.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.5)
            leaver.close()
            time.sleep(1.0)  # queued over a second: long enough to be asked whether its client left
            admin.commit()  # the holder finishes; the queued create gets the connection
            assert holder.result().status_code == 200

        metrics = client.get("/metrics").text
        titles = client.get(TASKS, headers=HEADERS).json()

    assert [task["title"] for task in titles] == [], "the abandoned create ran"
    assert 'method="POST",route="/api/{user_id}/tasks",status="499"} 1.0' in metrics
    TALLY["queued requests of clients that left, not run"] += 1
