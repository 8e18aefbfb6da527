"""Exception handlers: every failure becomes its answer here, once.

Errors of the catalogue (src/errors.py) answer as they describe themselves; a malformed request
and an unreachable database are turned into catalogue errors first.
"""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import InterfaceError, OperationalError
from psycopg.errors import ReadOnlySqlTransaction

from src.errors import (
    ApiError,
    BodyNotJSONError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    NotJSONContentTypeError,
)
from src.logs import sent_path
from src.middleware.request_id import HEADER as REQUEST_ID_HEADER
from src.middleware.request_id import current_context

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # OperationalError covers a refused or lost connection, the pool's timeout and our own
    # DatabaseTimeoutError (src/db.py).
    for error in (OperationalError, InterfaceError):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(ReadOnlySqlTransaction, _database_read_only)
    app.add_exception_handler(Exception, _unexpected)


def answer(error: ApiError) -> Response:
    return JSONResponse(error.content(), status_code=error.status, headers=error.headers or None)


async def _api_error(_request: Request, error: Exception) -> Response:
    if isinstance(error, ApiError):
        return answer(error)
    raise TypeError(error)  # registered for ApiError only


async def _invalid_request(request: Request, error: Exception) -> Response:
    # A body not declared as JSON is a 415 naming the header; one that is not JSON at all is a
    # 400 with one sentence; schema violations keep FastAPI's 422 list, which names each field.
    if isinstance(error, RequestValidationError):
        if _body_left_unparsed(error):
            return answer(NotJSONContentTypeError.got(request.headers.get("content-type")))
        for item in error.errors():
            if item.get("type") == "json_invalid":
                reason = item.get("ctx", {}).get("error", "invalid syntax")
                return answer(BodyNotJSONError.filled(reason=reason))
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


async def _database_unavailable(request: Request, error: Exception) -> Response:
    text = str(error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    path = sent_path(request.scope)
    logger.error("database unavailable: %s %s: %s", request.method, path, reason)
    return answer(DatabaseUnavailableError())


async def _database_read_only(request: Request, _error: Exception) -> Response:
    path = sent_path(request.scope)
    logger.error("database refuses writes (read-only): %s %s", request.method, path)
    return answer(DatabaseReadOnlyError())


async def _unexpected(request: Request, error: Exception) -> Response:
    path = sent_path(request.scope)
    logger.error("unhandled error: %s %s", request.method, path, exc_info=error)
    # This handler runs outside the request-id middleware, so it adds the header itself.
    context = current_context()
    headers = {REQUEST_ID_HEADER: context.request_id} if context else None
    return JSONResponse({"detail": "Internal server error"}, 500, headers)
