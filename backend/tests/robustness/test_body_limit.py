"""BodyLimitMiddleware around a bare ASGI app: no FastAPI handler to turn its error into a 413."""

from collections.abc import Iterator

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from src.config import Settings
from src.main import create_app
from src.middleware.body_limit import BodyLimitMiddleware
from tests.conftest import make_token

LIMIT = 10
TOO_LARGE = {"detail": "Request body is larger than 10 bytes; send a smaller body"}


class EchoApp:
    """Reads the whole body and answers its length (`respond_first`: starts answering first)."""

    def __init__(self, respond_first: bool = False) -> None:
        self.respond_first = respond_first
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        if scope["type"] == "lifespan":
            return
        if self.respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if not self.respond_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def _chunks(count: int) -> Iterator[bytes]:
    yield from [b"12345"] * count


def test_declared_length_over_limit_is_refused_unread() -> None:
    app = EchoApp()
    client = TestClient(BodyLimitMiddleware(app, max_bytes=LIMIT))

    response = client.post("/", content=b"x" * (LIMIT + 1))

    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert response.headers["Connection"] == "close"
    assert app.called is False


def test_streamed_body_over_limit_is_refused_when_app_lets_error_escape() -> None:
    client = TestClient(BodyLimitMiddleware(EchoApp(), max_bytes=LIMIT))

    response = client.post("/", content=_chunks(3))

    assert (response.status_code, response.json()) == (413, TOO_LARGE)


@pytest.mark.parametrize("size", [0, LIMIT])
def test_body_within_limit_reaches_app(size: int) -> None:
    client = TestClient(BodyLimitMiddleware(EchoApp(), max_bytes=LIMIT))

    response = client.post("/", content=_chunks(size // 5))

    assert (response.status_code, response.text) == (200, str(size))


def test_overflow_after_response_started_is_raised_not_answered_twice() -> None:
    client = TestClient(BodyLimitMiddleware(EchoApp(respond_first=True), max_bytes=LIMIT))

    with pytest.raises(HTTPException) as raised:
        client.post("/", content=_chunks(3))

    assert raised.value.status_code == 413


def test_app_enforces_the_configured_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_body_bytes": 100})
    headers = {"Authorization": f"Bearer {make_token('alice')}"}
    with TestClient(create_app(limited)) as client:
        small = client.post("/api/alice/tasks", json={"title": "x" * 50}, headers=headers)
        large = client.post("/api/alice/tasks", json={"title": "x" * 100}, headers=headers)

    assert small.status_code == 201
    assert (large.status_code, large.json()) == (
        413,
        {"detail": "Request body is larger than 100 bytes; send a smaller body"},
    )
