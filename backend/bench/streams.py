"""The live-updates scenario: many open event streams, and how fast a write reaches one.

Opens one `GET /api/{user}/tasks/events` stream per seeded user (STREAMS of them), each read by
an asyncio protocol, measures what the idle streams cost the workers (memory, CPU), then PATCHes
tasks of users with an open stream and times each change from the write's answer (it has
committed) to its `updated` event on the stream. Streams land on whichever worker accepts them,
as writes do, so about half of the events cross from one worker to another through PostgreSQL.
"""

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

CONNECT_TIMEOUT = 10.0
EVENT_TIMEOUT = 5.0  # a write whose event has not come by then is counted as lost


@dataclass
class Stream:
    user: str
    token: str
    task_id: int
    transport: asyncio.Transport | None = None
    waiting: asyncio.Future[float] | None = None


def read_users(path: Path, count: int) -> list[Stream]:
    streams = []
    for line in path.read_text().splitlines()[:count]:
        user, token, first_task, *_ = line.split()
        streams.append(Stream(user, token, int(first_task)))
    return streams


async def open_streams(base_url: str, streams: list[Stream]) -> None:
    """Each stream connected and answered 200; their reading goes on until `close`."""
    host, port = _address(base_url)
    for batch in range(0, len(streams), 100):  # a burst of 1,000 connects would hit the backlog
        await asyncio.gather(*(_open(host, port, s) for s in streams[batch : batch + 100]))


async def _open(host: str, port: int, stream: Stream) -> None:
    loop = asyncio.get_running_loop()
    reader = _Reader(stream, loop.create_future())
    connecting = loop.create_connection(lambda: reader, host, port)
    transport, _ = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
    stream.transport = transport
    request = (
        f"GET /api/{stream.user}/tasks/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {stream.token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    transport.write(request.encode())
    status = await asyncio.wait_for(reader.answered, CONNECT_TIMEOUT)
    if not status.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"stream for {stream.user} refused: {status!r}")


class _Reader(asyncio.Protocol):
    """Drains one stream; while a write of its task is awaited, looks for that write's event.

    A protocol, bytes only: no task, future or decoding per event. This process shares the
    servers' cores, so reading must cost them as little as a client on another machine would.
    """

    def __init__(self, stream: Stream, answered: asyncio.Future[bytes]) -> None:
        self.stream, self.answered = stream, answered
        # The task as the API answers it starts with its id (the event's data).
        self.wanted = b'event: updated\ndata: {"id":%d,' % stream.task_id
        self.seen = b""

    def data_received(self, data: bytes) -> None:
        if not self.answered.done():
            self.answered.set_result(data.split(b"\r\n", 1)[0])
        waiting = self.stream.waiting
        if waiting is None or waiting.done():
            self.seen = b""
            return
        self.seen = self.seen[-len(self.wanted) :] + data  # the event may straddle two reads
        if self.wanted in self.seen:
            waiting.set_result(time.monotonic())
            self.seen = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_result(b"connection closed before an answer")


async def timed_writes(base_url: str, streams: list[Stream], writes: int) -> dict[str, Any]:
    """PATCH a task of a streaming user, one write at a time; answer-to-event latencies."""
    latencies, from_send, lost = [], [], 0
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
        for number in range(writes):
            stream = streams[(number * 7) % len(streams)]  # spread over users and workers
            stream.waiting = asyncio.get_running_loop().create_future()
            sent = time.monotonic()
            response = await client.patch(
                f"/api/{stream.user}/tasks/{stream.task_id}",
                json={"completed": number % 2 == 0},
                headers={"Authorization": f"Bearer {stream.token}"},
            )
            answered = time.monotonic()
            if response.status_code != 200:
                raise SystemExit(f"write refused: {response.status_code} {response.text}")
            try:
                arrived = await asyncio.wait_for(stream.waiting, EVENT_TIMEOUT)
            except TimeoutError:
                lost += 1
                continue
            # The event can overtake the answer: the commit notifies before the answer is sent.
            latencies.append(max(0.0, arrived - answered) * 1000)
            from_send.append((arrived - sent) * 1000)
    sent_summary = {f"{key}_from_request": value for key, value in summary(from_send).items()}
    return summary(latencies) | sent_summary | {"writes": writes, "lost": lost}


def summary(latencies_ms: list[float]) -> dict[str, Any]:
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(latencies_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def close(streams: list[Stream]) -> None:
    for stream in streams:
        if stream.transport is not None:
            stream.transport.close()


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80
