"""Swagger UI at /docs, driven as a person would: authorize, create a task, list it.

The browser may reach the API's origin only: /docs must render from the service's own files.
"""

import json

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.conftest import make_token
from tests.e2e.conftest import ApiServer, OfflineContext

TITLE = "Water the plants (from Swagger UI)"


def test_swagger_ui_authorize_create_then_list_shows_the_task(
    api_server: ApiServer, offline_context: OfflineContext
) -> None:
    page = offline_context.context.new_page()
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    page.goto(f"{api_server.url}/docs")

    _authorize(page, make_token("alice"))
    created = _execute(page, "create_task", user_id="alice", body={"title": TITLE})
    listed = _execute(page, "list_tasks", user_id="alice")

    expect(created.locator("tr.response .response-col_status")).to_have_text("201")
    expect(listed.locator("tr.response .response-col_status")).to_have_text("200")
    titles = [task["title"] for task in json.loads(_response_body(listed))]
    assert titles == [TITLE]
    stored = httpx.get(
        f"{api_server.url}/api/alice/tasks",
        headers={"Authorization": f"Bearer {make_token('alice')}"},
    )
    assert [task["title"] for task in stored.json()] == [TITLE]
    assert offline_context.refused == []
    assert {url.split("/")[-1] for url in loaded} >= {
        "docs",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "favicon.png",
        "openapi.json",
    }
    assert all(url.startswith(f"{api_server.url}/") for url in loaded)


def _authorize(page: Page, token: str) -> None:
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("#auth-bearer-value").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


def _execute(
    page: Page, operation_id: str, *, user_id: str, body: dict[str, object] | None = None
) -> Locator:
    """Open the operation, fill it in, execute it; return its live response panel."""
    operation = page.locator(f"#operations-tasks-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator('tr[data-param-name="user_id"] input').fill(user_id)
    if body is not None:
        operation.locator("textarea.body-param__text").fill(json.dumps(body))
    operation.get_by_role("button", name="Execute").click()
    responses = operation.locator(".live-responses-table")
    expect(responses).to_be_visible()
    return responses


def _response_body(responses: Locator) -> str:
    return responses.locator("tr.response .response-col_description .microlight").first.inner_text()
