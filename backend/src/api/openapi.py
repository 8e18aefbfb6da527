"""What the OpenAPI document says beyond the route signatures: tags, errors, headers, examples.

Client generators and `/docs` read all of it, and the contract under `specs/` is generated from
it, so every example here is a real answer of the service (a test replays each error example).
"""

from typing import Any

from fastapi import FastAPI, status
from fastapi.openapi.models import Example

from src.schemas.responses import TASK_EXAMPLE, ErrorResponse

TAGS: list[dict[str, Any]] = [
    {
        "name": "tasks",
        "description": (
            "The caller's own tasks. Every operation needs `Authorization: Bearer <JWT>` whose "
            "`sub` equals the `{user_id}` in the path (otherwise 403); another user's task "
            "answers 404, exactly like a task that does not exist."
        ),
    },
    {"name": "health", "description": "Liveness and database reachability, without auth."},
    {
        "name": "operations",
        "description": "Prometheus metrics for the operator; no auth, so restrict it at the proxy.",
    },
]

# status: (when it happens, the body the service really sends in that case)
_ERRORS: dict[int, tuple[str, str]] = {
    status.HTTP_400_BAD_REQUEST: (
        "The body is not valid JSON",
        "Request body is not valid JSON (Expecting value); "
        "send a JSON object with 'Content-Type: application/json'",
    ),
    status.HTTP_401_UNAUTHORIZED: (
        "Missing, malformed, expired or badly signed token; `detail` says which",
        "Missing Authorization header; send 'Authorization: Bearer <token>'",
    ),
    status.HTTP_403_FORBIDDEN: (
        "The token belongs to a different user than the `{user_id}` in the path",
        "Token does not belong to this user",
    ),
    status.HTTP_404_NOT_FOUND: (
        "No such task for this user (another user's task looks the same)",
        "Task not found",
    ),
    status.HTTP_409_CONFLICT: (
        "A request with this Idempotency-Key is still being processed",
        "A request with this Idempotency-Key is still being processed; retry shortly",
    ),
    status.HTTP_412_PRECONDITION_FAILED: (
        "If-Match does not match the task's current ETag; nothing changed",
        "Task has changed since you read it (If-Match does not match its ETag); "
        "fetch it again and retry",
    ),
    status.HTTP_413_CONTENT_TOO_LARGE: (
        "The body is larger than MAX_BODY_BYTES (64 KiB by default)",
        "Request body is larger than 65536 bytes; send a smaller body",
    ),
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: (
        "The body is not declared as JSON (`Content-Type` is missing or not `application/json`)",
        "Request body must be JSON: send it with 'Content-Type: application/json' "
        "(got 'text/plain;charset=UTF-8')",
    ),
    status.HTTP_503_SERVICE_UNAVAILABLE: (
        "The database is unreachable or its pool is exhausted (or, with JWT_JWKS_URL set, the "
        "token signing keys cannot be fetched); retry after `Retry-After` seconds",
        "Database is temporarily unavailable; retry shortly",
    ),
}

_HEADERS: dict[int, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "WWW-Authenticate": {
            "description": "Always `Bearer`: the scheme to authenticate with.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    status.HTTP_409_CONFLICT: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
}

LOCATION_HEADER: dict[str, Any] = {
    "Location": {
        "description": "Path of the created task: `/api/{user_id}/tasks/{task_id}`, "
        "with the user id percent-encoded.",
        "required": True,
        "schema": {"type": "string"},
    }
}

_LATER = {"updated_at": "2026-01-01T10:05:00Z"}
REPLACED_TASK_EXAMPLE = (
    TASK_EXAMPLE | _LATER | {"title": "Buy oat milk", "description": "One litre"}
)
COMPLETED_TASK_EXAMPLE = TASK_EXAMPLE | _LATER | {"completed": True}

CREATE_EXAMPLES: dict[str, Example] = {
    "with_description": {
        "summary": "Title and description",
        "value": {"title": "Buy milk", "description": "Two litres, semi-skimmed"},
    },
    "title_only": {"summary": "Title only", "value": {"title": "Call the plumber"}},
}

UPDATE_EXAMPLES: dict[str, Example] = {
    "replace": {
        "summary": "New title and description",
        "value": {"title": "Buy oat milk", "description": "One litre"},
    },
    "clear_description": {
        "summary": "Omitting the description clears it",
        "value": {"title": "Buy oat milk"},
    },
}

PATCH_EXAMPLES: dict[str, Example] = {
    "complete": {"summary": "Mark completed", "value": {"completed": True}},
    "reopen": {"summary": "Mark not completed", "value": {"completed": False}},
}


def example_response(code: int, example: object, **extra: Any) -> dict[int | str, dict[str, Any]]:
    """A success answer's example (and `extra`, such as headers), merged into the derived schema."""
    return {code: {"content": {"application/json": {"example": example}}, **extra}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers for `codes`, each `{"detail": "..."}` with a real example."""
    return {code: _error_response(code) for code in sorted(codes)}


def _error_response(code: int) -> dict[str, Any]:
    when, detail = _ERRORS[code]
    response: dict[str, Any] = {
        "model": ErrorResponse,
        "description": when,
        "content": {"application/json": {"example": {"detail": detail}}},
    }
    if code in _HEADERS:
        response["headers"] = _HEADERS[code]
    return response


# X-Request-ID applies to every operation: added to the generated document once, not per route.
_REQUEST_ID = "X-Request-ID"
_PARAMETER = {
    "name": _REQUEST_ID,
    "in": "header",
    "required": False,
    "description": "Your id for this request, echoed back and logged; a new one is made if "
    "absent or not 1 to 128 of `A-Z a-z 0-9 . _ -`.",
    # No pattern: any value is accepted, and one that is not usable is replaced, never refused.
    "schema": {"type": "string"},
}
_HEADER = {
    "description": "The request's id: yours when sane, else a new one. Quote it in bug reports.",
    "schema": {"type": "string"},
}


def document_request_id(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_request_id(generate())  # generate() caches the dict it returns on the app
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def _add_request_id(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("parameters", {})[_REQUEST_ID] = _PARAMETER
    components.setdefault("headers", {})[_REQUEST_ID] = _HEADER
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            parameters = operation.setdefault("parameters", [])
            parameters.append({"$ref": f"#/components/parameters/{_REQUEST_ID}"})
            for response in operation.get("responses", {}).values():
                headers = response.setdefault("headers", {})
                headers[_REQUEST_ID] = {"$ref": f"#/components/headers/{_REQUEST_ID}"}
