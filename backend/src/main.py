"""The FastAPI application: `src.main:app`."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from src.api.routes import tasks
from src.config import Settings, get_settings
from src.db import create_db_engine
from src.errors import install_error_handlers
from src.middleware.body_limit import BodyLimitMiddleware
from src.schemas.responses import HealthResponse

logger = logging.getLogger(__name__)

API_DESCRIPTION = """\
Personal task lists for users signed in through Better Auth.

Every `/api/{user_id}/tasks` call needs `Authorization: Bearer <JWT>`: an HS256 token signed with
`BETTER_AUTH_SECRET` whose `sub` is the user id in the path. Click **Authorize** and paste a token
(`make token USER=alice` prints one).
"""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or _load_settings()
    app = FastAPI(
        title="Task API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
    )
    # Read once here, never per request: the routes find both on app.state.
    app.state.settings = settings
    app.state.engine = engine or create_db_engine(settings)
    app.state.owns_engine = engine is None
    # Added before CORS so that CORS wraps it and a 413 still carries the CORS headers.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Location"],
    )
    install_error_handlers(app)
    app.include_router(tasks.router)
    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "The database is unreachable"}},
        tags=["health"],
    )
    return app


def health(request: Request) -> JSONResponse:
    """Whether the service can reach its database (the secret was checked at start-up)."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        logger.error("health check failed: %s", type(error).__name__)
        return JSONResponse(
            {"status": "unhealthy", "database": "unreachable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse({"status": "healthy", "database": "ok"})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logger.info("task api starting (environment=%s)", settings.environment)
    yield
    if app.state.owns_engine:
        app.state.engine.dispose()


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        # One line a person can act on, instead of a traceback.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"Configuration error: {problems}") from None


def _operation_id(route: APIRoute) -> str:
    # Stable, readable ids for client generators: the Python function name.
    return route.name


app = create_app()
