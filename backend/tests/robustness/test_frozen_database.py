"""A database that accepts connections but never answers (SIGSTOP): bounded, then healed.

libpq would wait forever on such a server; DB_CONNECT_TIMEOUT and DB_QUERY_TIMEOUT bound every
connect and round trip, so requests get a 503 and the pool recovers once the server resumes.
"""

import time
from collections.abc import Iterator

import httpx
import pytest
from psycopg2 import extensions
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from src.config import DatabaseSettings
from src.db import create_db_engine
from tests.robustness.answers import HEADERS, TASKS, UNAVAILABLE, ask, until_healthy
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer, PostgresCluster

QUERY_TIMEOUT = 1.0


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
        recovery = until_healthy(client)
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
