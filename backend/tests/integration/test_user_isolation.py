"""Every route, tried across users: the path check (403) and the owner filter (404)."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders

CreateTask = Callable[..., dict[str, object]]
ITEM_CALLS = [
    ("GET", None),
    ("PUT", {"title": "hijacked"}),
    ("PATCH", {"completed": True}),
    ("DELETE", None),
]
ALL_CALLS = [("GET", "", None), ("POST", "", {"title": "planted"})] + [
    (method, "/{id}", body) for method, body in ITEM_CALLS
]


@pytest.mark.parametrize(("method", "suffix", "body"), ALL_CALLS, ids=lambda v: str(v))
def test_route_with_other_users_path_returns_403(
    client: TestClient,
    auth_headers: AuthHeaders,
    create_task: CreateTask,
    method: str,
    suffix: str,
    body: dict[str, object] | None,
) -> None:
    task = create_task("alice")
    url = "/api/alice/tasks" + suffix.format(id=task["id"])

    response = client.request(method, url, json=body, headers=auth_headers("bob"))

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "Token does not belong to this user"}


@pytest.mark.parametrize(("method", "body"), ITEM_CALLS, ids=lambda v: str(v))
def test_item_route_for_other_users_task_returns_404(
    client: TestClient,
    auth_headers: AuthHeaders,
    create_task: CreateTask,
    method: str,
    body: dict[str, object] | None,
) -> None:
    task = create_task("alice", title="alice's secret")

    response = client.request(
        method, f"/api/bob/tasks/{task['id']}", json=body, headers=auth_headers("bob")
    )

    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Task not found"}
    unchanged = client.get(f"/api/alice/tasks/{task['id']}", headers=auth_headers("alice"))
    assert unchanged.json() == task


def test_other_users_task_looks_exactly_like_a_missing_one(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    task = create_task("alice")

    foreign = client.get(f"/api/bob/tasks/{task['id']}", headers=auth_headers("bob"))
    missing = client.get("/api/bob/tasks/999999", headers=auth_headers("bob"))

    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


def test_list_returns_only_callers_tasks(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    create_task("alice", title="a1")
    create_task("bob", title="b1")
    create_task("alice", title="a2")

    response = client.get("/api/bob/tasks", headers=auth_headers("bob"))

    assert [task["title"] for task in response.json()] == ["b1"]


def test_create_in_own_path_always_owned_by_token_subject(
    client: TestClient, auth_headers: AuthHeaders, create_task: CreateTask
) -> None:
    task = create_task("bob")

    assert task["user_id"] == "bob"
    assert client.get("/api/alice/tasks", headers=auth_headers("alice")).json() == []


@pytest.mark.parametrize(
    "user_id",
    ["alice@example.com", "Zoë Ünïcødé", "a+b", "with space", "用户", "x;drop table tasks"],
)
def test_opaque_user_ids_work_in_path_body_and_location(
    client: TestClient, auth_headers: AuthHeaders, user_id: str
) -> None:
    headers = auth_headers(user_id)

    created = client.post(f"/api/{user_id}/tasks", json={"title": "t"}, headers=headers)
    fetched = client.get(created.headers["Location"], headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == user_id
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created.json()
    assert client.get("/api/alice/tasks", headers=auth_headers("alice")).json() == []
