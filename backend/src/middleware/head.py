"""HEAD wherever GET is served (RFC 9110 §9.3.2): the GET's status and headers, no body."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Runs a HEAD request as its GET, token checks included, and sends no body.

    FastAPI registers HEAD on no route, so without this a HEAD is a 405. Content-Length stays
    the GET's, as the RFC allows. Placed inside the access log, which records it as HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            # The router records the matched route there; the metrics label by it.
            if "route" in as_get:
                scope["route"] = as_get["route"]
