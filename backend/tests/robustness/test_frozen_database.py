"""A database that accepts connections but never answers (SIGSTOP): bounded, then healed.

libpq would wait forever on such a server. DB_QUERY_TIMEOUT bounds a request's work on a pooled
connection, DB_CONNECT_TIMEOUT each new connection the pool opens and DB_POOL_TIMEOUT a wait for
one, so requests get a 503 and the pool recovers once the server resumes.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from psycopg_pool import PoolTimeout

from src.config import DatabaseSettings
from src.db import Database, DatabaseTimeoutError
from tests.robustness.answers import (
    HEADERS,
    RECOVERY_SECONDS,
    TASKS,
    UNAVAILABLE,
    ask,
    until_healthy,
)
from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer, PostgresCluster

QUERY_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1
POOL_TIMEOUT = 2.0


def test_frozen_database_answers_503_within_the_query_timeout_then_recovers(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    bounds = {"db_connect_timeout": str(CONNECT_TIMEOUT), "db_query_timeout": str(QUERY_TIMEOUT)}
    server = ApiServer(pg_database, **bounds)
    with server, httpx.Client(base_url=server.base_url, timeout=4 * QUERY_TIMEOUT) as client:
        first = client.post(TASKS, json={"title": "before the freeze"}, headers=HEADERS).json()
        pg_cluster.freeze()
        try:
            # Pooled connections are open but unanswered: a query would otherwise wait forever.
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
    assert max(a.seconds for a in frozen) < 2 * QUERY_TIMEOUT + 1
    assert after.status == 200 and isinstance(after.body, list) and first in after.body
    TALLY["faults survived (database frozen and resumed)"] += 1
    TALLY["outage recovery after thaw, ms"] = round(recovery * 1000)
    TALLY["slowest answer while frozen, ms"] = round(max(a.seconds for a in frozen) * 1000)


@asynccontextmanager
async def _database(url: str) -> AsyncIterator[Database]:
    """The app's pool, of one connection, with short bounds."""
    settings = DatabaseSettings(
        database_url=url,
        db_pool_size=1,
        db_connect_timeout=CONNECT_TIMEOUT,
        db_query_timeout=QUERY_TIMEOUT,
        db_pool_timeout=POOL_TIMEOUT,
        _env_file=None,
    )
    database = Database(url, settings)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def _select_one(database: Database) -> None:
    async with database.connection() as connection:
        await connection.execute("SELECT 1")


async def _heals(database: Database) -> float:
    """Seconds until the pool serves a query again; fails after RECOVERY_SECONDS."""
    started = time.monotonic()
    while True:
        try:
            await _select_one(database)
        except PoolTimeout:
            if time.monotonic() - started > RECOVERY_SECONDS:
                pytest.fail(f"pool did not recover within {RECOVERY_SECONDS} s")
        else:
            return time.monotonic() - started


@pytest.mark.anyio
async def test_pooled_connection_gives_up_on_a_frozen_database_within_the_query_timeout(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    async with _database(pg_database) as database:
        await _select_one(database)  # the pool's one connection, used and returned
        pg_cluster.freeze()
        try:
            started = time.monotonic()
            with pytest.raises(DatabaseTimeoutError, match="did not answer within 1 s"):
                await _select_one(database)
            waited = time.monotonic() - started
        finally:
            pg_cluster.thaw()
        recovery = await _heals(database)

    # The timeout, then a short grace for the cancel request before the connection is closed.
    assert waited < QUERY_TIMEOUT + 1
    TALLY["frozen pooled connection given up after, ms"] = round(waited * 1000)
    TALLY["pool recovery after thaw, ms (pooled connection)"] = round(recovery * 1000)


@pytest.mark.anyio
async def test_new_connection_to_a_frozen_database_gives_up_within_the_connect_timeout(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    pg_cluster.freeze()
    # Opened while frozen: the server accepts the pool's connection, then never answers.
    async with _database(pg_database) as database:
        try:
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                await _select_one(database)
            waited = time.monotonic() - started
            failed_connects = await _failed_connects(database)
        finally:
            pg_cluster.thaw()
        recovery = await _heals(database)

    assert waited < POOL_TIMEOUT + 1
    # Within the pool's wait, the connect attempt gave up (DB_CONNECT_TIMEOUT) instead of hanging.
    assert failed_connects >= 1
    TALLY["pool recovery after thaw, ms (new connection)"] = round(recovery * 1000)


def test_frozen_database_beyond_the_pool_size_answers_503_within_the_bounds(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    pool_size = 2
    bounds = {"db_connect_timeout": "1", "db_query_timeout": str(QUERY_TIMEOUT)}
    server = ApiServer(pg_database, db_pool_size=str(pool_size), **bounds)
    with server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.post(TASKS, json={"title": "before the freeze"}, headers=HEADERS)
        pg_cluster.freeze()
        try:
            frozen = [ask(client, "GET", TASKS) for _ in range(pool_size + 2)]
        finally:
            pg_cluster.thaw()

    # Once the frozen pooled connections are given up, new ones cannot be opened: a request
    # then waits one connect's worth (DB_CONNECT_TIMEOUT), not the whole DB_POOL_TIMEOUT.
    assert [(a.status, a.body) for a in frozen] == [(503, UNAVAILABLE)] * len(frozen)
    assert max(a.seconds for a in frozen) < 2 * QUERY_TIMEOUT + 1


async def _failed_connects(database: Database) -> int:
    """The pool's failed connects, once its attempt has had CONNECT_TIMEOUT to give up.

    On a loaded machine the request's PoolTimeout can come a moment before the attempt's own
    timeout is counted; a connect that hung would never be counted at all.
    """
    deadline = time.monotonic() + CONNECT_TIMEOUT + 1
    while True:
        failed = int(database.pool.get_stats().get("connections_errors", 0))
        if failed or time.monotonic() > deadline:
            return failed
        await asyncio.sleep(0.05)
