"""/health and /metrics: no token, and neither can take the database from task requests."""

import asyncio
import logging
from typing import Literal

import psycopg
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response

from src.api.openapi import example_response
from src.db import Database
from src.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from src.schemas.responses import HealthResponse

logger = logging.getLogger(__name__)

DatabaseState = Literal["ok", "unreachable", "read-only"]
# A hot standby and `default_transaction_read_only = on` both start sessions read-only.
_PROBE = "SELECT current_setting('transaction_read_only') = 'on' AS read_only"
_UNHEALTHY: dict[int | str, dict[str, object]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": HealthResponse,
        "description": "The database is unreachable, or refuses writes (read-only)",
        "content": {
            "application/json": {
                "examples": {
                    "unreachable": {
                        "value": {"status": "unhealthy", "database": "unreachable"},
                    },
                    "read-only": {"value": {"status": "unhealthy", "database": "read-only"}},
                }
            }
        },
    }
}

router = APIRouter()


class DatabaseProbe:
    """One probe of the database at a time: checks that arrive while it runs share its answer.

    An anonymous flood of /health then holds at most one pool connection, whatever the database
    does, and nothing is cached beyond the probe in flight.
    """

    def __init__(self) -> None:
        self._running: asyncio.Task[DatabaseState] | None = None

    async def state(self, database: Database) -> DatabaseState:
        if self._running is None:
            self._running = asyncio.create_task(_probe(database))
            self._running.add_done_callback(self._finished)
        # Shielded: a caller that goes away must not cancel the probe the others await.
        return await asyncio.shield(self._running)

    def _finished(self, _task: "asyncio.Task[DatabaseState]") -> None:
        self._running = None


async def _probe(database: Database) -> DatabaseState:
    try:
        async with database.connection() as connection:
            row = await (await connection.execute(_PROBE)).fetchone()
    except psycopg.Error as error:
        logger.error("health check failed: %s", type(error).__name__)
        return "unreachable"
    if row is not None and row["read_only"]:
        logger.error("health check: the database is read-only and refuses writes")
        return "read-only"
    return "ok"


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Check health",
    response_description="The service and its database answer",
    responses=example_response(200, {"status": "healthy", "database": "ok"}) | _UNHEALTHY,
    tags=["health"],
)
async def health(request: Request) -> JSONResponse:
    """Whether the service reaches its database; needs no token."""
    state = await request.app.state.database_probe.state(request.app.state.database)
    if state != "ok":
        body = {"status": "unhealthy", "database": state}
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse({"status": "healthy", "database": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text"}},
    tags=["operations"],
)
async def metrics(request: Request) -> Response:
    """Request counts and latency by route template, method and status (Prometheus text)."""
    # Never touches the database: it answers while the database does not.
    body = request.app.state.metrics.render()
    return Response(body, media_type=METRICS_CONTENT_TYPE)
