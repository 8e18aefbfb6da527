"""Swagger UI at /docs from the service itself: it works offline and loads nothing from a CDN.

The files are the `fastapi-swagger` package's (pinned in uv.lock), which ships each Swagger UI
release; nothing is copied into this repository. ReDoc is not served: FastAPI's /redoc loads its
script from a CDN, and /docs covers the same document.
"""

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# Path under /docs -> file of the package.
_ASSETS = {
    "swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui.css",
    "favicon.png": "favicon-32x32.png",
}
# A new package version ships new bytes under the same names: revalidate after a day at most.
_CACHE_CONTROL = "public, max-age=86400"


def install_docs(app: FastAPI) -> None:
    """/docs, its three asset files and the OAuth2 redirect page; create FastAPI with
    `docs_url=None, redoc_url=None` so that FastAPI adds none of its CDN-backed pages."""
    directory = Path(str(files("fastapi_swagger.resources")))

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{root}{DOCS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(DOCS_URL, swagger_ui_html, include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
    for name, packaged in _ASSETS.items():
        app.add_api_route(
            f"{DOCS_URL}/{name}", _asset(directory / packaged), include_in_schema=False
        )


def _asset(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def asset() -> FileResponse:
        return FileResponse(path, headers={"Cache-Control": _CACHE_CONTROL})

    return asset
