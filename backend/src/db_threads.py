"""Database work runs in at most one thread per pooled connection, behind a bounded wait."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

T = TypeVar("T")


class RequestAbandonedError(Exception):
    """The client went away while its request waited for a thread; its work was not started."""


class DatabaseThreads:
    """Runs a request's database work in a thread, `size` at a time: one per pooled connection.

    A thread that starts always finds a free connection, so no thread ever sits holding a
    request while it waits for one, and no connection is ever held by a request waiting for a
    thread. Requests beyond `size` queue here, in arrival order, on the event loop; one that
    gets no thread within `wait_seconds` is refused with the pool's own timeout error (a 503).
    Fewer threads also means less contention for Python's global lock: each worker process
    runs Python on one core at a time however many threads it has.
    """

    def __init__(self, size: int, wait_seconds: float) -> None:
        self._admitted = anyio.Semaphore(size)
        self._threads = anyio.CapacityLimiter(size)
        self._wait_seconds = wait_seconds

    async def run(
        self, work: Callable[[], T], client_gone: Callable[[], Awaitable[bool]] | None = None
    ) -> T:
        """`work()` in a thread. After a wait for one, `client_gone()` is asked first: work for
        a client that has closed its connection is not started (it would read no answer), so
        under overload the threads serve requests someone still waits for."""
        waited = self._admitted.value == 0
        admitted = False
        with anyio.move_on_after(self._wait_seconds):
            await self._admitted.acquire()
            admitted = True
        if not admitted:
            raise PoolTimeoutError(
                f"no database thread became free within {self._wait_seconds:g} s"
            )
        try:
            if waited and client_gone is not None and await client_gone():
                raise RequestAbandonedError
            return await anyio.to_thread.run_sync(work, limiter=self._threads)
        finally:
            self._admitted.release()
