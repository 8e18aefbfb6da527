"""One listener per worker process: PostgreSQL's notifications, fanned out to this worker's streams.

Writes announce their event with `pg_notify` (src/services/event_statements.py). Each worker
keeps one connection of its own, outside the pool, LISTENing; it is opened on the first stream,
reopened with a growing pause when lost, closed once the worker has had no stream for a heartbeat
interval, and hands each event to the open streams of that event's user in this process only.
"""

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import psycopg

from src.config import Settings
from src.errors import DatabaseUnavailableError, TooManyStreamsError
from src.services.event_statements import CHANNEL
from src.services.subscription import LOST, FeedEvent, Subscription, feed_event, notice

logger = logging.getLogger(__name__)

_FIRST_PAUSE_SECONDS, _LONGEST_PAUSE_SECONDS = 0.5, 10.0
# A quiet listener checks its connection this often: a dead one must not go unnoticed.
_PING_SECONDS = 30.0
LISTENER_NAME = "task-api-events"  # its application_name, for pg_stat_activity
# The hub looks at its streams at least this often, for keep-alives and expired tokens.
_LONGEST_TICK_SECONDS = 1.0


class EventHub:
    """This worker's streams by user, the listener that feeds them, and their bounds."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self._per_user = settings.streams_per_user
        self._per_worker = settings.streams_per_worker
        self._queue_size = settings.stream_queue_size
        self._connect_seconds = settings.db_connect_timeout
        # Also how long the listener outlives the last stream: a reload reopens it within a second.
        self._heartbeat = settings.stream_heartbeat_seconds
        self._tick_seconds = min(_LONGEST_TICK_SECONDS, self._heartbeat / 2)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._streams: dict[str, set[Subscription]] = {}
        self._count = 0
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def subscribe(self, owner: str, expires_at: float | None) -> Subscription:
        """A new stream's inbox, once the listener is known to hear every later event; it ends
        at `expires_at` (Unix time), the token's expiry."""
        if self._count >= self._per_worker:
            raise TooManyStreamsError.on_server()
        mine = self._streams.setdefault(owner, set())
        if len(mine) >= self._per_user:
            raise TooManyStreamsError.of_user(self._per_user)
        subscription = Subscription(owner, self._queue_size, expires_at)
        mine.add(subscription)
        self._count += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="task-events-listener")
            self._sweeper = asyncio.create_task(self._sweep(), name="task-events-sweeper")
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
            if self._count == 0 and self._listener is not None:
                loop = asyncio.get_running_loop()
                self._idle_timer = loop.call_later(self._heartbeat, self._stop_listening)

    def _stop_listening(self) -> None:
        """No stream here for a while: PostgreSQL need no longer wake this worker on every write."""
        self._idle_timer = None
        if self._count == 0 and self._listener is not None:
            for task in self._tasks():
                task.cancel()
            self._listener = self._sweeper = None
            self._listening.clear()  # the next stream waits for a new LISTEN

    async def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for task in self._tasks():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listener = self._sweeper = None

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [task for task in (self._listener, self._sweeper) if task is not None]

    async def _sweep(self) -> None:
        """Keep-alives for streams quiet for a heartbeat, and the end of expired ones: one timer
        for all the streams, none on the way of an event."""
        while True:
            await asyncio.sleep(self._tick_seconds)
            now, wall = time.monotonic(), time.time()
            for mine in self._streams.values():
                for subscription in mine:
                    subscription.tick(now, wall, self._heartbeat)

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
                # A listener stopped for idleness may end after its successor has started.
                if self._listening.is_set() and self._listener is asyncio.current_task():
                    # Events may pass unheard until the next LISTEN: no stream may miss them.
                    self._listening.clear()
                    self._end_all(LOST)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)

    async def _relay(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Hands on each notification as its bytes arrive, read straight off the socket: psycopg's
        notifies() sets up a wait per notification, which cost each worker about 100 µs of CPU
        per event (docs/performance.md). Every _PING_SECONDS a query checks the connection."""
        loop = asyncio.get_running_loop()
        pgconn, socket = connection.pgconn, connection.fileno()
        lost: asyncio.Future[None] = loop.create_future()
        # Notifications that arrive during the ping are read by psycopg, which hands them here.
        connection.add_notify_handler(lambda notification: self._hand_on(notification.payload))

        def readable() -> None:
            try:
                pgconn.consume_input()
            except psycopg.OperationalError as error:
                loop.remove_reader(socket)
                if not lost.done():
                    lost.set_exception(error)
                return
            while (notification := pgconn.notifies()) is not None:
                self._hand_on(notification.extra)

        while True:
            loop.add_reader(socket, readable)
            try:
                await asyncio.wait([lost], timeout=_PING_SECONDS)
            finally:
                loop.remove_reader(socket)
            if lost.done():
                lost.result()  # raises why the connection was lost
            async with asyncio.timeout(self._connect_seconds):
                await connection.execute("SELECT 1")

    def _hand_on(self, payload: str | bytes) -> None:
        """One announced event to this worker's streams of its user, if it has any."""
        try:
            note = json.loads(payload)
            streams = self._streams.get(note["user_id"])
            if not streams:
                return
            # Too large to announce whole: each stream reads the task from the table in turn,
            # so no later event can overtake it.
            event = (
                feed_event(note["id"], note["kind"], note["task_id"], note["task"])
                if "task" in note
                else FeedEvent(note["id"], b"")
            )
            for subscription in list(streams):
                subscription.deliver(event)
        except Exception:  # a bug in one event must not silence all the others
            logger.exception("task event could not be delivered")

    def _end_all(self, reason: str) -> None:
        last = notice("resync", reason)
        for streams in self._streams.values():
            for subscription in streams:
                subscription.end(last)
