"""What the OpenAPI document says beyond the route signatures: tags, errors, headers, examples.

Client generators and `/docs` read all of it, and the contract under `specs/` is generated from
it, so every example here is a real answer of the service (a test replays each error example).
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.models import Example

from src.errors import ApiError, header_values
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

# The response headers errors carry (src/errors.py), as the document describes them.
_ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": {
        "description": "Always `Bearer`: the scheme to authenticate with.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer"},
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


def error_responses(*errors: type[ApiError]) -> dict[int | str, dict[str, Any]]:
    """The documented answers for `errors`, each `{"detail": "..."}` with a real example.

    Errors that share a status share its entry: one example each, and every case described.
    """
    by_status: dict[int, list[type[ApiError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    return {status: _error_response(by_status[status]) for status in sorted(by_status)}


def _error_response(errors: list[type[ApiError]]) -> dict[str, Any]:
    content: dict[str, Any] = {"example": {"detail": errors[0].detail}}
    if len(errors) > 1:
        content = {
            "examples": {
                error.__name__.removesuffix("Error"): {
                    "summary": error.when,
                    "value": {"detail": error.detail},
                }
                for error in errors
            }
        }
    response: dict[str, Any] = {
        "model": ErrorResponse,
        "description": "; or ".join(error.when for error in errors),
        "content": {"application/json": content},
    }
    headers = [header_values(error.retry_after, error.challenge) for error in errors]
    if names := {name for sent in headers for name in sent}:
        response["headers"] = {
            name: _ERROR_HEADERS[name] | {"required": all(name in sent for sent in headers)}
            for name in sorted(names)
        }
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


def finish_document(app: FastAPI) -> None:
    """What the generated document needs beyond FastAPI's: X-Request-ID, and a typed `ctx`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # generate() caches the dict it returns on the app
            _add_request_id(schema)
            _open_validation_context(schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def _open_validation_context(schema: dict[str, Any]) -> None:
    # FastAPI declares a 422 item's `ctx` as a bare object, which client generators read as an
    # object with no keys (`Record<string, never>`): a client could not read `ctx.min_length`.
    error = schema.get("components", {}).get("schemas", {}).get("ValidationError", {})
    if "ctx" in error.get("properties", {}):
        error["properties"]["ctx"]["additionalProperties"] = True


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
