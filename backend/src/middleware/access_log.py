"""One access-log line and one metrics observation per request."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.logs import sent_path
from src.metrics import HttpMetrics
from src.middleware.request_id import current_context

logger = logging.getLogger("src.access")


class AccessLogMiddleware:
    """Pure ASGI: it only watches the status go by and times the call."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def watch_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch_status)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope, status, seconds)
            if logger.isEnabledFor(logging.INFO):
                _log(scope, status, seconds)


def _log(scope: Scope, status: int, seconds: float) -> None:
    # The path as sent, without the query, which may hold search text; headers may hold tokens
    # and are never read. The formatter escapes every value a client could have chosen.
    client = scope.get("client")
    context = current_context()
    fields = {
        "request_id": context.request_id if context else "-",
        "user_id": context.user_id if context else None,
        "method": scope["method"],
        "path": sent_path(scope),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client_ip": client[0] if client else None,
    }
    # The message formats the field's own value, so it can be derived from the field.
    logger.info(
        "%s %s %s %.1fms", fields["method"], fields["path"], status, fields["duration_ms"],
        extra=fields,
    )  # fmt: skip
