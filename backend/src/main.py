"""The FastAPI application: `src.main:app`."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from src.api.docs import install_docs
from src.api.error_handlers import install_error_handlers
from src.api.openapi import TAGS, finish_document
from src.api.routes import health, task_events, tasks
from src.config import Settings, explained, get_settings
from src.db import Database
from src.embedded_db import embedded_server, embedded_server_url
from src.logs import configure_logging
from src.metrics import HttpMetrics
from src.middleware.access_log import AccessLogMiddleware
from src.middleware.body_limit import BodyLimitMiddleware
from src.middleware.cors import JSONCORSMiddleware
from src.middleware.head import HeadAsGetMiddleware
from src.middleware.jwks import JWKSClient
from src.middleware.jwt import AcceptedTokens
from src.middleware.request_id import RequestIdMiddleware
from src.services.event_hub import EventHub

logger = logging.getLogger(__name__)

API_DESCRIPTION = """\
Personal task lists for users signed in through Better Auth.

Every `/api/{user_id}/tasks` call needs `Authorization: Bearer <JWT>`: an HS256 token signed with
`BETTER_AUTH_SECRET` whose `sub` is the user id in the path (or, when `JWT_JWKS_URL` is set, a
token from Better Auth's JWT plugin). Click **Authorize** and paste a token
(`make token USER=alice` prints one).

Single tasks carry an `ETag`: send it back in `If-Match` so a write cannot overwrite a change you
have not seen (412), or in `If-None-Match` to get 304 when nothing changed. A create with an
`Idempotency-Key` can be retried safely. Every response carries `X-Request-ID`.
"""
# Headers a browser may send cross-origin, and response headers its scripts may read.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "Location",
    "ETag",
    "Link",
    "X-Total-Count",
    "X-Request-ID",
    "Idempotent-Replayed",
    "Retry-After",
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or explained(get_settings)
    app = FastAPI(
        title="Task API",
        version="1.0.0",
        description=API_DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        # Served by install_docs from the package's files; FastAPI's own pages load a CDN.
        docs_url=None,
        redoc_url=None,
    )
    # Read once here, never per request: the routes find both on app.state.
    app.state.settings = settings
    app.state.database = None  # a Database from start-up on, opened in the serving event loop
    app.state.events = None  # an EventHub from start-up on: this worker's live streams
    app.state.jwks = None  # a JWKSClient from start-up on, when JWT_JWKS_URL is set
    app.state.accepted_tokens = AcceptedTokens(settings)
    app.state.metrics = HttpMetrics()
    app.state.database_probe = health.DatabaseProbe()
    # Outermost last: the request id exists before the access log, and both see CORS answers.
    # HEAD-as-GET and the body limit are innermost, so CORS wraps them and a 413 still carries
    # the CORS headers.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        JSONCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
    )
    app.add_middleware(AccessLogMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    # Before the task routes: `/events` would otherwise be read as a `{task_id}`.
    app.include_router(task_events.router)
    app.include_router(tasks.router)
    app.include_router(health.router)
    install_docs(app)
    finish_document(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(settings)
    logger.info("task api starting (environment=%s)", settings.environment)
    # Blocking, once: starting the embedded server (no DATABASE_URL) takes about a second.
    embedded, url = None, settings.database_url
    if url is None:
        embedded = embedded_server()
        url = embedded_server_url(embedded)
    app.state.database = Database(url, settings)
    await app.state.database.open()
    # Connects on the first stream only: a worker nobody follows live holds no extra connection.
    app.state.events = EventHub(settings.database_direct_url or url, settings)
    if settings.jwt_jwks_url:
        # Made here, inside the serving event loop, which its lock and connections belong to.
        app.state.jwks = JWKSClient(settings)
        if not (settings.jwt_issuer and settings.jwt_audience):
            logger.warning("JWT_JWKS_URL is set without JWT_ISSUER and JWT_AUDIENCE: not checked")
    try:
        yield
    finally:
        await app.state.events.close()
        if app.state.jwks is not None:
            await app.state.jwks.aclose()
            app.state.jwks = None
        await app.state.database.close()
        app.state.database = None
        if embedded is not None:
            # Here, not at exit: uvicorn ends a SIGTERM by re-raising it, which skips atexit.
            # The server stops if this was the last process using it.
            embedded.cleanup()


def _operation_id(route: APIRoute) -> str:
    # Stable, readable ids for client generators: the Python function name.
    return route.name


def tune_garbage_collector() -> None:
    """Fewer, cheaper cycle collections for a long-running server; once per process.

    Under `make bench` at 1,000 connections CPython's defaults spent about 1.5 s of each
    worker's 13 s in the cycle collector: some 500 young and 4 full collections, each full one
    scanning every module, class and function along with the requests in flight. Start-up
    objects frozen here are never scanned again, and a young generation of 50,000 allocations
    instead of 700 leaves reference counting to free nearly everything first: 0.06-0.12 s.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


GC_YOUNG_THRESHOLD = 50_000
app = create_app()
tune_garbage_collector()  # after everything the app needs is imported and built
