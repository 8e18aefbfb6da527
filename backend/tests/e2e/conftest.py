"""A real server, real pages and headless Chromium (Debian's; Playwright never downloads one).

The API runs as `python -m src.server` in a subprocess on a socket this process bound to a free
port, over the test run's PostgreSQL (`database_url`), emptied before each test. Two small static
servers give the browser two more origins, one of them listed in CORS_ORIGINS.
"""

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, Route, sync_playwright

from tests.conftest import TEST_SECRET
from tests.external import need

BACKEND_DIR = Path(__file__).resolve().parents[2]
PAGES_DIR = Path(__file__).resolve().parent / "pages"
# Debian's package (what .ci/run installs), or Google Chrome where a CI image ships that instead.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Origins:
    allowed: str
    denied: str


@dataclass(frozen=True)
class ApiServer:
    url: str
    allowed_origin: str


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    need(
        CHROMIUM and Path(CHROMIUM).is_file(),
        "Chromium is not installed: apt-get install chromium (or set CHROMIUM=path)",
    )
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile with no request routing.

    Routing must stay off where CORS is under test: while any route is installed, Playwright
    answers CORS preflights itself, and the browser would never see the API's refusal.
    """
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


@dataclass
class OfflineContext:
    """A browser context whose requests outside the API's origin are refused and recorded."""

    context: BrowserContext
    refused: list[str]


@pytest.fixture
def offline_context(context: BrowserContext, api_server: ApiServer) -> OfflineContext:
    """`context` reaching the API's origin only, as on a machine with no other network."""
    refused: list[str] = []
    origin = re.escape(api_server.url)

    def refuse(route: Route) -> None:
        refused.append(route.request.url)
        route.abort("internetdisconnected")

    context.route(re.compile(rf"^(?!{origin}/)"), refuse)
    return OfflineContext(context, refused)


@pytest.fixture(scope="package")
def origins() -> Iterator[Origins]:
    """Two static servers for pages/: two origins, only the first of which the API allows."""
    servers = [_static_server() for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Origins(*(f"http://127.0.0.1:{server.server_address[1]}" for server in servers))
    for server in servers:
        server.shutdown()
        server.server_close()


def _static_server() -> ThreadingHTTPServer:
    handler = partial(_QuietHandler, directory=str(PAGES_DIR))
    return ThreadingHTTPServer(("127.0.0.1", 0), handler)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the base's name
        """Keep page loads out of the test output."""


@pytest.fixture
def api_server(served_api: ApiServer, clean_database: str) -> ApiServer:
    """The served API, its database emptied for this test (the server keeps running)."""
    return served_api


@pytest.fixture(scope="package")
def served_api(
    database_url: str, origins: Origins, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("api")
    env = os.environ | {
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "DATABASE_URL": database_url,
        "CORS_ORIGINS": origins.allowed,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "JWT_ISSUER": "",  # a developer's .env must not change what tokens need
        "JWT_AUDIENCE": "",
    }
    # Bound and listening before the server starts: no port race, and early requests just queue.
    listener = socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        argv = [sys.executable, "-m", "src.server", "--fd", str(listener.fileno())]
        server = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed argv
            argv, cwd=BACKEND_DIR, env=env, pass_fds=[listener.fileno()], stdout=log, stderr=log
        )
        listener.close()
        try:
            _wait_until_healthy(url, server, log_path)
            yield ApiServer(url=url, allowed_origin=origins.allowed)
        finally:
            server.terminate()
            server.wait(timeout=10)


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    try:
        response = httpx.get(f"{url}/health", timeout=STARTUP_TIMEOUT)
        problem = None if response.status_code == 200 else f"{response.status_code} {response.text}"
    except httpx.HTTPError as error:
        problem = f"{type(error).__name__}: {error}"
    if problem is not None:
        server.kill()
        server.wait()
        pytest.fail(f"the API did not start ({problem}):\n{log_path.read_text()}", pytrace=False)
