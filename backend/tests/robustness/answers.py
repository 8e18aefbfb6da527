"""Timed calls to a running server, shared by the outage tests."""

import time
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import make_token

USER = "outage@example.com"
TASKS = "/api/outage%40example.com/tasks"
HEADERS = {"Authorization": f"Bearer {make_token(USER)}"}
RECOVERY_SECONDS = 5.0
UNAVAILABLE = {"detail": "Database is temporarily unavailable; retry shortly"}


@dataclass(frozen=True)
class Answer:
    request: str
    status: int
    seconds: float
    body: object


def ask(client: httpx.Client, method: str, url: str, json: object = None) -> Answer:
    started = time.monotonic()
    response = client.request(method, url, headers=HEADERS, json=json)
    seconds = time.monotonic() - started
    body = response.json() if response.content else None
    return Answer(f"{method} {url}", response.status_code, seconds, body)


def until_healthy(client: httpx.Client) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_SECONDS:
        if client.get("/health").status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)  # bounded polling: recovery has no event to wait on
    pytest.fail(f"service did not recover within {RECOVERY_SECONDS} s")
