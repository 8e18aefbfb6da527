"""Every error answer the API documents: its status, its `detail`, and when it happens.

The one catalogue. The service and the middleware raise these; one handler answers them
(src/api/error_handlers.py); each route's OpenAPI `responses` are generated from the classes it
can raise (src/api/openapi.py); docs/api.md's error table is checked against them by a test.
A class's `detail` is its answer, or an example of it where the text carries specifics.
"""

from http import HTTPStatus
from typing import Any, ClassVar, Self


class ApiError(Exception):
    status: ClassVar[int]  # an HTTPStatus, or 499
    detail: str  # the answer's `detail`; instances may carry a more specific one
    when: ClassVar[str]  # when a client gets it: the OpenAPI description
    retry_after: int | None = None  # seconds, sent as Retry-After
    challenge: str | None = None  # the WWW-Authenticate scheme, for a 401
    # For a detail with specifics: the text with {fields}; `detail` is then its example.
    template: ClassVar[str] = ""

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.detail)

    @classmethod
    def filled(cls, **values: object) -> Self:
        return cls(cls.template.format(**values))

    @property
    def headers(self) -> dict[str, str]:
        return header_values(self.retry_after, self.challenge)

    def content(self) -> dict[str, Any]:
        return {"detail": self.detail}


def header_values(retry_after: int | None, challenge: str | None) -> dict[str, str]:
    """The response headers an error of the catalogue carries."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return headers | ({"WWW-Authenticate": challenge} if challenge else {})


class BodyNotJSONError(ApiError):
    status = HTTPStatus.BAD_REQUEST
    template = (
        "Request body is not valid JSON ({reason}); "
        "send a JSON object with 'Content-Type: application/json'"
    )
    detail = template.format(reason="Expecting value")
    when = "The body is not valid JSON"


class TokenRejectedError(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    detail = "Missing Authorization header; send 'Authorization: Bearer <token>'"
    when = "Missing, malformed, expired or badly signed token; `detail` says which"
    challenge = "Bearer"


class NotOwnerError(ApiError):
    status = HTTPStatus.FORBIDDEN
    detail = "Token does not belong to this user"
    when = "The token belongs to a different user than the `{user_id}` in the path"


class TaskNotFoundError(ApiError):
    """The task does not exist or belongs to someone else: deliberately indistinguishable."""

    status = HTTPStatus.NOT_FOUND
    detail = "Task not found"
    when = "No such task for this user (another user's task looks the same)"


class IdempotencyKeyConflictError(ApiError):
    """A request with the same key collided with this one and its outcome cannot be read yet."""

    status = HTTPStatus.CONFLICT
    detail = "A request with this Idempotency-Key is still being processed; retry shortly"
    when = "A request with this Idempotency-Key is still being processed"
    retry_after = 1


class PreconditionFailedError(ApiError):
    """The task changed since the caller read it (`If-Match` no longer matches)."""

    status = HTTPStatus.PRECONDITION_FAILED
    detail = (
        "Task has changed since you read it (If-Match does not match its ETag); "
        "fetch it again and retry"
    )
    when = "If-Match does not match the task's current ETag; nothing changed"


class BodyTooLargeError(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    template = "Request body is larger than {max_bytes} bytes; send a smaller body"
    detail = template.format(max_bytes=65536)
    when = "The body is larger than MAX_BODY_BYTES (64 KiB by default)"


class NotJSONContentTypeError(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    template = "Request body must be JSON: send it with 'Content-Type: application/json' ({sent})"
    detail = template.format(sent="got 'text/plain;charset=UTF-8'")
    when = "The body is not declared as JSON (`Content-Type` is missing or not `application/json`)"

    @classmethod
    def got(cls, content_type: str | None) -> Self:
        sent = f"got '{content_type[:100]}'" if content_type else "the request had no Content-Type"
        return cls.filled(sent=sent)


class URLTooLongError(ApiError):
    """Refused by the server before the app (src/http_protocol.py): no X-Request-ID, no CORS."""

    status = HTTPStatus.REQUEST_URI_TOO_LONG
    template = "Request URL too long: at most {max_bytes} bytes"
    detail = template.format(max_bytes=16384)
    when = "The request line's URL alone is longer than MAX_HEADER_BYTES"


class HeadersTooLargeError(ApiError):
    """Refused by the server before the app (src/http_protocol.py): no X-Request-ID, no CORS."""

    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    template = (
        "Request headers too large: at most {max_bytes} bytes in all; "
        "send fewer or smaller headers (large cookies are the usual cause)"
    )
    detail = template.format(max_bytes=16384)
    when = "The request line and headers together are longer than MAX_HEADER_BYTES"


class TooManyHeadersError(ApiError):
    """Refused by the server before the app (src/http_protocol.py): no X-Request-ID, no CORS."""

    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    template = "Too many request headers: at most {max_count}; send fewer"
    detail = template.format(max_count=100)
    when = "The request has more than MAX_HEADER_COUNT header fields"


class IdempotencyKeyReusedError(ApiError):
    """The key already created a task from a different request body."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    detail = (
        "Idempotency-Key was already used with a different request body; "
        "send a new key for a new task"
    )
    when = "The Idempotency-Key already created a task from a different body"

    def content(self) -> dict[str, Any]:
        # FastAPI's list form, like every other 422, so a client needs one parser for them.
        problem = {"type": "idempotency_key_reused", "loc": ["header", "idempotency-key"]}
        return {"detail": [problem | {"msg": self.detail}]}


