"""The OpenAPI document is complete enough for a client generator, and its examples are true."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from src.main import create_app
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import ErrorResponse, HealthResponse, TaskResponse
from tests.conftest import TEST_SETTINGS, AuthHeaders

Document = dict[str, Any]
CreateTask = Callable[..., dict[str, object]]
LIST, ITEM = "/api/{user_id}/tasks", "/api/{user_id}/tasks/{task_id}"
# operationId -> (path, method, the error statuses it documents)
TASK_OPERATIONS = {
    "list_tasks": (LIST, "get", {"401", "403", "422", "503"}),
    "create_task": (LIST, "post", {"400", "401", "403", "409", "413", "415", "422", "503"}),
    "read_task": (ITEM, "get", {"401", "403", "404", "422", "503"}),
    "update_task": (ITEM, "put", {"400", "401", "403", "404", "412", "413", "415", "422", "503"}),
    "patch_task": (ITEM, "patch", {"400", "401", "403", "404", "412", "413", "415", "422", "503"}),
    "delete_task": (ITEM, "delete", {"401", "403", "404", "412", "422", "503"}),
    "stream_task_events": (f"{LIST}/events", "get", {"401", "403", "422", "429", "503"}),
}
MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (TaskCreate, TaskUpdate, TaskPatch, TaskResponse, ErrorResponse, HealthResponse)
}


@pytest.fixture(scope="module")
def document() -> Document:
    spec: Document = create_app(TEST_SETTINGS).openapi()
    return spec


def _operation(document: Document, operation_id: str) -> Document:
    path, method, _ = TASK_OPERATIONS[operation_id]
    operation: Document = document["paths"][path][method]
    return operation


def _schema_name(media: Document) -> str:
    return _schema_names(media)[0]


def _schema_names(media: Document) -> list[str]:
    schema = media["schema"]
    choices = schema.get("anyOf", [schema.get("items", schema)])
    return [choice["$ref"].rsplit("/", 1)[-1] for choice in choices]


def test_task_operations_are_exactly_the_seven_named_ones(document: Document) -> None:
    found = {
        operation["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/")
    }

    assert found == {name: (path, method) for name, (path, method, _) in TASK_OPERATIONS.items()}


@pytest.mark.parametrize("operation_id", TASK_OPERATIONS)
def test_task_operation_is_tagged_described_and_bearer_protected(
    document: Document, operation_id: str
) -> None:
    operation = _operation(document, operation_id)

    assert operation["tags"] == ["tasks"]
    assert operation["summary"] and operation["description"]
    assert operation["security"] == [{"BearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["BearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "BETTER_AUTH_SECRET" in scheme["description"]


@pytest.mark.parametrize("operation_id", TASK_OPERATIONS)
def test_task_operation_documents_each_error_with_a_detail_body(
    document: Document, operation_id: str
) -> None:
    responses = _operation(document, operation_id)["responses"]
    errors = {code for code in responses if code.startswith(("4", "5"))}

    assert errors == TASK_OPERATIONS[operation_id][2]
    for code in errors:
        media = responses[code]["content"]["application/json"]
        for name in _schema_names(media):
            schema = document["components"]["schemas"][name]
            assert "detail" in schema["properties"], (operation_id, code)
        assert responses[code]["description"] != "Additional Response", (operation_id, code)


def test_tags_have_descriptions(document: Document) -> None:
    assert [tag["name"] for tag in document["tags"]] == ["tasks", "health", "operations"]
    assert all(tag["description"] for tag in document["tags"])


def test_health_documents_200_and_503_without_security(document: Document) -> None:
    operation = document["paths"]["/health"]["get"]

    assert set(operation["responses"]) == {"200", "503"}
    assert "security" not in operation
    for code in ("200", "503"):
        assert _schema_name(operation["responses"][code]["content"]["application/json"]) == (
            "HealthResponse"
        )


def _examples(document: Document) -> Iterator[tuple[str, str, object]]:
    """Every example in the document: (where, schema name, value)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for name, example in body["examples"].items():
                    yield f"{method} {path} body {name}", _schema_name(body), example["value"]
            for code, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                if "example" in media:
                    yield f"{method} {path} {code}", _schema_name(media), media["example"]
                for name, example in media.get("examples", {}).items():
                    yield f"{method} {path} {code} {name}", _schema_name(media), example["value"]


