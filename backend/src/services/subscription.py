"""One open stream's inbox, and the Server-Sent Events messages that pass through it.

The hub (src/services/event_hub.py) fills each inbox: events, keep-alives when the stream has
been quiet for a heartbeat, and a last message when the stream must end. The stream's reader
(src/services/task_stream.py) only waits on the inbox: no timer of its own, so an event costs
one wake-up of one task.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from src.schemas.responses import TaskResponse

_TASK = TypeAdapter(TaskResponse)
LOST = "The server lost its database connection; reload the task list, then reconnect"
BEHIND = "The stream fell too far behind; reload the task list, then reconnect"
EXPIRED = "Token has expired; reconnect with a fresh token"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int  # the event's id; -1 for a keep-alive, which no resume point can match
    frame: bytes  # the whole Server-Sent Events message; empty: to be read from the table


KEEP_ALIVE = FeedEvent(-1, b": keep-alive\n\n")


def feed_event(event_id: int, kind: str, task_id: int, task: dict[str, Any] | None) -> FeedEvent:
    """The event as a client receives it: the task as the API answers it, or its id if gone."""
    data = (
        json.dumps({"id": task_id}).encode()
        if task is None
        else _TASK.dump_json(_TASK.validate_python(task))
    )
    return FeedEvent(event_id, b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, kind.encode(), data))


def notice(kind: str, detail: str) -> bytes:
    """A message that ends a stream: what happened, and what the client should do."""
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), json.dumps({"detail": detail}).encode())


class Subscription:
    """One open stream's inbox: bounded, so a slow reader cannot make the worker hoard events."""

    def __init__(self, owner: str, size: int, expires_at: float | None) -> None:
        self.owner = owner
        self.expires_at = expires_at  # the token's exp (Unix time): the stream ends then
        self.queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(size)
        self.ended: bytes | None = None  # the last message, once the stream must end
        self._quiet_since = time.monotonic()

    def deliver(self, event: FeedEvent) -> None:
        if self.ended is None:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.end(notice("resync", BEHIND))
            self._quiet_since = time.monotonic()

    def tick(self, now: float, wall: float, heartbeat: float) -> None:
        """The hub's periodic look (`now` monotonic, `wall` Unix time): end an expired stream,
        keep a quiet one alive."""
        if self.expires_at is not None and wall >= self.expires_at:
            self.end(notice("token-expired", EXPIRED))
        elif now - self._quiet_since >= heartbeat:
            self.deliver(KEEP_ALIVE)

    def end(self, last: bytes) -> None:
        if self.ended is None:
            self.ended = last
            with contextlib.suppress(asyncio.QueueFull):  # full: its reader is not waiting anyway
                self.queue.put_nowait(None)  # wakes a reader waiting on an empty queue
