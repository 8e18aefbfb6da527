"""uvicorn's httptools protocol with a bound on the request head, which httptools lacks.

httptools buffers a header line until it ends, growing a bytes object on every read: one
64 MiB header cost a worker 64 MiB (and quadratic copying). Here an unfinished head is measured
after every read and refused once over `MAX_HEADER_BYTES`; a finished one is measured exactly,
and refused over `MAX_HEADER_BYTES` or `MAX_HEADER_COUNT` fields, before the app sees it.
`python -m src.server` passes this class as uvicorn's `--http`.
"""

import asyncio
import json
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from src.config import get_settings
from src.errors import ApiError, HeadersTooLargeError, TooManyHeadersError, URLTooLongError

logger = logging.getLogger(__name__)
# How long a refused request's remaining bytes are read and discarded before the connection closes.
_LINGER_SECONDS = 1.0


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """431 (or 414 for the URL) with a JSON `detail`, then the connection is closed."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],  # uvicorn's own signature
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self._max_bytes = settings.max_header_bytes
        self._max_count = settings.max_header_count
        self._in_head = True  # between requests, or inside an unfinished request head
        self._head_bytes = 0  # bytes of the reads the unfinished head came in so far
        self._heads = 0  # request heads finished on this connection
        self._reading = 0  # size of the read being parsed
        self._refused = False

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, with our refusal told apart from a malformed request.
        if self._refused:
            return  # the rest of a refused request, read only so the client sees our answer
        self._unset_keepalive_if_required()
        started_in_head, heads = self._in_head, self._heads
        self._reading = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            refused = error.__context__
            self._refuse(refused) if isinstance(refused, ApiError) else self._malformed()
            return
        except httptools.HttpParserError:
            self._malformed()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head:
            # A read that began inside a head and finished none is all head bytes. One in which
            # a request ended (pipelining) began the next head somewhere inside it: counted in
            # full, an upper bound, but not refused on, so a large body before it is no reason.
            unfinished = started_in_head and heads == self._heads
            self._head_bytes = self._head_bytes + len(data) if unfinished else len(data)
            if unfinished and self._head_bytes > self._max_bytes:
                self._refuse(self._too_large())

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        if len(self.headers) > self._max_count:
            raise TooManyHeadersError.filled(max_count=self._max_count)
        # The head came in these reads, so it is no longer than they are (an upper bound): the
        # common request, one small read, is never measured header by header.
        if self._head_bytes + self._reading > self._max_bytes and self._measured() > (
            self._max_bytes
        ):
            raise self._too_large()
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _measured(self) -> int:
        return len(self.url) + sum(len(name) + len(value) for name, value in self.headers)

    def _too_large(self) -> ApiError:
        # Unset until a request begins: a read of nothing but blank lines has none.
        if len(getattr(self, "url", b"")) > self._max_bytes:
            return URLTooLongError.filled(max_bytes=self._max_bytes)
        return HeadersTooLargeError.filled(max_bytes=self._max_bytes)

    def _refuse(self, refused: ApiError) -> None:
        client = self.client[0] if self.client else "-"
        logger.warning("%s from %s: %s", refused.status, client, refused.detail)
        body = json.dumps(refused.content()).encode()
        head = [STATUS_LINE[refused.status]]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Closing with unread bytes in the socket would send a reset, which can destroy our
        # answer before the client reads it: end our side, discard its rest, close shortly.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def _malformed(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)
