"""A database that refuses writes for good (read-only) is reported as such, not as a blip.

`default_transaction_read_only = on` makes every new session read-only, as a hot standby's are:
/health says so with a 503, writes answer a 503 naming the cause and no Retry-After (retrying
cannot help until an operator acts), and reads keep working.
"""

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.robustness.answers import HEADERS, TASKS
from tests.robustness.servers import ApiServer, PostgresCluster

READ_ONLY = {
    "detail": "Database refuses writes (it is read-only); reads still work, "
    "and writes fail until an operator makes it writable again"
}


@pytest.fixture
def read_only(pg_cluster: PostgresCluster, pg_database: str) -> Iterator[dict[str, object]]:
    """A served database holding one task, then made read-only; the task."""
    with ApiServer(pg_database) as server:
        task = httpx.post(f"{server.base_url}{TASKS}", json={"title": "kept"}, headers=HEADERS)
    name = sql.Identifier(pg_database.rsplit("/", 1)[1])
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
        )
    yield task.json()


def test_read_only_database_is_unhealthy_and_says_why(
    read_only: dict[str, object], pg_database: str
) -> None:
    with ApiServer(pg_database) as server:
        health = httpx.get(f"{server.base_url}/health")

    assert health.status_code == 503
    assert health.json() == {"status": "unhealthy", "database": "read-only"}


def test_read_only_database_refuses_writes_without_retry_after_and_serves_reads(
    read_only: dict[str, object], pg_database: str
) -> None:
    item = f"{TASKS}/{read_only['id']}"
    with ApiServer(pg_database) as server, httpx.Client(base_url=server.base_url) as client:
        writes = [
            client.post(TASKS, json={"title": "refused"}, headers=HEADERS),
            client.put(item, json={"title": "refused"}, headers=HEADERS),
            client.patch(item, json={"completed": True}, headers=HEADERS),
            client.delete(item, headers=HEADERS),
        ]
        listed = client.get(TASKS, headers=HEADERS)
        one = client.get(item, headers=HEADERS)

    assert [(w.status_code, w.json()) for w in writes] == [(503, READ_ONLY)] * len(writes)
    assert [w.headers.get("Retry-After") for w in writes] == [None] * len(writes)
    assert (listed.status_code, listed.json()) == (200, [read_only])
    assert (one.status_code, one.json()) == (200, read_only)
