"""specs/.../contracts/task-endpoints.yaml is the app's OpenAPI document, and cannot drift from it.

Each aspect is compared on its own, so a failure names what changed; `make openapi` rewrites the
file from the app.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from scripts.export_openapi import CONTRACT_FILE, main, openapi_document, render
from src.config import Settings
from src.main import create_app

FIX = (
    "the contract is out of date: run `make openapi` to regenerate "
    "specs/001-backend-auth-tasks/contracts/task-endpoints.yaml from the app, and commit it"
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Document = dict[str, Any]


@pytest.fixture
def served(settings: Settings) -> Iterator[Document]:
    """The document the running app serves at /openapi.json."""
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: Document = response.json()
    yield document


@pytest.fixture(scope="module")
def committed() -> Document:
    assert CONTRACT_FILE.exists(), f"{CONTRACT_FILE} is missing; {FIX}"
    document: Document = yaml.safe_load(CONTRACT_FILE.read_text(encoding="utf-8"))
    return document


def _operations(document: Document) -> dict[str, Document]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    }


def _per_operation(pick: Callable[[Document], object]) -> Callable[[Document], dict[str, object]]:
    return lambda document: {key: pick(op) for key, op in _operations(document).items()}


def _parameters(operation: Document) -> object:
    # A shared parameter is a $ref to components/parameters; key it by the reference.
    return {
        (p["in"], p["name"]) if "$ref" not in p else ("$ref", p["$ref"]): p
        for p in operation.get("parameters", [])
    }


def _security(document: Document) -> object:
    schemes = document.get("components", {}).get("securitySchemes")
    return {"schemes": schemes, **_per_operation(lambda op: op.get("security"))(document)}


ASPECTS: dict[str, Callable[[Document], object]] = {
    "openapi version and info": lambda d: (d.get("openapi"), d.get("info")),
    "paths": lambda d: sorted(d.get("paths", {})),
    "operations and operationIds": _per_operation(lambda op: op.get("operationId")),
    "tags": lambda d: (d.get("tags"), _per_operation(lambda op: op.get("tags"))(d)),
    "summaries and descriptions": _per_operation(
        lambda op: (op.get("summary"), op.get("description"))
    ),
    "parameters": _per_operation(_parameters),
    "request bodies": _per_operation(lambda op: op.get("requestBody")),
    "status codes": _per_operation(lambda op: sorted(op.get("responses", {}))),
    "responses (schemas, headers, examples)": _per_operation(lambda op: op.get("responses")),
    "security": _security,
    "component schemas": lambda d: d.get("components", {}).get("schemas"),
    "whole document": lambda d: d,
}


@pytest.mark.parametrize("aspect", ASPECTS)
def test_contract_matches_the_app(committed: Document, served: Document, aspect: str) -> None:
    view = ASPECTS[aspect]

    expected, actual = view(served), view(committed)

    if actual != expected:
        pytest.fail(f"{aspect} differ: {_difference(actual, expected)}; {FIX}", pytrace=False)


def _difference(contract: object, app: object) -> str:
    if isinstance(contract, dict) and isinstance(app, dict):
        only_contract = sorted(map(str, contract.keys() - app.keys()))
        only_app = sorted(map(str, app.keys() - contract.keys()))
        changed = sorted(str(k) for k in contract.keys() & app.keys() if contract[k] != app[k])
        return (
            f"only in the contract {only_contract}, only in the app {only_app}, changed {changed}"
        )
    return f"the contract has {contract!r:.300}, the app has {app!r:.300}"


def test_contract_comparison_catches_a_hand_edit(served: Document) -> None:
    edited = yaml.safe_load(render(served))
    edited["paths"]["/api/{user_id}/tasks/{task_id}"]["patch"]["responses"].pop("404")

    changed = [name for name, view in ASPECTS.items() if view(edited) != view(served)]

    assert changed == ["status codes", "responses (schemas, headers, examples)", "whole document"]


def test_rendered_yaml_reads_back_as_the_same_document(served: Document) -> None:
    text = render(served)

    assert yaml.safe_load(text) == served
    assert text.startswith("# The Task API's OpenAPI contract, generated from the app")


def test_export_script_writes_the_served_document(served: Document, tmp_path: Path) -> None:
    output = tmp_path / "contract.yaml"

    main(["--output", str(output)])

    assert yaml.safe_load(output.read_text(encoding="utf-8")) == served
    assert openapi_document() == served
