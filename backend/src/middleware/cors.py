"""CORS, with refusals in the API's own error shape."""

from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

# Starlette's refusal names what was refused ("origin", "method", "headers"); say where to look.
_HINT = "; the API's CORS_ORIGINS setting lists the origins allowed"


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, but a refused preflight is `{"detail": ...}` JSON like every error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode() + _HINT
        headers = {
            name: value for name, value in response.headers.items() if name.startswith("access-")
        }
        headers["Vary"] = "Origin"
        return JSONResponse({"detail": detail}, response.status_code, headers)
