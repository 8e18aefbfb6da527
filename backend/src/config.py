"""The one settings object: process environment first, then `.env`."""

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
# As shipped in .env.example: not a secret, the one value that must never be used as one.
PLACEHOLDER_SECRET = "replace-me-with-at-least-32-random-bytes"  # noqa: S105
_BACKEND_DIR = Path(__file__).resolve().parents[1]
# The repository's .env (beside docker-compose.yml), then backend/.env; later files win.
ENV_FILES = (_BACKEND_DIR.parent / ".env", _BACKEND_DIR / ".env")


class DatabaseSettings(BaseSettings):
    """What migrations need: the database alone, so `alembic` runs without the auth secret."""

    # The process environment wins over .env (pydantic-settings reads it through python-dotenv).
    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", frozen=True)

    # Unset: the embedded PostgreSQL under backend/.pgdata (src/embedded_db.py), no server needed.
    database_url: str | None = None
    # The live updates' listener only (LISTEN needs a session): the server itself, not a
    # transaction-mode pooler. Unset: DATABASE_URL.
    database_direct_url: str | None = None
    # Connections per worker process; the pool holds exactly this many.
    db_pool_size: Annotated[int, Field(ge=1)] = 5
    db_pool_timeout: float = 10.0  # seconds a request waits for a pooled connection before a 503
    db_connect_timeout: int = 5  # seconds, so an unreachable server fails fast instead of hanging
    db_query_timeout: float = 10.0  # seconds a request's database work may take before a 503
    db_ping_after_idle: float = 30.0  # seconds idle in the pool before a connection is re-checked
    # psycopg prepares a statement server-side after this many executions on one connection;
    # empty turns preparing off (PgBouncer before 1.21 in transaction mode needs that).
    db_prepare_threshold: int | None = 5

    @field_validator("database_url", "database_direct_url", "db_prepare_threshold", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _libpq_url(cls, value: str | None) -> str | None:
        # psycopg takes libpq's URL; SQLAlchemy-style driver suffixes and Heroku's `postgres://`
        # are spelled differently but mean the same server.
        if value is None:
            return None
        for prefix in _POSTGRES_PREFIXES:
            if value.startswith(prefix):
                return "postgresql://" + value.removeprefix(prefix)
        raise ValueError(
            "must be a PostgreSQL URL (postgresql://user:password@host/db), or empty for the "
            "embedded PostgreSQL"
        )


_POSTGRES_PREFIXES = (
    "postgresql://",
    "postgres://",
    "postgresql+psycopg://",
    "postgresql+psycopg2://",
)


class Settings(DatabaseSettings):
    better_auth_secret: SecretStr
    cors_origins: Annotated[list[str], NoDecode] = []
    environment: Literal["development", "test", "staging", "production"] = "development"
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    jwt_issuer: str | None = None  # checked only when set
    jwt_audience: str | None = None  # checked only when set
    jwt_leeway_seconds: Annotated[int, Field(ge=0, le=60)] = 30
    # Opt-in: also accept Better Auth's asymmetric tokens, checked with the keys published here.
    jwt_jwks_url: str | None = None
    # A whole fetch, connect to last byte.
    jwt_jwks_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 3.0
    # Keys are refetched after this, so removed keys stop working.
    jwt_jwks_cache_seconds: Annotated[int, Field(ge=0)] = 300
    # Unknown `kid`s cannot trigger fetches more often.
    jwt_jwks_min_refetch_seconds: Annotated[float, Field(ge=0)] = 10.0
    # While the endpoint fails, keys last fetched longer ago than this stop working (503).
    jwt_jwks_stale_seconds: int = 3600
    log_format: Literal["text", "json"] = "text"
    # A task is under 2 KiB of JSON; larger bodies get a 413.
    max_body_bytes: Annotated[int, Field(ge=1)] = 64 * 1024
    # Checked by the server's protocol (src/http_protocol.py) before the app sees a request.
    # Request line and headers; browsers send under 8 KiB.
    max_header_bytes: Annotated[int, Field(ge=1)] = 16 * 1024
    max_header_count: Annotated[int, Field(ge=1)] = 100
    # In-flight requests get this long after SIGTERM; then they are cancelled (and rolled back).
    shutdown_timeout_seconds: Annotated[int, Field(ge=0)] = 5
    # Live updates (GET /api/{user_id}/tasks/events): how long events can be replayed, and the
    # bounds of one worker process's streams.
    task_events_retention_hours: Annotated[int, Field(ge=1)] = 168
    stream_heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = 15.0
    streams_per_user: Annotated[int, Field(ge=1)] = 10
    streams_per_worker: Annotated[int, Field(ge=1)] = 1000
    # Events waiting for a slow reader before it must resync.
    stream_queue_size: Annotated[int, Field(ge=1)] = 100

    @field_validator("better_auth_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if value.get_secret_value() == PLACEHOLDER_SECRET:
            # A copied-but-unedited .env.example would sign with a secret everyone knows.
            raise ValueError(
                "BETTER_AUTH_SECRET is the .env.example placeholder; generate a real one"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("JWT_JWKS_URL must be an http:// or https:// URL")
        return value

    @field_validator("jwt_jwks_stale_seconds")
    @classmethod
    def _not_below_cache_time(cls, value: int, info: ValidationInfo) -> int:
        # Keys are not refetched before the cache time: a shorter limit would grant no grace.
        cache = info.data.get("jwt_jwks_cache_seconds")
        if cache is not None and value < cache:
            raise ValueError(
                f"JWT_JWKS_STALE_SECONDS must be at least JWT_JWKS_CACHE_SECONDS ({cache})"
            )
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def task_events_retention(self) -> timedelta:
        return timedelta(hours=self.task_events_retention_hours)

    @field_validator("jwt_issuer", "jwt_audience", "jwt_jwks_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache
def get_settings() -> Settings:
    return Settings()


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def explained(load: Callable[[], SettingsT]) -> SettingsT:
    """`load()`, or an exit with one line a person can act on instead of a traceback."""
    try:
        return load()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"Configuration error: {problems}") from None
