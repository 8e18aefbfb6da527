"""Two tabs of one user, on the frontend's origin: a change made in one shows up in the other,
carried by the live task stream (fetch and a stream reader, as docs/live-updates.md shows)."""

from urllib.parse import urlencode

from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import make_token
from tests.e2e.conftest import ApiServer, Origins


def _open_tab(context: BrowserContext, origins: Origins, api: ApiServer, user: str) -> Page:
    fragment = urlencode({"api": api.url, "user": user, "token": make_token(user)})
    page = context.new_page()
    page.goto(f"{origins.allowed}/live.html#{fragment}")
    expect(page.locator("body[data-connected='true']")).to_be_attached()
    return page


def test_a_change_in_one_tab_appears_in_the_other(
    api_server: ApiServer, origins: Origins, context: BrowserContext
) -> None:
    first = _open_tab(context, origins, api_server, "erin")
    second = _open_tab(context, origins, api_server, "erin")

    created = first.evaluate("createTask('Water the plants')")
    expect(second.locator("#tasks li")).to_have_text(["Water the plants"])
    second.evaluate(f"completeTask({created['id']})")

    expect(first.locator("#tasks li")).to_have_text(["Water the plants (done)"])
    expect(second.locator("#tasks li")).to_have_text(["Water the plants (done)"])
