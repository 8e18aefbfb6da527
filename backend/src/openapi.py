"""The OpenAPI document: what every operation shares, added once instead of per route."""

from typing import Any

from fastapi import FastAPI

_REQUEST_ID = "X-Request-ID"
_PARAMETER = {
    "name": _REQUEST_ID,
    "in": "header",
    "required": False,
    "description": "Your id for this request, echoed back and logged; a new one is made if "
    "absent or not 1 to 128 of `A-Z a-z 0-9 . _ -`.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
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
