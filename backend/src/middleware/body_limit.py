"""A cap on request body size, so one client cannot make the service buffer megabytes."""

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.errors import BodyTooLargeError


class _BodyTooLargeError(HTTPException):
    # An HTTPException, because FastAPI turns any other error raised while it reads the body
    # into a 400 about parsing.
    def __init__(self, max_bytes: int) -> None:
        error = BodyTooLargeError.filled(max_bytes=max_bytes)
        super().__init__(error.status, error.detail)


class BodyLimitMiddleware:
    """Answers 413 `{"detail": ...}` to a body over `max_bytes`.

    A declared Content-Length over the cap is refused before a byte is read. A chunked body
    is counted as it streams: the route's body parsing re-raises the HTTPException, which the
    app's handler turns into the 413, and anything that escapes is answered here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = _BodyTooLargeError(self.max_bytes)
        # Close the connection: the unread rest of the body must not be parsed as a next request.
        response = JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    # A malformed Content-Length never reaches an app: the HTTP server refuses it first.
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isdigit() else 0