def test_every_operation_with_a_body_offers_request_examples(document: Document) -> None:
    with_body = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]

    assert with_body == ["create_task", "update_task", "patch_task"]
    examples = {
        where.split(" body ")[0] for where, _, _ in _examples(document) if " body " in where
    }
    assert examples == {"post " + LIST, "put " + ITEM, "patch " + ITEM}


def test_every_example_is_valid_for_its_model(document: Document) -> None:
    examples = list(_examples(document))

    for _where, schema, value in examples:
        for item in value if isinstance(value, list) else [value]:
            MODELS[schema].model_validate(item)  # raises, naming the field, when one is wrong
    assert examples


def test_every_json_response_but_422_shows_an_example(document: Document) -> None:
    without = [
        f"{method} {path} {code}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for code, response in operation["responses"].items()
        if "application/json" in response.get("content", {})
        and not {"example", "examples"} & set(response["content"]["application/json"])
    ]

    # FastAPI's 422 lists the failing fields; its schema says enough.
    assert without == [entry for entry in without if entry.endswith(" 422")]
    assert len(without) == len(TASK_OPERATIONS)  # one 422 per task operation


@pytest.mark.parametrize(
    ("operation_id", "code"),
    [
        ("create_task", "400"),
        ("patch_task", "415"),
        ("list_tasks", "401"),
        ("update_task", "403"),
        ("read_task", "404"),
        ("delete_task", "404"),
    ],
)
def test_documented_error_example_is_what_the_service_answers(
    document: Document,
    client: TestClient,
    auth_headers: AuthHeaders,
    operation_id: str,
    code: str,
) -> None:
    path, method, _ = TASK_OPERATIONS[operation_id]
    url = path.format(user_id="alice", task_id=999999)
    headers = {
        "400": auth_headers("alice") | {"Content-Type": "application/json"},
        "401": {},
        "403": auth_headers("bob"),
        "404": auth_headers("alice"),
        "415": auth_headers("alice") | {"Content-Type": "text/plain;charset=UTF-8"},
    }[code]
    body = b'{"title": ' if code == "400" else b'{"title": "t"}'

    response = client.request(method.upper(), url, content=body, headers=headers)

    documented = _operation(document, operation_id)["responses"][code]
    assert response.status_code == int(code)
    assert response.json() == documented["content"]["application/json"]["example"]
    for header in documented.get("headers", {}):
        assert header in response.headers


def test_documented_503_examples_are_what_the_service_answers(
    document: Document, unreachable_client: TestClient, auth_headers: AuthHeaders
) -> None:
    tasks = unreachable_client.get("/api/alice/tasks", headers=auth_headers("alice"))
    health = unreachable_client.get("/health")

    documented_tasks = _operation(document, "list_tasks")["responses"]["503"]
    documented_health = document["paths"]["/health"]["get"]["responses"]["503"]
    examples = documented_tasks["content"]["application/json"]["examples"]
    assert tasks.json() == examples["DatabaseUnavailable"]["value"]
    assert tasks.headers["Retry-After"] == "2"
    documented = documented_health["content"]["application/json"]["examples"]
    assert health.json() == documented["unreachable"]["value"]
    assert documented["read-only"]["value"] == {"status": "unhealthy", "database": "read-only"}


def test_create_task_documents_the_location_header_it_sends(
    document: Document, client: TestClient, auth_headers: AuthHeaders
) -> None:
    documented = _operation(document, "create_task")["responses"]["201"]["headers"]

    response = client.post("/api/alice/tasks", json={"title": "t"}, headers=auth_headers("alice"))

    assert documented["Location"]["required"] is True
    assert response.headers["Location"] == f"/api/alice/tasks/{response.json()['id']}"
