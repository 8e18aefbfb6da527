"""/docs is served from the service's own files: no page or asset names another host."""

import re

import pytest
from fastapi.testclient import TestClient

ASSETS = [
    ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    ("/docs/swagger-ui.css", "text/css; charset=utf-8"),
    ("/docs/favicon.png", "image/png"),
]


def test_docs_page_loads_only_same_origin_files(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200, response.text
    assert set(re.findall(r"https?://[^\s'\"]+", response.text)) == set()
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/favicon.png"} <= set(
        re.findall(r"['\"](/[^'\"]+)['\"]", response.text)
    )


@pytest.mark.parametrize(("path", "content_type"), ASSETS, ids=lambda value: str(value))
def test_docs_asset_is_served_with_cache_validators(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert "etag" in response.headers
    assert len(response.content) > 500


def test_oauth2_redirect_page_is_served(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")

    assert response.status_code == 200
    assert "oauth2" in response.text


def test_redoc_is_not_served(client: TestClient) -> None:
    response = client.get("/redoc")

    assert response.status_code == 404
