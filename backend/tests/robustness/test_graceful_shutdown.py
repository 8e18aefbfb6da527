"""SIGTERM under load, on a real server process: bounded by SHUTDOWN_TIMEOUT_SECONDS, nothing lost,
nothing half-applied.

Many creates run concurrently; SIGTERM arrives mid-way. Every create answered 201 is stored, and
nothing else is. One keyed create is held inside its transaction (its task inserted, its key's
insert waiting on a lock this test holds) past the bound: it is cancelled, and its task is gone.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.conftest import make_token
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer

SHUTDOWN_SECONDS = 2
CREATES = 300
CONNECTIONS = 40
SIGTERM_AFTER = 60  # answered creates before the signal: the rest are in flight or queued
HELD_USER, HELD_KEY = "carol", "held-across-shutdown"
# What a client may see for a request the server never read, or read while closing: no answer.
TRANSPORT_ERRORS = (httpx.TransportError,)

Outcome = httpx.Response | httpx.TransportError


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


def _hold_key(url: str) -> psycopg.Connection:
    """A transaction holding an uncommitted row on the key: a keyed create waits on it."""
    holder = psycopg.connect(url)
    holder.execute(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, response_body,"
        " created_at) VALUES (%s, %s, 'held', 0, '{}', now())",
        (HELD_USER, HELD_KEY),
    )
    return holder


def _wait_for_lock_wait(url: str) -> None:
    """Until the server's keyed create waits on the held key (its task already inserted)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'task-api' AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0] == 1:
                return
            time.sleep(0.05)
    pytest.fail("the keyed create never waited on the held key")


def _attempt(call: Callable[[], httpx.Response]) -> Outcome:
    try:
        return call()
    except TRANSPORT_ERRORS as error:
        return error


def test_sigterm_under_load_keeps_every_answered_create_and_rolls_back_the_cut_one(
    pg_database: str,
) -> None:
    holder = _hold_key(pg_database)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    server = ApiServer(
        pg_database, shutdown_timeout_seconds=str(SHUTDOWN_SECONDS), db_query_timeout="30"
    )
    answered = threading.Semaphore(0)
    try:
        with httpx.Client(base_url=server.base_url, timeout=30, limits=limits) as client:

            def create(n: int) -> Outcome:
                outcome = _attempt(
                    lambda: client.post(
                        "/api/alice/tasks", json={"title": f"load {n}"}, headers=_auth("alice")
                    )
                )
                answered.release()
                return outcome

            with ThreadPoolExecutor(max_workers=CONNECTIONS + 1) as pool:
                held = pool.submit(
                    _attempt,
                    lambda: client.post(
                        f"/api/{HELD_USER}/tasks",
                        json={"title": "cut off"},
                        headers={**_auth(HELD_USER), "Idempotency-Key": HELD_KEY},
                    ),
                )
                _wait_for_lock_wait(pg_database)
                creates = [pool.submit(create, n) for n in range(CREATES)]
                for _ in range(SIGTERM_AFTER):
                    answered.acquire()
                stopped_after = server.stop(timeout=SHUTDOWN_SECONDS + 8)
                outcomes = [future.result() for future in creates]
                held_outcome = held.result()
    finally:
        server.close()
        holder.rollback()
        holder.close()

    answers = [o for o in outcomes if isinstance(o, httpx.Response)]
    created = {a.json()["id"]: a.json()["title"] for a in answers if a.status_code == 201}
    with psycopg.connect(pg_database) as sql:
        stored: dict[int, str] = dict(
            sql.execute("SELECT id, title FROM tasks WHERE user_id = 'alice'").fetchall()
        )
        cut = sql.execute("SELECT count(*) FROM tasks WHERE user_id = %s", (HELD_USER,)).fetchone()
        counted = sql.execute(
            "SELECT coalesce(sum(total), 0) FROM task_counts WHERE user_id = %s", (HELD_USER,)
        ).fetchone()
    TALLY["creates answered 201 before a SIGTERM's shutdown"] += len(created)
    assert stopped_after < SHUTDOWN_SECONDS + 3
    assert {_status(o) for o in outcomes} <= {201, None}
    assert len(created) >= SIGTERM_AFTER
    assert stored == created
    assert _status(held_outcome) != 201
    assert cut == (0,)
    assert counted == (0,)


def _status(outcome: Outcome) -> int | None:
    return outcome.status_code if isinstance(outcome, httpx.Response) else None
