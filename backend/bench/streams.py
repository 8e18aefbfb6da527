"""The live-updates scenario: many open event streams, and how fast a write reaches one.

Opens one `GET /api/{user}/tasks/events` stream per seeded user (STREAMS of them) over raw
sockets, measures what the idle streams cost the workers (memory, CPU), then PATCHes tasks of
users with an open stream and times each change from the write's answer (it has committed) to
its `updated` event on the stream. Streams land on whichever worker accepts them, as writes do,
so about half of the events cross from one worker to another through PostgreSQL.
"""

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
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
    writer: asyncio.StreamWriter | None = None
    arrivals: dict[int, float] = field(default_factory=dict)  # event id -> monotonic time
    waiting: asyncio.Future[float] | None = None


def read_users(path: Path, count: int) -> list[Stream]:
    streams = []
    for line in path.read_text().splitlines()[:count]:
        user, token, first_task, *_ = line.split()
        streams.append(Stream(user, token, int(first_task)))
    return streams


async def open_streams(base_url: str, streams: list[Stream]) -> list[asyncio.Task[None]]:
    """Each stream connected and past its `: connected` comment; readers left running."""
    host, port = _address(base_url)
    readers = []
    for batch in range(0, len(streams), 100):  # a burst of 1,000 connects would hit the backlog
        opened = await asyncio.gather(*(_open(host, port, s) for s in streams[batch : batch + 100]))
        readers += [asyncio.create_task(_read(s, reader)) for s, reader in opened]
    return readers


async def _open(host: str, port: int, stream: Stream) -> tuple[Stream, asyncio.StreamReader]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    request = (
        f"GET /api/{stream.user}/tasks/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {stream.token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    writer.write(request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"stream for {stream.user} refused: {head.splitlines()[0]!r}")
    stream.writer = writer
    return stream, reader


async def _read(stream: Stream, reader: asyncio.StreamReader) -> None:
    kind = None
    while line := await reader.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith("event: "):
            kind = text.removeprefix("event: ")
        elif text.startswith("data: ") and kind == "updated":
            task = json.loads(text.removeprefix("data: "))
            if task.get("id") == stream.task_id and stream.waiting and not stream.waiting.done():
                stream.waiting.set_result(time.monotonic())
        elif not text:
            kind = None


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


def close(streams: list[Stream], readers: list[asyncio.Task[None]]) -> None:
    for stream in streams:
        if stream.writer is not None:
            stream.writer.close()
    for reader in readers:
        reader.cancel()


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80
