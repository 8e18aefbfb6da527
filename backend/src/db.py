"""The database: psycopg 3's async pool and its time limits.

Requests await the pool directly on the event loop; no thread hop. Pooled connections rest in
autocommit, so the common request is one statement and one round trip; work that needs several
statements opens a transaction explicitly (`connection.transaction()`).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Self
from weakref import WeakKeyDictionary

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from src.config import DatabaseSettings
from src.embedded_db import embedded_url
from src.errors import RequestAbandonedError

Connection = AsyncConnection[DictRow]
ClientGone = Callable[[], Awaitable[bool]]

# psycopg answers a cancelled query by asking the server to cancel it and waiting up to 5 s for
# that; a server that answers nothing (frozen, or a dead network) would hold the request for
# those 5 s. A second cancel this long after the first makes psycopg close the connection.
_CANCEL_GRACE_SECONDS = 0.2
# A client that waited this long for its request to get a connection may have given up: it is
# asked before the work starts. Clients give up after seconds, and asking costs a cancelled
# receive on every request, so a shorter wait (the common one under load) is not asked about.
_WAITED_SECONDS = 1.0
# How long the pool itself keeps retrying a failed connect, with growing pauses, before it
# leaves the next attempt to the next request that waits. Short, so that a service follows a
# database that comes back within about a second, not after a backoff of many seconds.
_RECONNECT_SECONDS = 2.0


class DatabaseTimeoutError(psycopg.OperationalError):
    """The database did not finish a request's work within DB_QUERY_TIMEOUT."""


def database_url(settings: DatabaseSettings) -> str:
    """DATABASE_URL, or the embedded server's when it is unset."""
    return settings.database_url or embedded_url()


