"""The one settings object: process environment first, then `.env`."""

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator
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
    db_pool_size: int = 5  # connections per worker process; the pool holds exactly this many
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

    @field_validator("db_pool_size")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("DB_POOL_SIZE must be at least 1")
        return value


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
    jwt_leeway_seconds: int = 30
    # Opt-in: also accept Better Auth's asymmetric tokens, checked with the keys published here.
    jwt_jwks_url: str | None = None
    jwt_jwks_timeout_seconds: float = 3.0  # a whole fetch, connect to last byte
    jwt_jwks_cache_seconds: int = 300  # keys are refetched after this, so removed keys stop working
    jwt_jwks_min_refetch_seconds: float = 10.0  # unknown `kid`s cannot trigger fetches more often
    # While the endpoint fails, keys last fetched longer ago than this stop working (503).
    jwt_jwks_stale_seconds: int = 3600
    log_format: Literal["text", "json"] = "text"
    max_body_bytes: int = 64 * 1024  # a task is under 2 KiB of JSON; larger bodies get a 413
    # Live updates (GET /api/{user_id}/tasks/events): how long events can be replayed, and the
    # bounds of one worker process's streams.
    task_events_retention_hours: int = 168
    stream_heartbeat_seconds: float = 15.0
    streams_per_user: int = 10
    streams_per_worker: int = 1000
    stream_queue_size: int = 100  # events waiting for a slow reader before it must resync

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

    @field_validator("jwt_leeway_seconds")
    @classmethod
    def _bounded_leeway(cls, value: int) -> int:
        if not 0 <= value <= 60:
            raise ValueError("JWT_LEEWAY_SECONDS must be between 0 and 60")
        return value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("JWT_JWKS_URL must be an http:// or https:// URL")
        return value

    @field_validator("jwt_jwks_timeout_seconds")
    @classmethod
    def _bounded_timeout(cls, value: float) -> float:
        if not 0 < value <= 30:
            raise ValueError("JWT_JWKS_TIMEOUT_SECONDS must be above 0 and at most 30")
        return value

    @field_validator("jwt_jwks_cache_seconds", "jwt_jwks_min_refetch_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("JWKS cache and refetch intervals must not be negative")
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

    @field_validator("max_body_bytes")
    @classmethod
    def _positive_body_limit(cls, value: int) -> int:
        if value < 1:
            raise ValueError("MAX_BODY_BYTES must be at least 1")
        return value

    @field_validator(
        "task_events_retention_hours", "streams_per_user", "streams_per_worker", "stream_queue_size"
    )
    @classmethod
    def _at_least_one_of(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"{(info.field_name or '').upper()} must be at least 1")
        return value

    @field_validator("stream_heartbeat_seconds")
    @classmethod
    def _positive_heartbeat(cls, value: float) -> float:
        if not 0 < value <= 300:
            raise ValueError("STREAM_HEARTBEAT_SECONDS must be above 0 and at most 300")
        return value

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
