"""One live stream of a user's task changes, as Server-Sent Events.

Gap-free and without duplicates: the stream subscribes first, then replays what the client
missed (`Last-Event-ID`), then relays live events, skipping any the replay already sent.
"""

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator

from src.services.event_hub import EventHub, FeedEvent, Subscription
from src.services.task_service import TaskService

CONNECTED = b": connected\n\n"  # subscribed: every later change will arrive
KEEP_ALIVE = b": keep-alive\n\n"
EXPIRED = "Token has expired; reconnect with a fresh token"
MISSED = "Events after Last-Event-ID are no longer all stored; reload the task list, then reconnect"


def _notice(kind: str, detail: str) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), json.dumps({"detail": detail}).encode())


class TaskStream:
    """What the events route binds to the verified caller: their service, hub and token expiry."""

    def __init__(
        self, hub: EventHub, tasks: TaskService, owner: str, expires_at: float | None
    ) -> None:
        self._hub, self._tasks, self._owner, self._expires_at = hub, tasks, owner, expires_at

    async def open(self, last_event_id: int | None, heartbeat: float) -> "OpenStream":
        """Subscribed and replayed: an error (a cap, the database) is raised here, before the
        answer starts."""
        subscription = await self._hub.subscribe(self._owner)
        try:
            missed = [] if last_event_id is None else await self._tasks.events_after(last_event_id)
        except BaseException:
            self._hub.unsubscribe(subscription)
            raise
        return OpenStream(self._hub, subscription, missed, self._expires_at, heartbeat)


class OpenStream:
    def __init__(
        self,
        hub: EventHub,
        subscription: Subscription,
        missed: list[FeedEvent] | None,
        expires_at: float | None,
        heartbeat: float,
    ) -> None:
        self._hub, self._subscription, self._missed = hub, subscription, missed
        self._expires_at, self._heartbeat = expires_at, heartbeat

    def close(self) -> None:
        """Idempotent: the response calls it however the stream ends."""
        self._hub.unsubscribe(self._subscription)

    async def frames(self) -> AsyncGenerator[bytes]:
        try:
            yield CONNECTED
            if self._missed is None:
                yield _notice("resync", MISSED)
                return
            for event in self._missed:
                yield event.frame
            replayed = {event.id for event in self._missed}
            async for frame in self._live(replayed):
                yield frame
        finally:
            self.close()

    async def _live(self, replayed: set[int]) -> AsyncIterator[bytes]:
        subscription, expires_at = self._subscription, self._expires_at
        while True:
            if subscription.ended is not None:
                yield _notice("resync", subscription.ended)
                return
            left = float("inf") if expires_at is None else expires_at - time.time()
            if left <= 0:
                yield _notice("token-expired", EXPIRED)
                return
            try:
                async with asyncio.timeout(min(self._heartbeat, left)):
                    event = await subscription.queue.get()
            except TimeoutError:
                if expires_at is None or time.time() < expires_at:
                    yield KEEP_ALIVE
                continue
            if event is not None and event.id not in replayed:
                yield event.frame
