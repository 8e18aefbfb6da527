"""One listener per worker process: PostgreSQL's notifications, fanned out to this worker's streams.

Writes announce their event with `pg_notify` (src/services/event_statements.py). Each worker
keeps one connection of its own, outside the pool, LISTENing; it is opened on the first stream,
reopened with a growing pause when lost, and hands each event to the open streams of that
event's user in this process only, so a worker never parses what none of its clients asked for.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from pydantic import TypeAdapter

from src.config import Settings
from src.errors import DatabaseUnavailableError, TooManyStreamsError
from src.schemas.responses import TaskResponse
from src.services.event_statements import CHANNEL

logger = logging.getLogger(__name__)

_FIRST_PAUSE_SECONDS, _LONGEST_PAUSE_SECONDS = 0.5, 10.0
# A quiet listener checks its connection this often: a dead one must not go unnoticed.
_PING_SECONDS = 30.0
_TASK = TypeAdapter(TaskResponse)
LISTENER_NAME = "task-api-events"  # its application_name, for pg_stat_activity
LOST = "The server lost its database connection; reload the task list, then reconnect"
BEHIND = "The stream fell too far behind; reload the task list, then reconnect"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    frame: bytes  # the whole Server-Sent Events message


def feed_event(event_id: int, kind: str, task_id: int, task: dict[str, Any] | None) -> FeedEvent:
    """The event as a client receives it: the task as the API answers it, or its id if gone."""
    data = (
        json.dumps({"id": task_id}).encode()
        if task is None
        else _TASK.dump_json(_TASK.validate_python(task))
    )
    return FeedEvent(event_id, b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, kind.encode(), data))


# Reads one of the owner's stored events (for one announced without its task), or None.
Loader = Callable[[str, int], Awaitable[dict[str, Any] | None]]


class Subscription:
    """One open stream's inbox: bounded, so a slow reader cannot make the worker hoard events."""

    def __init__(self, owner: str, size: int) -> None:
        self.owner = owner
        self.queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(size)
        self.ended: str | None = None  # why the hub ended it: the client must reload

    def deliver(self, event: FeedEvent) -> None:
        if self.ended is None:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.end(BEHIND)

    def end(self, reason: str) -> None:
        self.ended = reason
        with contextlib.suppress(asyncio.QueueFull):  # full: its reader is not waiting anyway
            self.queue.put_nowait(None)  # wakes a reader waiting on an empty queue


class EventHub:
    """This worker's streams by user, the listener that feeds them, and their bounds."""

    def __init__(self, url: str, settings: Settings, load: Loader) -> None:
        self._url = url
        self._load = load
        self._per_user = settings.streams_per_user
        self._per_worker = settings.streams_per_worker
        self._queue_size = settings.stream_queue_size
        self._connect_seconds = settings.db_connect_timeout
        self._streams: dict[str, set[Subscription]] = {}
        self._count = 0
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def subscribe(self, owner: str) -> Subscription:
        """A new stream's inbox, once the listener is known to hear every later event."""
        if self._count >= self._per_worker:
            raise TooManyStreamsError.on_server()
        mine = self._streams.setdefault(owner, set())
        if len(mine) >= self._per_user:
            raise TooManyStreamsError.of_user(self._per_user)
        subscription = Subscription(owner, self._queue_size)
        mine.add(subscription)
        self._count += 1
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="task-events-listener")
        try:
            async with asyncio.timeout(self._connect_seconds):
                await self._listening.wait()
        except TimeoutError:
            self.unsubscribe(subscription)
            raise DatabaseUnavailableError from None
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        mine = self._streams.get(subscription.owner)
        if mine is not None and subscription in mine:
            mine.remove(subscription)
            self._count -= 1
            if not mine:
                del self._streams[subscription.owner]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self) -> None:
        pause = _FIRST_PAUSE_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=self._connect_seconds,
                    application_name=LISTENER_NAME,
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    pause = _FIRST_PAUSE_SECONDS
                    await self._relay(connection)
            except (psycopg.Error, OSError, TimeoutError) as error:
                logger.warning(
                    "task events listener: %s; reconnecting in %.1f s", type(error).__name__, pause
                )
            except Exception:  # a bug: logged, and the listener lives on for the next streams
                logger.exception("task events listener failed; reconnecting in %.1f s", pause)
            finally:
                if self._listening.is_set():
                    # Events may pass unheard until the next LISTEN: no stream may miss them.
                    self._listening.clear()
                    self._end_all(LOST)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)

    async def _relay(self, connection: psycopg.AsyncConnection[Any]) -> None:
        while True:
            async for notification in connection.notifies(timeout=_PING_SECONDS):
                try:
                    await self._dispatch(notification.payload)
                except (psycopg.Error, OSError):
                    raise
                except Exception:  # a bug in one event must not silence all the others
                    logger.exception("task event could not be delivered")
            async with asyncio.timeout(self._connect_seconds):
                await connection.execute("SELECT 1")

    async def _dispatch(self, payload: str) -> None:
        note = json.loads(payload)
        streams = self._streams.get(note["user_id"])
        if not streams:
            return
        task = note.get("task")
        if "task" not in note:  # too large to announce: read it from the table
            stored = await self._load(note["user_id"], note["id"])
            if stored is None:  # already purged
                return
            task = stored["task"]
        event = feed_event(note["id"], note["kind"], note["task_id"], task)
        for subscription in list(streams):
            subscription.deliver(event)

    def _end_all(self, reason: str) -> None:
        for streams in self._streams.values():
            for subscription in streams:
                subscription.end(reason)
