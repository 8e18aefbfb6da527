"""What the OpenAPI document says beyond the route signatures: tags, errors, headers, examples.

Client generators and `/docs` read all of it, and the contract under `specs/` is generated from
it, so every example here is a real answer of the service (a test replays each error example).
"""

from typing import Any

from fastapi import status
from fastapi.openapi.models import Example

from src.schemas.responses import ErrorResponse

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
    status.HTTP_503_SERVICE_UNAVAILABLE: (
        "The database is unreachable or its pool is exhausted; retry after `Retry-After` seconds",
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

TASK_EXAMPLE: dict[str, Any] = {
    "id": 1,
    "user_id": "alice",
    "title": "Buy milk",
    "description": "Two litres, semi-skimmed",
    "completed": False,
    "created_at": "2026-01-01T09:30:00Z",
    "updated_at": "2026-01-01T09:30:00Z",
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
