"""A page on another origin calls the API with fetch and a Bearer token, as the frontend does.

The browser, not the test, decides: it sends the CORS preflight and lets the call through only
for the origin listed in CORS_ORIGINS.
"""

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.conftest import make_token
from tests.e2e.conftest import ApiServer, Origins


def _run_page(context: BrowserContext, origin: str, api: ApiServer, user: str) -> dict[str, Any]:
    fragment = urlencode(
        {"api": api.url, "user": user, "token": make_token(user), "title": f"from {origin}"}
    )
    page = context.new_page()
    page.goto(f"{origin}/cors.html#{fragment}")
    result = page.locator("#result[data-done='true']")
    expect(result).to_be_attached()
    outcome: dict[str, Any] = json.loads(result.inner_text())
    return outcome


def _stored(api: ApiServer, user: str) -> list[dict[str, Any]]:
    """The user's tasks as the API has them, asked directly rather than through the browser."""
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    tasks: list[dict[str, Any]] = httpx.get(f"{api.url}/api/{user}/tasks", headers=headers).json()
    return tasks


def test_page_on_allowed_origin_creates_and_lists_tasks(
    api_server: ApiServer, origins: Origins, context: BrowserContext
) -> None:
    outcome = _run_page(context, origins.allowed, api_server, user="carol")

    [stored] = _stored(api_server, "carol")
    assert outcome == {
        "created": 201,
        "location": f"/api/carol/tasks/{stored['id']}",  # readable because the API exposes it
        "listed": 200,
        "titles": [f"from {origins.allowed}"],
    }


def test_page_on_other_origin_is_blocked_by_the_browser(
    api_server: ApiServer, origins: Origins, context: BrowserContext
) -> None:
    outcome = _run_page(context, origins.denied, api_server, user="dave")

    assert outcome == {"error": "TypeError: Failed to fetch"}
    # The preflight was refused, so the POST itself never reached the API.
    assert _stored(api_server, "dave") == []
