"""The HTTP contract of /api/{user_id}/tasks and /health."""

import logging
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from src.api.routes import tasks
from src.config import Settings
from src.main import create_app
from src.services.task_service import TaskService
from tests.conftest import AuthHeaders

CreateTask = Callable[..., dict[str, object]]
ALICE = "/api/alice/tasks"


@pytest.fixture
def alice(auth_headers: AuthHeaders) -> dict[str, str]:
    return auth_headers("alice")


def test_create_task_returns_201_with_body_and_location(
    client: TestClient, alice: dict[str, str]
) -> None:
    response = client.post(ALICE, json={"title": " Buy milk ", "description": "2L"}, headers=alice)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "user_id": "alice",
        "title": "Buy milk",
        "description": "2L",
        "completed": False,
        "created_at": "",
        "updated_at": "",
    }
    assert response.headers["Location"] == f"/api/alice/tasks/{body['id']}"
    assert body["created_at"] == body["updated_at"]
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None


def test_create_task_percent_encodes_user_id_in_location(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    user = "ann+1@ex.com"
    response = client.post(f"/api/{user}/tasks", json={"title": "t"}, headers=auth_headers(user))

    assert response.headers["Location"] == f"/api/ann%2B1%40ex.com/tasks/{response.json()['id']}"


def test_list_tasks_empty_returns_empty_array(client: TestClient, alice: dict[str, str]) -> None:
    response = client.get(ALICE, headers=alice)

    assert response.status_code == 200
    assert response.json() == []


def test_list_tasks_returns_newest_first(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    ids = [create_task("alice", title=f"t{n}")["id"] for n in range(3)]

    response = client.get(ALICE, headers=alice)

    assert [task["id"] for task in response.json()] == ids[::-1]


def test_read_task_returns_200_with_task(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    task = create_task("alice")

    response = client.get(f"{ALICE}/{task['id']}", headers=alice)

    assert response.status_code == 200
    assert response.json() == task


def test_update_task_replaces_text_and_keeps_created_at(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    task = create_task("alice", description="old")

    response = client.put(f"{ALICE}/{task['id']}", json={"title": "New"}, headers=alice)

    body = response.json()
    assert response.status_code == 200, response.text
    assert (body["title"], body["description"], body["completed"]) == ("New", None, False)
    assert body["created_at"] == task["created_at"]
    assert body["updated_at"] > task["updated_at"]


def test_patch_task_sets_completed_and_advances_updated_at(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    task = create_task("alice")

    response = client.patch(f"{ALICE}/{task['id']}", json={"completed": True}, headers=alice)

    body = response.json()
    assert response.status_code == 200, response.text
    assert (body["completed"], body["title"]) == (True, task["title"])
    assert body["updated_at"] > task["updated_at"]
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).json()["completed"] is True


def test_delete_task_returns_204_and_task_is_gone(
    client: TestClient, alice: dict[str, str], create_task: CreateTask
) -> None:
    task = create_task("alice")

    response = client.delete(f"{ALICE}/{task['id']}", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).status_code == 404
    assert client.delete(f"{ALICE}/{task['id']}", headers=alice).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("task_id", ["999999", "0", "2147483648", str(2**63), "9" * 20])
def test_item_route_unknown_or_out_of_range_id_returns_404(
    client: TestClient, alice: dict[str, str], method: str, task_id: str
) -> None:
    body = {"GET": None, "DELETE": None, "PUT": {"title": "t"}, "PATCH": {"completed": True}}

    response = client.request(method, f"{ALICE}/{task_id}", json=body[method], headers=alice)

    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Task not found"}


def test_item_route_non_integer_id_returns_422(client: TestClient, alice: dict[str, str]) -> None:
    response = client.get(f"{ALICE}/abc", headers=alice)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "task_id"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_write_with_malformed_json_returns_400(
    client: TestClient, alice: dict[str, str], create_task: CreateTask, method: str
) -> None:
    url = ALICE if method == "POST" else f"{ALICE}/{create_task('alice')['id']}"
    headers = alice | {"Content-Type": "application/json"}

    response = client.request(method, url, content=b'{"title": ', headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("Request body is not valid JSON")


# What fetch sends for a string body, what curl -d sends, and nothing at all.
@pytest.mark.parametrize(
    "content_type",
    ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None],
    ids=["fetch-string-body", "curl-data", "no-content-type"],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_write_with_body_not_declared_json_returns_415_naming_the_header(
    client: TestClient,
    alice: dict[str, str],
    create_task: CreateTask,
    method: str,
    content_type: str | None,
) -> None:
    task = create_task("alice", title="kept")
    url = ALICE if method == "POST" else f"{ALICE}/{task['id']}"
    headers = alice if content_type is None else alice | {"Content-Type": content_type}

    response = client.request(
        method, url, content=b'{"title": "changed", "completed": true}', headers=headers
    )

    assert response.status_code == 415, response.text
    sent = f"got '{content_type}'" if content_type else "the request had no Content-Type"
    assert response.json() == {
        "detail": "Request body must be JSON: send it with "
        f"'Content-Type: application/json' ({sent})"
    }
    assert [t["title"] for t in client.get(ALICE, headers=alice).json()] == ["kept"]
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).json() == task


@pytest.mark.parametrize(("user", "expected"), [(None, 401), ("bob", 403)])
def test_token_and_owner_are_checked_before_the_content_type(
    client: TestClient, auth_headers: AuthHeaders, user: str | None, expected: int
) -> None:
    headers = {"Content-Type": "text/plain"} | (auth_headers(user) if user else {})

    response = client.post(ALICE, content=b'{"title": "t"}', headers=headers)

    assert response.status_code == expected, response.text


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/ld+json"]
)
def test_create_accepts_json_media_types_with_parameters_case_or_suffix(
    client: TestClient, alice: dict[str, str], content_type: str
) -> None:
    headers = alice | {"Content-Type": content_type}

    response = client.post(ALICE, content=b'{"title": "t"}', headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "t"


def test_write_without_a_body_is_422_whatever_its_content_type(
    client: TestClient, alice: dict[str, str]
) -> None:
    headers = alice | {"Content-Type": "text/plain"}

    response = client.post(ALICE, headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": "t", "description": "x" * 1001}, "description"),
        ({"title": "a\u0000b"}, "title"),
        ({"title": "t", "user_id": "bob"}, "user_id"),
        ({"title": "t", "completed": True}, "completed"),
        ({"title": "t", "id": 7}, "id"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_create_task_invalid_body_returns_422_naming_field(
    client: TestClient, alice: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = client.post(ALICE, json=body, headers=alice)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field


@pytest.mark.parametrize(
    "raw_body",
    ['{"title": "t", "description": "\\ud83d"}', '{"title": "a\\u0000b"}'],
    ids=["lone-surrogate", "escaped-nul"],
)
def test_create_task_unstorable_json_escape_returns_422(
    client: TestClient, alice: dict[str, str], raw_body: str
) -> None:
    headers = alice | {"Content-Type": "application/json"}

    response = client.post(ALICE, content=raw_body.encode(), headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
    response.content.decode("utf-8")  # the echoed input is escaped, never invalid UTF-8
    assert client.get(ALICE, headers=alice).json() == []


@pytest.mark.parametrize("value", ["yes", 1, "true", None], ids=repr)
def test_patch_task_non_boolean_completed_returns_422(
    client: TestClient, alice: dict[str, str], create_task: CreateTask, value: object
) -> None:
    task = create_task("alice")

    response = client.patch(f"{ALICE}/{task['id']}", json={"completed": value}, headers=alice)

    assert response.status_code == 422, response.text
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).json()["completed"] is False


def test_path_user_id_with_nul_returns_422(client: TestClient, auth_headers: AuthHeaders) -> None:
    response = client.get("/api/al%00ice/tasks", headers=auth_headers("alice"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


def test_sql_looking_text_round_trips_literally(client: TestClient, alice: dict[str, str]) -> None:
    title = "'); DROP TABLE tasks; --"

    created = client.post(ALICE, json={"title": title, "description": "%_\\"}, headers=alice)

    assert created.json()["title"] == title
    assert client.get(ALICE, headers=alice).json()[0]["description"] == "%_\\"


def test_health_returns_healthy_when_database_answers(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "ok"}


def test_health_returns_503_when_database_is_down(unreachable_client: TestClient) -> None:
    response = unreachable_client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "unreachable"}


def test_task_route_returns_503_when_database_is_down(
    unreachable_client: TestClient, alice: dict[str, str]
) -> None:
    response = unreachable_client.get(ALICE, headers=alice)

    assert response.status_code == 503
    assert response.json() == {"detail": "Database is temporarily unavailable; retry shortly"}
    assert response.headers["Retry-After"] == "2"


def test_unexpected_error_returns_500_without_trace(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "secret internals" not in response.text
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


def test_cors_preflight_allows_configured_origin(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["http://localhost:3000"]}))
    with TestClient(app) as client:
        allowed = client.options(ALICE, headers=_preflight("http://localhost:3000"))
        denied = client.options(ALICE, headers=_preflight("http://evil.example"))

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in denied.headers


def test_cors_preflight_from_a_disallowed_origin_is_a_json_400_naming_the_setting(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["http://localhost:3000"]}))
    with TestClient(app) as client:
        denied = client.options(ALICE, headers=_preflight("http://evil.example"))

    assert denied.status_code == 400
    assert denied.headers["content-type"] == "application/json"
    assert denied.json() == {
        "detail": "Disallowed CORS origin; the API's CORS_ORIGINS setting lists the origins allowed"
    }
    assert "access-control-allow-origin" not in denied.headers


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


def test_docs_and_openapi_offer_bearer_authorization(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert client.get("/docs").status_code == 200
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    operation = spec["paths"]["/api/{user_id}/tasks"]["post"]
    assert operation["operationId"] == "create_task"
    assert operation["security"] == [{"BearerAuth": []}]


@pytest.mark.parametrize(
    "path", ["/api/alice/tasks", "/api/alice/tasks/{id}", "/health", "/openapi.json", "/docs"]
)
def test_head_answers_like_get_without_a_body(
    client: TestClient, alice: dict[str, str], path: str
) -> None:
    task = client.post(ALICE, json={"title": "t"}, headers=alice).json()
    url = path.format(id=task["id"])

    got = client.get(url, headers=alice)
    head = client.head(url, headers=alice)

    assert (head.status_code, head.content) == (got.status_code, b"")
    assert got.status_code == 200
    different = {"date", "x-request-id"}  # per response
    assert {k: v for k, v in head.headers.items() if k not in different} == {
        k: v for k, v in got.headers.items() if k not in different
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_head_checks_the_token_like_get(client: TestClient, headers: dict[str, str]) -> None:
    head = client.head(ALICE, headers=headers)

    assert (head.status_code, head.content) == (401, b"")
    assert head.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("spelling", ["01", "+1", "%201", "1.0", "1e0", "1_0", "0x1", "-1"])
def test_only_the_canonical_id_names_a_task(
    client: TestClient, alice: dict[str, str], spelling: str
) -> None:
    task = client.post(ALICE, json={"title": "t"}, headers=alice).json()
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).status_code == 200
    other = spelling.replace("1", str(task["id"]))

    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = {"title": "x"} if method == "PUT" else {"completed": True}
        response = client.request(method, f"{ALICE}/{other}", json=body, headers=alice)
        assert response.status_code == 422, (method, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "task_id"]
    assert client.get(f"{ALICE}/{task['id']}", headers=alice).json() == task  # untouched


def test_the_owner_bound_service_is_one_dependency_a_test_can_replace(
    settings: Settings,
) -> None:
    def carols_tasks(request: Request) -> TaskService:
        return TaskService(request.app.state.database, "carol")

    app = create_app(settings)
    # Every task route gets the caller's service from this one dependency, token checks and all.
    app.dependency_overrides[tasks.owned_tasks] = carols_tasks
    with TestClient(app) as client:
        created = client.post("/api/anyone/tasks", json={"title": "t"})
        listed = client.get("/api/anyone/tasks")

    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == "carol"
    assert [task["id"] for task in listed.json()] == [created.json()["id"]]
