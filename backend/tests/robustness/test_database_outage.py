"""A database outage under light load, against a real server and a private PostgreSQL cluster.

While the database is down every request fails fast with 503 {"detail": ...} and /health says
unhealthy; once it is back the service recovers by itself, and every task whose creation was
acknowledged with 201 is still there. Stopped cleanly ("fast") and killed ("immediate").
"""

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx
import pytest
from psycopg2 import extensions
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from src.config import DatabaseSettings
from src.db import create_db_engine
from tests.conftest import make_token
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer, PostgresCluster

USER = "outage@example.com"
TASKS = "/api/outage%40example.com/tasks"
HEADERS = {"Authorization": f"Bearer {make_token(USER)}"}
MAX_SECONDS = 3.0  # the longest any answer may take, database up or down
RECOVERY_SECONDS = 5.0
QUERY_TIMEOUT = 1.0
UNAVAILABLE = {"detail": "Database is temporarily unavailable; retry shortly"}


@dataclass(frozen=True)
class Answer:
    request: str
    status: int
    seconds: float
    body: object


def ask(client: httpx.Client, method: str, url: str, json: object = None) -> Answer:
    started = time.monotonic()
    response = client.request(method, url, headers=HEADERS, json=json)
    seconds = time.monotonic() - started
    body = response.json() if response.content else None
    return Answer(f"{method} {url}", response.status_code, seconds, body)


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


def _until_healthy(client: httpx.Client) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_SECONDS:
        if client.get("/health").status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)  # bounded polling: recovery has no event to wait on
    pytest.fail(f"service did not recover within {RECOVERY_SECONDS} s")


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
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, title FROM tasks")).all()
    return {row.id: row.title for row in rows}


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
            recovery = _until_healthy(client)
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


def test_frozen_database_answers_503_within_the_query_timeout_then_recovers(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    bounds = {"db_connect_timeout": "1", "db_query_timeout": str(QUERY_TIMEOUT)}
    server = ApiServer(pg_database, **bounds)
    with server, httpx.Client(base_url=server.base_url, timeout=4 * QUERY_TIMEOUT) as client:
        first = client.post(TASKS, json={"title": "before the freeze"}, headers=HEADERS).json()
        pg_cluster.freeze()
        try:
            # Pooled connections are open but unanswered: a ping would otherwise wait forever.
            frozen = [
                ask(client, "GET", TASKS),
                ask(client, "POST", TASKS, json={"title": "written while frozen"}),
                ask(client, "GET", f"{TASKS}/{first['id']}"),
            ]
        finally:
            pg_cluster.thaw()
        recovery = _until_healthy(client)
        after = ask(client, "GET", TASKS)

    assert [(a.status, a.body) for a in frozen] == [(503, UNAVAILABLE)] * len(frozen)
    # A dead pooled connection costs one timed-out ping, then one timed-out reconnect.
    assert max(a.seconds for a in frozen) < 2 * QUERY_TIMEOUT + 1
    assert after.status == 200 and isinstance(after.body, list) and first in after.body
    TALLY["faults survived (database frozen and resumed)"] += 1
    TALLY["outage recovery after thaw, ms"] = round(recovery * 1000)
    TALLY["slowest answer while frozen, ms"] = round(max(a.seconds for a in frozen) * 1000)


@pytest.fixture
def restored_wait_hook() -> Iterator[None]:
    # The hook is process-wide: put back the one the rest of the suite runs with.
    previous = extensions.get_wait_callback()
    yield
    extensions.set_wait_callback(previous)


@pytest.mark.usefixtures("restored_wait_hook")
@pytest.mark.parametrize("pooled", [True, False], ids=["pooled-connection", "new-connection"])
def test_engine_gives_up_on_a_frozen_database_within_its_bounds(
    pg_cluster: PostgresCluster, pg_database: str, pooled: bool
) -> None:
    settings = DatabaseSettings(
        database_url=pg_database, db_connect_timeout=1, db_query_timeout=1, _env_file=None
    )
    engine = create_db_engine(settings)
    if pooled:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    pg_cluster.freeze()
    try:
        started = time.monotonic()
        with (
            pytest.raises(OperationalError, match="did not answer within 1 s"),
            engine.connect() as connection,
        ):
            connection.execute(text("SELECT 1"))
        waited = time.monotonic() - started
    finally:
        pg_cluster.thaw()

    assert waited < 2 + 1  # at most one timed-out ping and one timed-out connect
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
