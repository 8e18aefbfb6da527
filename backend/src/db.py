"""The engine: connection pool, time limits and liveness checks."""

import select
import time
from functools import partial
from typing import Any
from weakref import WeakSet

import psycopg2
from psycopg2 import extensions
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import create_engine

from src.config import DatabaseSettings


def create_db_engine(settings: DatabaseSettings) -> Engine:
    """An engine whose pooled connections autocommit; `transactional` gives the same pool with
    transactions.

    Most requests send one statement, and a lone statement needs no BEGIN and COMMIT round
    trips around it. Connections rest in autocommit so that choosing it costs nothing: a pool
    of transactional connections would send `SET default_transaction_isolation` each time an
    autocommit connection went back.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # psycopg2 has one process-wide wait hook (it replaces libpq's own connect_timeout, which
    # only blocking connects honour): every PostgreSQL engine in the process shares these bounds.
    bounds = (settings.db_connect_timeout, settings.db_query_timeout)
    extensions.set_wait_callback(partial(_wait_within, *bounds))
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"connect_timeout": settings.db_connect_timeout},
        isolation_level=AUTOCOMMIT,
    )
    _ping_when_idle(engine, settings.db_ping_after_idle)
    _RESTING_IN_AUTOCOMMIT.add(engine)
    return engine


AUTOCOMMIT = "AUTOCOMMIT"
_RESTING_IN_AUTOCOMMIT: "WeakSet[Engine]" = WeakSet()
# The databases' own defaults: what a transaction gets when nothing asks for another level.
_TRANSACTION_LEVELS = {"postgresql": "READ COMMITTED", "sqlite": "SERIALIZABLE"}


def autocommit(engine: Engine) -> Engine:
    """The engine for lone statements, each committing itself.

    An engine from `create_db_engine` already is one, and is returned as it is: choosing
    autocommit per connection costs Python work on every checkout. Any other engine gets the
    option, so a statement can never sit in a transaction nobody commits.
    """
    if engine in _RESTING_IN_AUTOCOMMIT:
        return engine
    return engine.execution_options(isolation_level=AUTOCOMMIT)


def transactional(engine: Engine) -> Engine:
    """The same pool, for work that needs several statements in one transaction."""
    return engine.execution_options(isolation_level=_TRANSACTION_LEVELS[engine.dialect.name])


_RETURNED_AT = "returned_at"


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pre-ping a pooled connection only when it sat idle for `idle_seconds` or more.

    Neon suspends an idle compute and poolers drop idle clients, so a connection that waited in
    the pool may be dead: ping it first and replace it if so. A connection in steady use is alive,
    and pinging it on every checkout (`pool_pre_ping`) would add a round trip to every request.
    """

    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # new, or busy recently
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out a fresh one.
            raise DisconnectionError(f"idle connection is dead: {type(error).__name__}") from error

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


def _wait_within(connect_seconds: float, query_seconds: float, connection: Any) -> None:
    """Drives one libpq operation (connecting, or one query round trip) to a time limit.

    libpq itself waits forever on a server that accepts bytes but never answers (a paused VM,
    a frozen process): without this bound one request, and then the pool, would hang with it.
    The connection is unusable after a timeout; psycopg2 marks it closed and SQLAlchemy
    discards it, so the request becomes a 503 and the pool heals.
    """
    connecting = connection.status == extensions.STATUS_SETUP
    seconds = connect_seconds if connecting else query_seconds
    deadline = time.monotonic() + seconds
    while (state := connection.poll()) != extensions.POLL_OK:
        fd = connection.fileno()
        reading = state == extensions.POLL_READ
        remaining = max(deadline - time.monotonic(), 0)
        ready = select.select([fd] if reading else [], [] if reading else [fd], [], remaining)
        if ready == ([], [], []):
            raise psycopg2.OperationalError(f"database did not answer within {seconds:g} s")


def _sqlite_engine(url: str) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    extra: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
    # Requests run in a thread pool, so a connection may be used by threads other than its creator.
    engine = create_engine(
        url, connect_args={"check_same_thread": False}, isolation_level=AUTOCOMMIT, **extra
    )
    if not in_memory:
        event.listen(engine, "connect", _tune_sqlite_file)
    _RESTING_IN_AUTOCOMMIT.add(engine)
    return engine


def _tune_sqlite_file(dbapi_connection: Any, _record: object) -> None:
    # WAL lets readers proceed during a write; busy_timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
