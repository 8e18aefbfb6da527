"""A database outage under light load, against a real server and a private PostgreSQL cluster.

While the database is down every request fails fast with 503 {"detail": ...} and /health says
unhealthy; once it is back the service recovers by itself, and every task whose creation was
acknowledged with 201 is still there. Stopped cleanly ("fast") and killed ("immediate").
"""

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import httpx
import psycopg
import pytest

from tests.robustness.answers import HEADERS, TASKS, UNAVAILABLE, Answer, ask, until_healthy
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer, PostgresCluster

MAX_SECONDS = 3.0  # the longest any answer may take, database up or down


class Load:
    """One client creating a task and listing, paced, until closed; every answer is kept."""

    def __init__(self, base_url: str) -> None:
        self.answers: list[Answer] = []
        self._client = httpx.Client(base_url=base_url, timeout=2 * MAX_SECONDS)
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        number = 0
        while not self._closing.wait(0.02):  # paced: light load, not a flood
            number += 1
            for method, body in (("POST", {"title": f"task {number}"}), ("GET", None)):
                answer = ask(self._client, method, TASKS, json=body)
                with self._changed:
                    self.answers.append(answer)
                    self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[Answer]], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: condition(self.answers), timeout=30)

    def count(self, status: int) -> Callable[[list[Answer]], int]:
        return lambda answers: sum(answer.status == status for answer in answers)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._thread.join()
        self._client.close()


def _during_outage(client: httpx.Client, task_id: int) -> list[Answer]:
    return [
        ask(client, "GET", TASKS),
        ask(client, "POST", TASKS, json={"title": "written while down"}),
        ask(client, "GET", f"{TASKS}/{task_id}"),
        ask(client, "PUT", f"{TASKS}/{task_id}", json={"title": "changed while down"}),
        ask(client, "PATCH", f"{TASKS}/{task_id}", json={"completed": True}),
        ask(client, "DELETE", f"{TASKS}/{task_id}"),
    ]


def _stored_titles(database_url: str) -> dict[int, str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT id, title FROM tasks").fetchall()
    return dict(rows)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_outage_fails_fast_then_recovers_without_losing_acknowledged_writes(
    pg_cluster: PostgresCluster, pg_database: str, mode: str
) -> None:
    server = ApiServer(pg_database, db_connect_timeout="2", db_pool_timeout="2")
    with server, httpx.Client(base_url=server.base_url, timeout=2 * MAX_SECONDS) as client:
        first = client.post(TASKS, json={"title": "before the outage"}, headers=HEADERS).json()
        with Load(server.base_url) as load:
            load.wait_for(lambda answers: load.count(201)(answers) >= 5)
            try:
                pg_cluster.stop(mode)
                down = _during_outage(client, first["id"])
                health_down = client.get("/health")
                load.wait_for(lambda answers: load.count(503)(answers) >= 5)
            finally:
                pg_cluster.start()
            recovery = until_healthy(client)
            created_before = load.count(201)(load.answers)
            load.wait_for(lambda answers: load.count(201)(answers) >= created_before + 5)
        after = ask(client, "GET", f"{TASKS}/{first['id']}")

    assert [(a.request, a.status, a.body) for a in down] == [
        (a.request, 503, UNAVAILABLE) for a in down
    ]
    assert (health_down.status_code, health_down.json()["status"]) == (503, "unhealthy")
    everything = down + load.answers
    assert {a.status for a in everything} <= {200, 201, 503}, "only success or 503, never a 500"
    assert max(a.seconds for a in everything) < MAX_SECONDS
    assert (after.status, after.body) == (200, first), "nothing written while down took effect"
    acknowledged = {
        a.body["id"]: a.body["title"]
        for a in load.answers
        if a.status == 201 and isinstance(a.body, dict)
    }
    stored = _stored_titles(pg_database)
    lost = {task_id for task_id, title in acknowledged.items() if stored.get(task_id) != title}
    TALLY["faults survived (database stopped and restarted)"] += 1
    TALLY["acknowledged creates checked after an outage"] += len(acknowledged)
    TALLY["acknowledged writes lost"] += len(lost)
    TALLY[f"outage recovery after restart, ms ({mode})"] = round(recovery * 1000)
    assert lost == set()


def test_service_recovers_within_a_second_or_so_after_a_long_outage(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    server = ApiServer(pg_database, db_connect_timeout="2", db_pool_timeout="2")
    with server, httpx.Client(base_url=server.base_url, timeout=2 * MAX_SECONDS) as client:
        pg_cluster.stop("fast")
        try:
            down_since = time.monotonic()
            # Long enough for a pool that kept backing off to wait 8 s more before its next try.
            while time.monotonic() - down_since < 12:
                assert client.get("/health").status_code == 503
        finally:
            pg_cluster.start()
        recovery = until_healthy(client)

    TALLY["outage recovery after a 12 s outage, ms"] = round(recovery * 1000)
