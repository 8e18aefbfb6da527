"""Request bodies parsed as RFC 8259 JSON, not as everything Python's `json` module tolerates."""

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

_Handler = Callable[[Request], Coroutine[Any, Any, Response]]


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


class StrictJSONRoute(APIRoute):
    """A route whose JSON body goes through `parse_json`."""

    def get_route_handler(self) -> _Handler:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
