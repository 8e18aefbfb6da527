"""ETag, If-None-Match (304) and If-Match (412) on single tasks."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders

CreateTask = Callable[..., dict[str, object]]
ALICE = "/api/alice/tasks"
WRITES = [
    ("PUT", {"title": "changed"}),
    ("PATCH", {"completed": True}),
    ("DELETE", None),
]


@pytest.fixture
def alice(auth_headers: AuthHeaders) -> dict[str, str]:
    return auth_headers("alice")


@pytest.fixture
def task(client: TestClient, alice: dict[str, str]) -> tuple[str, str]:
    """A task's URL and the ETag it was created with."""
    response = client.post(ALICE, json={"title": "Buy milk"}, headers=alice)
    return response.headers["Location"], response.headers["ETag"]


def test_create_and_read_carry_the_same_strong_etag(
    client: TestClient, alice: dict[str, str], task: tuple[str, str]
) -> None:
    url, created_etag = task

    response = client.get(url, headers=alice)

    assert re.fullmatch(r'"[0-9a-f]{32}"', created_etag)
    assert response.headers["ETag"] == created_etag


@pytest.mark.parametrize(("method", "body"), WRITES[:2], ids=["PUT", "PATCH"])
def test_every_change_gives_a_new_etag(
    client: TestClient,
    alice: dict[str, str],
    task: tuple[str, str],
    method: str,
    body: dict[str, object],
) -> None:
    url, created_etag = task

    changed = client.request(method, url, json=body, headers=alice)

    assert changed.headers["ETag"] != created_etag
    assert client.get(url, headers=alice).headers["ETag"] == changed.headers["ETag"]


def test_same_content_written_twice_still_changes_the_etag(
    client: TestClient, alice: dict[str, str], task: tuple[str, str]
) -> None:
    url, _ = task
    first = client.patch(url, json={"completed": False}, headers=alice)

    second = client.patch(url, json={"completed": False}, headers=alice)

    assert first.headers["ETag"] != second.headers["ETag"]


def test_tasks_have_distinct_etags(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    first, second = create_task("alice"), create_task("alice")

    etags = {
        client.get(f"{ALICE}/{t['id']}", headers=alice).headers["ETag"] for t in (first, second)
    }

    assert len(etags) == 2


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
    ids=["exact", "weak", "in-list", "star"],
)
def test_get_with_matching_if_none_match_returns_304(
    client: TestClient, alice: dict[str, str], task: tuple[str, str], if_none_match: str
) -> None:
    url, etag = task

    response = client.get(url, headers=alice | {"If-None-Match": if_none_match.format(etag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


def test_get_with_stale_if_none_match_returns_200_and_body(
    client: TestClient, alice: dict[str, str], task: tuple[str, str]
) -> None:
    url, etag = task
    client.patch(url, json={"completed": True}, headers=alice)

    response = client.get(url, headers=alice | {"If-None-Match": etag})

    assert response.status_code == 200
    assert response.json()["completed"] is True


def test_if_none_match_on_other_users_task_is_still_404(
    client: TestClient, auth_headers: AuthHeaders, task: tuple[str, str]
) -> None:
    url, _ = task

    response = client.get(
        url.replace("alice", "bob"), headers=auth_headers("bob") | {"If-None-Match": "*"}
    )

    assert response.status_code == 404


@pytest.mark.parametrize(("method", "body"), WRITES, ids=[m for m, _ in WRITES])
@pytest.mark.parametrize(
    "if_match", ['"0123456789abcdef0123456789abcdef"', "W/{etag}", "{bare}", ""]
)
def test_write_with_stale_if_match_returns_412_and_changes_nothing(
    client: TestClient,
    alice: dict[str, str],
    task: tuple[str, str],
    method: str,
    body: dict[str, object] | None,
    if_match: str,
) -> None:
    url, etag = task
    before = client.get(url, headers=alice).json()
    header = if_match.format(etag=etag, bare=etag.strip('"'))

    response = client.request(method, url, json=body, headers=alice | {"If-Match": header})

    assert response.status_code == 412, response.text
    assert response.json() == {
        "detail": "Task has changed since you read it (If-Match does not match its ETag); "
        "fetch it again and retry"
    }
    assert client.get(url, headers=alice).json() == before


@pytest.mark.parametrize(("method", "body"), WRITES, ids=[m for m, _ in WRITES])
@pytest.mark.parametrize("if_match", ["{etag}", '"other", {etag}', "*"])
def test_write_with_current_if_match_proceeds(
    client: TestClient,
    alice: dict[str, str],
    task: tuple[str, str],
    method: str,
    body: dict[str, object] | None,
    if_match: str,
) -> None:
    url, etag = task

    response = client.request(
        method, url, json=body, headers=alice | {"If-Match": if_match.format(etag=etag)}
    )

    assert response.status_code == (204 if method == "DELETE" else 200), response.text
    after = client.get(url, headers=alice)
    assert after.status_code == 404 if method == "DELETE" else after.headers["ETag"] != etag


def test_write_with_etag_from_before_a_change_returns_412(
    client: TestClient, alice: dict[str, str], task: tuple[str, str]
) -> None:
    url, first_etag = task
    client.put(url, json={"title": "theirs"}, headers=alice | {"If-Match": first_etag})

    response = client.put(url, json={"title": "mine"}, headers=alice | {"If-Match": first_etag})

    assert response.status_code == 412
    assert client.get(url, headers=alice).json()["title"] == "theirs"


@pytest.mark.parametrize(("method", "body"), WRITES, ids=[m for m, _ in WRITES])
def test_if_match_star_on_missing_task_returns_404(
    client: TestClient, alice: dict[str, str], method: str, body: dict[str, object] | None
) -> None:
    response = client.request(method, f"{ALICE}/999", json=body, headers=alice | {"If-Match": "*"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Task not found"}


@pytest.mark.parametrize(("method", "body"), WRITES, ids=[m for m, _ in WRITES])
def test_if_match_on_other_users_task_returns_404_and_changes_nothing(
    client: TestClient,
    auth_headers: AuthHeaders,
    task: tuple[str, str],
    method: str,
    body: dict[str, object] | None,
) -> None:
    url, etag = task

    response = client.request(
        method,
        url.replace("alice", "bob"),
        json=body,
        headers=auth_headers("bob") | {"If-Match": etag},
    )

    assert response.status_code == 404
    assert client.get(url, headers=auth_headers("alice")).headers["ETag"] == etag
