"""DatabaseThreads: a bounded wait for a thread, and no work for clients that have gone."""

import threading

import anyio
import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from src.db_threads import DatabaseThreads, RequestAbandonedError


def test_work_beyond_the_threads_waits_then_is_refused_within_the_bound() -> None:
    threads = DatabaseThreads(size=1, wait_seconds=0.2)
    release = threading.Event()

    async def scenario() -> float:
        async with anyio.create_task_group() as group:
            group.start_soon(threads.run, release.wait)
            await anyio.sleep(0.05)  # the one thread is now busy
            started = anyio.current_time()
            with pytest.raises(PoolTimeoutError):
                await threads.run(lambda: None)
            waited = anyio.current_time() - started
            release.set()
        return waited

    assert 0.15 <= anyio.run(scenario) < 2


@pytest.mark.parametrize("gone", [True, False])
def test_work_that_waited_runs_only_if_its_client_is_still_there(gone: bool) -> None:
    threads = DatabaseThreads(size=1, wait_seconds=5)
    release = threading.Event()
    ran: list[str] = []

    async def client_gone() -> bool:
        return gone

    async def waiting() -> None:
        try:
            await threads.run(lambda: ran.append("waited"), client_gone)
        except RequestAbandonedError:
            ran.append("abandoned")

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(threads.run, release.wait)
            await anyio.sleep(0.05)
            group.start_soon(waiting)
            await anyio.sleep(0.05)  # queued behind the busy thread
            release.set()
        # Its slot was given back either way: the next work runs at once.
        await threads.run(lambda: ran.append("next"))

    anyio.run(scenario)

    assert ran == ["abandoned" if gone else "waited", "next"]


def test_work_that_did_not_wait_does_not_ask_about_its_client() -> None:
    threads = DatabaseThreads(size=1, wait_seconds=5)
    asked: list[bool] = []

    async def client_gone() -> bool:
        asked.append(True)
        return True

    assert anyio.run(threads.run, lambda: "done", client_gone) == "done"
    assert asked == []
