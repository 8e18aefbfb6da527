"""Anonymous /health floods against a frozen database: one probe for all, /metrics unaffected.

Health checks that arrive while a probe is in flight await its answer instead of taking pool
connections of their own. Had each started its own probe, the pool's connections would hang on
the frozen server and every later check would wait out DB_POOL_TIMEOUT; with one probe shared,
every check has its answer when that probe gives up, after DB_QUERY_TIMEOUT.
"""

import asyncio
import time

import httpx

from tests.robustness.conftest import TALLY
from tests.robustness.servers import ApiServer, PostgresCluster

FLOOD = 120
QUERY_TIMEOUT = 2.0
POOL_TIMEOUT = 10.0
UNREACHABLE = {"status": "unhealthy", "database": "unreachable"}


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[int, float, object]:
    started = time.monotonic()
    response = await client.get(path)
    return response.status_code, time.monotonic() - started, response


async def _flood(base_url: str) -> tuple[list[tuple[int, float, object]], float]:
    limits = httpx.Limits(max_connections=FLOOD + 10)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        checks = [asyncio.create_task(_timed(client, "/health")) for _ in range(FLOOD)]
        await asyncio.sleep(0)  # the checks' connections are opened first
        _, metrics_seconds, _ = await _timed(client, "/metrics")
        return list(await asyncio.gather(*checks)), metrics_seconds


def test_health_flood_on_a_frozen_database_shares_one_probe_and_metrics_answer_at_once(
    pg_cluster: PostgresCluster, pg_database: str
) -> None:
    bounds = {
        "db_pool_size": "4",
        "db_connect_timeout": "1",
        "db_query_timeout": str(QUERY_TIMEOUT),
        "db_pool_timeout": str(POOL_TIMEOUT),
    }
    with ApiServer(pg_database, **bounds) as server:
        pg_cluster.freeze()
        try:
            checks, metrics_seconds = asyncio.run(_flood(server.base_url))
        finally:
            pg_cluster.thaw()

    statuses = {status for status, _, _ in checks}
    slowest = max(seconds for _, seconds, _ in checks)
    TALLY["health flood on a frozen database, slowest check, ms"] = round(slowest * 1000)
    TALLY["/metrics during a health flood, ms"] = round(metrics_seconds * 1000)
    assert statuses == {503}
    assert all(response.json() == UNREACHABLE for _, _, response in checks)  # type: ignore[attr-defined]
    # Shared probes, each given up after the query timeout: far from the pool timeout that
    # probes of their own would wait out. A check whose connection opens only after the first
    # probe has given up starts the next, by design, so the slowest may wait out two.
    assert slowest < 2 * QUERY_TIMEOUT + 3
    # Waiting on the database would take the probe's QUERY_TIMEOUT at least; what is left is the
    # time to open the flood's connections, well under a second even on a loaded machine.
    assert metrics_seconds < QUERY_TIMEOUT