def sqlalchemy_url(url: str) -> str:
    """The same server, for SQLAlchemy (Alembic, the tests' schema): psycopg 3's sync driver."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


class Database:
    """The pool and its bounds. `connection()` is the one way requests reach PostgreSQL."""

    def __init__(self, url: str, settings: DatabaseSettings) -> None:
        self._pool_seconds = settings.db_pool_timeout
        self._connect_seconds = float(settings.db_connect_timeout)
        self._work_seconds = settings.db_query_timeout
        self._connects = _ConnectOutcomes()
        self._idle = _IdleConnections(settings.db_ping_after_idle, settings.db_query_timeout)
        options: dict[str, object] = {
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": settings.db_prepare_threshold,
            "connect_timeout": settings.db_connect_timeout,
        }
        if "application_name" not in conninfo_to_dict(url):
            options["application_name"] = "task-api"
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=settings.db_pool_size,
            max_size=settings.db_pool_size,
            timeout=settings.db_pool_timeout,
            kwargs=options,
            connection_class=self._connects.connection_class(),
            reconnect_timeout=_RECONNECT_SECONDS,
            configure=self._configure,
            open=False,
            name="tasks",
        )

    async def _configure(self, connection: Connection) -> None:
        # Timestamps come back in the session's time zone, which the server's configuration
        # picks; clients always get UTC, and converting here costs nothing per row. PgBouncer
        # tracks TimeZone per client, so this holds behind a transaction pooler too.
        await connection.execute("SET TIME ZONE 'UTC'")
        self._idle.used(connection)  # a new connection counts as just used

    async def open(self) -> None:
        # Not waiting for the connections: the service starts, and answers 503, while the
        # database is down, then heals once it is back.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self, client_gone: ClientGone | None = None) -> AsyncIterator[Connection]:
        """A pooled connection, the work on it bounded by DB_QUERY_TIMEOUT.

        After a wait for a connection, `client_gone()` is asked first: work for a client that
        has closed its connection is not started (it would read no answer), so under overload
        the pool serves requests someone still waits for.
        """
        asked = time.monotonic()
        connection = await self._checkout(asked + self._pool_seconds)
        try:
            waited = time.monotonic() - asked > _WAITED_SECONDS
            if waited and client_gone is not None and await client_gone():
                raise RequestAbandonedError
            async with within(self._work_seconds):
                yield connection
        finally:
            # Stamped here, not in the pool's `reset` hook: with a hook the pool hands every
            # return to a background worker, and the next request waits for it.
            self._idle.used(connection)
            await self.pool.putconn(connection)

    async def _checkout(self, deadline: float) -> Connection:
        """A pooled connection known to be alive: one that idled too long is pinged first.

        A dead one is closed (the pool replaces it) and the next is tried at once, until the
        deadline: after a Neon compute suspended, every idle connection may be dead.
        """
        while True:
            connection = await self._getconn(deadline)
            if await self._idle.alive(connection):
                return connection
            await connection.close()
            await self.pool.putconn(connection)

    async def _getconn(self, deadline: float) -> Connection:
        """A connection from the pool by the deadline, or PoolTimeout.

        While the pool's connects fail (the database is down or frozen), waiting the whole
        DB_POOL_TIMEOUT for a connection that cannot come would only delay the 503: after one
        connect's worth of waiting, a request gives up if connecting is what fails.
        """
        now = time.monotonic()
        if now >= deadline:
            raise PoolTimeout("no live database connection in time")
        first = min(deadline - now, self._connect_seconds)
        try:
            return await self.pool.getconn(timeout=first)
        except PoolTimeout:
            if self._connects.failing or time.monotonic() >= deadline:
                raise
        return await self.pool.getconn(timeout=max(deadline - time.monotonic(), 0.001))


@asynccontextmanager
async def within(seconds: float) -> AsyncIterator[None]:
    """Bounds the block to `seconds`, then DatabaseTimeoutError, whatever the server does.

    libpq itself waits forever on a server that accepts bytes but never answers (a paused VM, a
    frozen process); without this bound one request, and then the pool, would hang with it.
    The pool discards a connection left mid-query, so the request becomes a 503 and the pool heals.
    """
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside a task under asyncio
        raise RuntimeError("within() needs a running task")
    cancelled_again = False

    def cancel_again() -> None:
        nonlocal cancelled_again
        cancelled_again = True
        task.cancel()

    loop = asyncio.get_running_loop()
    second = loop.call_later(seconds + _CANCEL_GRACE_SECONDS, cancel_again)
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise DatabaseTimeoutError(f"database did not answer within {seconds:g} s") from None
    except asyncio.CancelledError:
        # Our own second cancel, and nobody else's: the timeout, not a cancelled request.
        if cancelled_again and task.uncancel() == 0:
            raise DatabaseTimeoutError(f"database did not answer within {seconds:g} s") from None
        raise
    finally:
        second.cancel()


class _ConnectOutcomes:
    """Whether the pool's latest attempt to connect failed: the database is down or frozen."""

    def __init__(self) -> None:
        self.failing = False

    def connection_class(self) -> type[Connection]:
        outcomes = self

        class RecordingConnection(AsyncConnection[DictRow]):
            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Self:
                try:
                    connection = await super().connect(*args, **kwargs)
                except psycopg.OperationalError:
                    outcomes.failing = True
                    raise
                outcomes.failing = False
                return connection

        return RecordingConnection


class _IdleConnections:
    """Pings a pooled connection before use only when it sat idle for `idle_seconds` or more.

    Neon suspends an idle compute and poolers drop idle clients, so a connection that waited in
    the pool may be dead. A connection in steady use is alive, and pinging it on every checkout
    would add a round trip per request.
    """

    def __init__(self, idle_seconds: float, ping_seconds: float) -> None:
        self._idle_seconds = idle_seconds
        self._ping_seconds = ping_seconds
        self._used_at: WeakKeyDictionary[Connection, float] = WeakKeyDictionary()

    def used(self, connection: Connection) -> None:
        self._used_at[connection] = time.monotonic()

    async def alive(self, connection: Connection) -> bool:
        used_at = self._used_at.get(connection, 0.0)
        if time.monotonic() - used_at < self._idle_seconds:
            return True  # busy recently
        try:
            async with within(self._ping_seconds):
                await connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True
