"""One live stream of a user's task changes, as Server-Sent Events.

Gap-free and without duplicates: the stream subscribes first, then replays what the client
missed (`Last-Event-ID`), then relays live events, skipping any the replay already sent.
"""

from collections.abc import AsyncGenerator, AsyncIterator

import psycopg

from src.errors import ApiError
from src.services.event_hub import EventHub
from src.services.subscription import LOST, FeedEvent, Subscription, notice
from src.services.task_service import TaskService

CONNECTED = b": connected\n\n"  # subscribed: every later change will arrive
MISSED = "Events after Last-Event-ID are no longer all stored; reload the task list, then reconnect"


class TaskStream:
    """What the events route binds to the verified caller: their service, hub and token expiry."""

    def __init__(
        self, hub: EventHub, tasks: TaskService, owner: str, expires_at: float | None
    ) -> None:
        self._hub, self._tasks, self._owner, self._expires_at = hub, tasks, owner, expires_at

    async def open(self, last_event_id: int | None) -> "OpenStream":
        """Subscribed and replayed: an error (a cap, the database) is raised here, before the
        answer starts."""
        subscription = await self._hub.subscribe(self._owner, self._expires_at)
        try:
            missed = [] if last_event_id is None else await self._tasks.events_after(last_event_id)
        except BaseException:
            self._hub.unsubscribe(subscription)
            raise
        return OpenStream(self._hub, self._tasks, subscription, missed)


class OpenStream:
    def __init__(
        self,
        hub: EventHub,
        tasks: TaskService,
        subscription: Subscription,
        missed: list[FeedEvent] | None,
    ) -> None:
        self._hub, self._tasks, self._subscription, self._missed = hub, tasks, subscription, missed

    def close(self) -> None:
        """Idempotent: the response calls it however the stream ends."""
        self._hub.unsubscribe(self._subscription)

    async def frames(self) -> AsyncGenerator[bytes]:
        try:
            yield CONNECTED
            if self._missed is None:
                yield notice("resync", MISSED)
                return
            for event in self._missed:
                yield event.frame
            replayed = {event.id for event in self._missed}
            async for frame in self._live(replayed):
                yield frame
        finally:
            self.close()

    async def _live(self, replayed: set[int]) -> AsyncIterator[bytes]:
        """Events and keep-alives as the hub queues them, until it ends the stream."""
        subscription = self._subscription
        while subscription.ended is None:
            event = await subscription.queue.get()
            if event is None or event.id in replayed:  # None: woken to end
                continue
            if not event.frame:  # announced without its task, too large: read in turn
                event = await self._stored(event.id)
            if event is not None:
                yield event.frame
        yield subscription.ended

    async def _stored(self, event_id: int) -> FeedEvent | None:
        """The event as stored; None if purged meanwhile, or if the read failed, which ends
        the stream with `resync`."""
        try:
            return await self._tasks.stored_event(event_id)
        except (ApiError, psycopg.Error):
            self._subscription.end(notice("resync", LOST))
            return None
