"""Request ids: the caller's when sane, else a new one; on every response and log line."""

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
# Short and inert: safe to echo in headers and logs, no room for log injection.
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")


@dataclass(slots=True)
class RequestContext:
    """Mutable on purpose: the auth dependency records the user in the object the middleware
    made, which works whichever context copy (task or worker thread) it runs in."""

    request_id: str
    user_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_context() -> RequestContext | None:
    return _current.get()


def set_user(user_id: str) -> None:
    if (context := _current.get()) is not None:
        context.user_id = user_id


class RequestIdMiddleware:
    """Pure ASGI: no body buffering, one header lookup and one append per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        # Each request runs in its own task, so the value never leaks into another request;
        # it is left set so the catch-all 500 handler, which runs outside this frame, sees it.
        _current.set(RequestContext(request_id))
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _incoming(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER_KEY:
            return value.decode("latin-1") if _SANE.fullmatch(value) else None
    return None
