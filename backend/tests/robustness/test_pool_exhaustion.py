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
import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import make_token
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer

POOL_SIZE = 2
POOL_TIMEOUT = 1.0
REQUESTS = 40  # as many as the server's worker threads
APPLICATION = "task-api-pool-test"  # tells the server's connections apart in pg_stat_activity
TASKS = "/api/alice/tasks"
HEADERS = {"Authorization": f"Bearer {make_token('alice')}"}
UNAVAILABLE = {"detail": "Database is temporarily unavailable; retry shortly"}


@pytest.fixture
def client(pg_database: str) -> Iterator[httpx.Client]:
    # Ping on every checkout: connections killed right after use must not reach a request
    # (by default only connections idle for DB_PING_AFTER_IDLE seconds are pinged).
    settings = {"db_pool_size": str(POOL_SIZE), "db_max_overflow": "0", "db_ping_after_idle": "0"}
    url = f"{pg_database}?application_name={APPLICATION}"
    with ApiServer(url, db_pool_timeout=str(POOL_TIMEOUT), **settings) as server:
        limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
        with httpx.Client(base_url=server.base_url, timeout=30, limits=limits) as client:
            yield client


@pytest.fixture
def admin(pg_database: str) -> Iterator[Connection]:
    engine = create_engine(pg_database, poolclass=NullPool)
    with engine.connect() as connection:
        yield connection


def _timed_list(client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(TASKS, headers=HEADERS)
    return response, time.monotonic() - started


def _server_connections(admin: Connection) -> int:
    count = admin.execute(
        text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
        {"name": APPLICATION},
    ).scalar_one()
    admin.commit()
    return int(count)


def _burst(client: httpx.Client) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        futures = [pool.submit(client.get, TASKS, headers=HEADERS) for _ in range(REQUESTS)]
        return Counter(future.result().status_code for future in futures)


def test_requests_beyond_the_pool_get_503_after_bounded_wait(
    client: httpx.Client, admin: Connection
) -> None:
    client.post(TASKS, json={"title": "held"}, headers=HEADERS)
    # Hold every pooled connection: their queries wait on this lock until it is released.
    admin.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
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
    client: httpx.Client, admin: Connection
) -> None:
    assert _burst(client) == {200: REQUESTS}
    killed = admin.execute(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = :name"
        ),
        {"name": APPLICATION},
    ).scalar_one()
    admin.commit()

    statuses = _burst(client)

    assert killed >= 1
    assert statuses == {200: REQUESTS}, "pre-ping replaces dead connections before use"
    assert _server_connections(admin) <= POOL_SIZE
    TALLY["pooled connections killed and replaced"] += int(killed)


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
    pg_database: str, admin: Connection
) -> None:
    url = f"{pg_database}?application_name={APPLICATION}"
    settings = {"db_pool_size": "1", "db_max_overflow": "0", "db_pool_timeout": "30"}
    with (
        ApiServer(url, **settings) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        admin.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            holder = pool.submit(client.get, TASKS, headers=HEADERS)  # takes the one thread
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
            time.sleep(0.5)
            admin.commit()  # the holder finishes; the queued create gets the thread
            assert holder.result().status_code == 200

        metrics = client.get("/metrics").text
        titles = client.get(TASKS, headers=HEADERS).json()

    assert [task["title"] for task in titles] == [], "the abandoned create ran"
    assert 'method="POST",route="/api/{user_id}/tasks",status="499"} 1.0' in metrics
    TALLY["queued requests of clients that left, not run"] += 1
