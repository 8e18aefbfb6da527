"""Exception handlers: each domain or infrastructure failure maps to HTTP once, here."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import InterfaceError, OperationalError
from psycopg.errors import ReadOnlySqlTransaction

from src.db import RequestAbandonedError
from src.logs import sent_path
from src.middleware.request_id import HEADER as REQUEST_ID_HEADER
from src.middleware.request_id import current_context
from src.services.idempotency import IdempotencyKeyConflictError, IdempotencyKeyReusedError
from src.services.task_service import PreconditionFailedError, TaskNotFoundError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"
READ_ONLY_DETAIL = (
    "Database refuses writes (it is read-only); reads still work, "
    "and writes fail until an operator makes it writable again"
)
CLIENT_CLOSED_REQUEST = 499


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TaskNotFoundError, _task_not_found)
    app.add_exception_handler(PreconditionFailedError, _precondition_failed)
    app.add_exception_handler(IdempotencyKeyReusedError, _idempotency_key_reused)
    app.add_exception_handler(IdempotencyKeyConflictError, _idempotency_key_conflict)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(RequestAbandonedError, _client_gone)
    # OperationalError covers a refused or lost connection, the pool's timeout and our own
    # DatabaseTimeoutError (src/db.py).
    for error in (OperationalError, InterfaceError):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(ReadOnlySqlTransaction, _database_read_only)
    app.add_exception_handler(Exception, _unexpected)


async def _task_not_found(_request: Request, _error: Exception) -> Response:
    return _detail(status.HTTP_404_NOT_FOUND, "Task not found")


async def _precondition_failed(_request: Request, _error: Exception) -> Response:
    return _detail(
        status.HTTP_412_PRECONDITION_FAILED,
        "Task has changed since you read it (If-Match does not match its ETag); "
        "fetch it again and retry",
    )


async def _idempotency_key_reused(_request: Request, _error: Exception) -> Response:
    # FastAPI's list form, like every other 422, so a client needs one parser for them.
    problem = {
        "type": "idempotency_key_reused",
        "loc": ["header", "idempotency-key"],
        "msg": "Idempotency-Key was already used with a different request body; "
        "send a new key for a new task",
    }
    return JSONResponse({"detail": [problem]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _idempotency_key_conflict(_request: Request, _error: Exception) -> Response:
    return _detail(
        status.HTTP_409_CONFLICT,
        "A request with this Idempotency-Key is still being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _invalid_request(request: Request, error: Exception) -> Response:
    # A body not declared as JSON is a 415 naming the header; one that is not JSON at all is a
    # 400 with one sentence; schema violations keep FastAPI's 422 list, which names each field.
    if isinstance(error, RequestValidationError):
        if _body_left_unparsed(error):
            return _detail(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                _not_json_detail(request.headers.get("content-type")),
            )
        for item in error.errors():
            if item.get("type") == "json_invalid":
                reason = item.get("ctx", {}).get("error", "invalid syntax")
                return _detail(
                    status.HTTP_400_BAD_REQUEST,
                    f"Request body is not valid JSON ({reason}); send a JSON object "
                    "with 'Content-Type: application/json'",
                )
        problems = [_header_as_sent(problem) for problem in error.errors()]
        return _EscapingJSONResponse(
            {"detail": jsonable_encoder(problems)},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    raise TypeError(error)  # registered for RequestValidationError only


def _body_left_unparsed(error: RequestValidationError) -> bool:
    # FastAPI parses a body only when its Content-Type is application/json or application/*+json
    # and otherwise validates the raw bytes, which fail as "not a valid dictionary": a 422 that
    # does not say what to fix. The usual cause is fetch sending a string body as text/plain.
    # This runs after the token and owner checks, so a stranger still gets a 401 or 403.
    return any(
        item["loc"] == ("body",) and isinstance(item.get("input"), bytes) for item in error.errors()
    )


def _not_json_detail(content_type: str | None) -> str:
    sent = f"got '{content_type[:100]}'" if content_type else "the request had no Content-Type"
    return f"Request body must be JSON: send it with 'Content-Type: application/json' ({sent})"


def _header_as_sent(problem: dict[str, Any]) -> dict[str, Any]:
    # The server hands header bytes over as Latin-1 text; clients send UTF-8, so an echoed
    # "café" would read "cafÃ©". Bytes that are not UTF-8 are echoed as they were read.
    value = problem.get("input")
    if problem.get("loc", ("",))[0] != "header" or not isinstance(value, str):
        return problem
    try:
        return {**problem, "input": value.encode("latin-1").decode("utf-8")}
    except (UnicodeEncodeError, UnicodeDecodeError):
        return problem


class _EscapingJSONResponse(JSONResponse):
    """FastAPI's 422 echoes the input; a lone surrogate in it must not crash the encoder."""

    def render(self, content: object) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


async def _client_gone(_request: Request, _error: Exception) -> Response:
    # Nobody reads this answer; the code (nginx's "client closed request") is for the access
    # log and the metrics, which count how much work overload made the service skip.
    return _detail(
        CLIENT_CLOSED_REQUEST, "Client closed the connection before the request was served"
    )


async def _database_unavailable(request: Request, error: Exception) -> Response:
    text = str(error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    path = sent_path(request.scope)
    logger.error("database unavailable: %s %s: %s", request.method, path, reason)
    return _detail(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Database is temporarily unavailable; retry shortly",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _database_read_only(request: Request, _error: Exception) -> Response:
    # A hot standby or a read-only setting lasts until an operator acts: no Retry-After, which
    # would have clients retry a write that cannot succeed. Reads keep working.
    logger.error(
        "database refuses writes (read-only): %s %s", request.method, sent_path(request.scope)
    )
    return _detail(status.HTTP_503_SERVICE_UNAVAILABLE, READ_ONLY_DETAIL)


async def _unexpected(request: Request, error: Exception) -> Response:
    path = sent_path(request.scope)
    logger.error("unhandled error: %s %s", request.method, path, exc_info=error)
    # This handler runs outside the request-id middleware, so it adds the header itself.
    context = current_context()
    headers = {REQUEST_ID_HEADER: context.request_id} if context else None
    return _detail(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error", headers)


def _detail(code: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)
