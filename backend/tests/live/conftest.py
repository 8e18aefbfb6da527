"""The app served by uvicorn in a thread of the test process, and a reader of its event streams.

Streams need a real server: the test client collects a whole response before returning it.
"""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from src.config import Settings
from src.main import create_app
from tests.conftest import make_token

READ_SECONDS = 10.0  # the longest wait for the next line of a stream before the test fails


@dataclass
class Message:
    """One Server-Sent Events message: its fields, or a comment."""

    id: int | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None


@dataclass
class EventStream:
    response: httpx.Response
    _lines: Iterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()

    def next(self) -> Message | None:
        """The next message, or None when the server ended the stream."""
        message = Message()
        for line in self._lines:
            if line == "":
                return message
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comment = value
            elif name == "id":
                message.id = int(value)
            elif name in ("event", "data"):
                setattr(message, name, value)
        return None

    def events(self, count: int) -> list[Message]:
        """The next `count` messages that are not comments."""
        found: list[Message] = []
        while len(found) < count:
            message = self.next()
            assert message is not None, f"the stream ended after {found}"
            if message.comment is None:
                found.append(message)
        return found


@dataclass
class LiveServer:
    url: str

    def headers(self, user: str, expires_in: int = 3600) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(user, expires_in=expires_in)}"}

    @contextmanager
    def stream(
        self, user: str, *, last_event_id: int | None = None, expires_in: int = 3600
    ) -> Iterator[EventStream]:
        """An open stream of `user`'s events, past its `: connected` comment."""
        headers = self.headers(user, expires_in=expires_in)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(READ_SECONDS)
        with httpx.stream("GET", self.events_url(user), headers=headers, timeout=timeout) as answer:
            assert answer.status_code == 200, answer.read()
            assert answer.headers["content-type"].startswith("text/event-stream")
            stream = EventStream(answer)
            assert stream.next() == Message(comment="connected")
            yield stream

    def events_url(self, user: str) -> str:
        return f"{self.url}/api/{user}/tasks/events"

    def send(self, method: str, user: str, path: str = "", **body: object) -> httpx.Response:
        url = f"{self.url}/api/{user}/tasks{path}"
        json = body or None
        return httpx.request(method, url, json=json, headers=self.headers(user), timeout=10.0)


ServeApp = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def serve(settings: Settings) -> ServeApp:
    """Serves the app with `settings` changed by the keywords given, until the block ends."""

    @contextmanager
    def serve_app(**changes: object) -> Iterator[LiveServer]:
        app = create_app(settings.model_copy(update=changes))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            while not server.started:
                if not thread.is_alive():
                    pytest.fail("the server did not start")
                thread.join(0.01)
            yield LiveServer(url)
        finally:
            server.should_exit = True
            thread.join(10)
            listener.close()

    return serve_app


@pytest.fixture
def live(serve: ServeApp) -> Iterator[LiveServer]:
    with serve() as server:
        yield server