class RequestAbandonedError(ApiError):
    """The client went away while its request waited for a connection; nothing was started."""

    # nginx's "client closed request": nobody reads it; the access log and metrics count it.
    status = 499  # not in HTTPStatus
    detail = "Client closed the connection before the request was served"
    when = "The client left before its request got a database connection"


class DatabaseUnavailableError(ApiError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    detail = "Database is temporarily unavailable; retry shortly"
    when = "The database is unreachable or its pool is exhausted; retry after `Retry-After` seconds"
    retry_after = 2


class DatabaseReadOnlyError(ApiError):
    """A hot standby, or a read-only setting: it lasts until an operator acts.

    No Retry-After, which would have clients retry a write that cannot succeed.
    """

    status = HTTPStatus.SERVICE_UNAVAILABLE
    detail = (
        "Database refuses writes (it is read-only); reads still work, "
        "and writes fail until an operator makes it writable again"
    )
    when = "The database is read-only (a hot standby, say): writes fail until it is writable"


class SigningKeysUnavailableError(ApiError):
    """With JWT_JWKS_URL: the token's key cannot be known now; neither accepted nor refused.

    503, not 401: the token may well be valid, and a 401 would make the frontend sign its user
    out during an outage of the auth server or right after a key rotation.
    """

    status = HTTPStatus.SERVICE_UNAVAILABLE
    detail = "Token signing key (kid) is not known yet; retry shortly"
    when = (
        "With JWT_JWKS_URL set: the token's signing key cannot be known yet (the key set cannot "
        "be fetched, its keys are older than JWT_JWKS_STALE_SECONDS, or a new key id came before "
        "the next fetch is allowed); retry after `Retry-After` seconds"
    )
    retry_after = 1  # an instance carries the seconds until the next fetch is allowed


class TooManyStreamsError(ApiError):
    """Open event streams are bounded per user and per worker process (STREAMS_PER_USER,
    STREAMS_PER_WORKER), so open connections cannot exhaust a worker."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    detail = (
        "Too many open event streams for this user (at most 10 per server process); "
        "close one, such as another tab's, and retry"
    )
    when = (
        "Too many event streams are open, for this user or on this server process; "
        "retry after `Retry-After` seconds"
    )
    retry_after = 5

    @classmethod
    def of_user(cls, limit: int) -> "TooManyStreamsError":
        return cls(
            f"Too many open event streams for this user (at most {limit} per server process); "
            "close one, such as another tab's, and retry"
        )

    @classmethod
    def on_server(cls) -> "TooManyStreamsError":
        return cls("Server has too many open event streams; retry shortly")
