"""Request bodies parsed as RFC 8259 JSON, not as everything Python's `json` module tolerates,
and only when they are declared as JSON."""

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# In the request's scope when its body is not declared as JSON: the 415's detail.
NOT_JSON_SCOPE_KEY = "task_api.body_not_json"


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a `JSONDecodeError` (which FastAPI answers with our 400).

    Refused, beyond plain syntax errors: bodies that are not UTF-8; NaN, Infinity and numbers
    too large for a float (a 422 that echoes them back cannot be rendered as JSON); duplicate
    keys (two parsers could each see a different value); nesting and integers deep or long
    enough to exhaust the parser.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise json.JSONDecodeError("body is not UTF-8", "", 0) from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nesting is too deep", text, 0) from None
    except ValueError:  # an integer beyond Python's digit limit for conversion
        raise json.JSONDecodeError("number is too long", text, 0) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise json.JSONDecodeError("duplicate key in object", "", 0)
    return result


def _no_constant(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not a JSON value", "", 0)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError("number is out of range", "", 0)
    return value


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


def is_json(content_type: str | None) -> bool:
    """`application/json` or `application/<anything>+json`, any parameters: what FastAPI parses."""
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def not_json_detail(content_type: str | None) -> str:
    sent = f"got '{content_type[:100]}'" if content_type else "the request had no Content-Type"
    return f"Request body must be JSON: send it with 'Content-Type: application/json' ({sent})"


class StrictJSONRoute(APIRoute):
    """A route whose body, if it takes one, must be declared JSON and goes through `parse_json`.

    FastAPI leaves a body of another type unparsed, and validation then reports the raw bytes as
    "not a valid dictionary": a 422 that does not say what is wrong. The usual cause is `fetch`
    sending a string body as `text/plain`, so such a request is marked here and its validation
    error answered as a 415 that names the header (`src/errors.py`). Marked, not refused: the
    token and the path's owner are still checked first, so a stranger learns nothing but a 401.
    """

    def get_route_handler(self) -> _Handler:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            if takes_body:
                content_type = strict.headers.get("content-type")
                # The body is read once: FastAPI's handler reuses what this request object holds.
                if not is_json(content_type) and await strict.body():
                    strict.scope[NOT_JSON_SCOPE_KEY] = not_json_detail(content_type)
            return await handler(strict)

        return strict_handler
