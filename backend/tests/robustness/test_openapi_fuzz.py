"""Schemathesis against the app's own OpenAPI document, in process, on each test database.

Valid data must be accepted, invalid data rejected with a 4xx, and every answer must be a
documented status code with a body matching its documented schema. Budget: FUZZ_EXAMPLES
cases per operation and mode (default 40), seed FUZZ_SEED (fixed, so CI runs are replayable).
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import assume, given, seed, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from src.config import Settings
from src.main import create_app
from tests.conftest import TEST_SECRET, make_token
from tests.robustness.conftest import TALLY, budget

LIST, ITEM = "/api/{user_id}/tasks", "/api/{user_id}/tasks/{task_id}"
TASK_OPERATIONS = [
    ("GET", LIST),
    ("POST", LIST),
    ("GET", ITEM),
    ("PUT", ITEM),
    ("PATCH", ITEM),
    ("DELETE", ITEM),
]
INPUTLESS = ["/health", "/metrics"]
OPERATIONS = [*TASK_OPERATIONS, *(("GET", path) for path in INPUTLESS)]
# An endless stream: the test client reads a whole answer before returning it, so a valid
# request would never come back. tests/live covers its answers on a real server.
STREAMS = [("GET", f"{LIST}/events")]
CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
# The library's operation type is generic over spec internals this module never touches.
FuzzCase = Case[APIOperation[Any, Any, Any, Any]]
EXAMPLES = budget("FUZZ_EXAMPLES", 40)
SEED = budget("FUZZ_SEED", 20260101)


def _ids(operation: tuple[str, str]) -> str:
    return f"{operation[0]} {operation[1]}"


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    # Schemathesis serves the app in its own event loop and starts its lifespan there on the
    # first call, which opens the pool in that loop; it keeps it for the process unless stopped.
    yield create_app(settings)
    asgi.shutdown_lifespans()


@pytest.fixture
def schema(app: FastAPI) -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture
def seeder(app: FastAPI) -> Iterator[Callable[[str], int | None]]:
    """Creates a task for a user through the API; its id, or None if the user id is refused."""
    # Schemathesis' own client: the loop the pool belongs to. A TestClient would run a second
    # lifespan in a loop of its own, and the two would share the one `app.state.database`.
    # Schemathesis types ASGI messages as dict, Starlette as MutableMapping: the same app.
    with asgi.get_client(app) as client:  # type: ignore[arg-type]

        def create(user: str) -> int | None:
            url = f"/api/{quote(user, safe='')}/tasks"
            response = client.post(url, json={"title": "seeded"}, headers=_bearer(user))
            return int(response.json()["id"]) if response.status_code == 201 else None

        yield create


def test_fuzzed_operations_cover_the_whole_document(schema: OpenApiSchema) -> None:
    documented = {(method.upper(), path) for path, methods in schema.items() for method in methods}

    assert documented == set(OPERATIONS + STREAMS)


# /health and /metrics take no input, so no request to them can be invalid: positive cases only.
FUZZ_RUNS = [
    pytest.param(operation, mode, id=f"{_ids(operation)} {mode}")
    for operation in OPERATIONS
    for mode in GenerationMode
    if mode.is_positive or operation[1] not in INPUTLESS
]


@pytest.mark.parametrize(("operation", "mode"), FUZZ_RUNS)
def test_operation_with_valid_token_answers_as_documented(
    schema: OpenApiSchema,
    seeder: Callable[[str], int | None],
    operation: tuple[str, str],
    mode: GenerationMode,
) -> None:
    method, path = operation
    checks = [
        *CONFORMANCE,
        positive_data_acceptance if mode.is_positive else negative_data_rejection,
    ]

    @seed(SEED)
    @settings(settings.get_profile("robustness"), max_examples=EXAMPLES, database=None)
    @given(case=schema[path][method].as_strategy(generation_mode=mode), data=st.data())
    def run(case: FuzzCase, data: st.DataObject) -> None:
        # Header-only mutations are left to the header tests: the bearer token is replaced below,
        # and X-Request-ID is documented as free-form (an unusable one is swapped, not refused).
        assume(mode.is_positive or not _only_headers_mutated(case))
        if mode.is_positive:
            _make_stateless(case)
        user = _path_user(case)
        if user is not None:
            case.headers.update(_bearer(user))
            if mode.is_positive and "task_id" in case.path_parameters and data.draw(st.booleans()):
                # Half the positive cases aim at a task that exists, so 200/204 get fuzzed too.
                task_id = seeder(user)
                if task_id is not None:
                    case.path_parameters["task_id"] = task_id
        TALLY[f"fuzz cases ({mode} data, valid token)"] += 1
        case.call_and_validate(checks=checks)

    run()


# Each with its expected answer: a token that fails verification, or one for someone else
# (no generated path is "somebody else's": the fuzzer's user ids are random strings).
BAD_TOKENS = {
    "missing": (None, 401),
    "not-a-jwt": ("Bearer not.a.jwt", 401),
    "expired": (f"Bearer {make_token('alice', expires_in=-3600)}", 401),
    "wrong-secret": (f"Bearer {make_token('alice', secret=TEST_SECRET[::-1])}", 401),
    "other-user": (f"Bearer {make_token('somebody else')}", 403),
}


@pytest.mark.parametrize("operation", TASK_OPERATIONS, ids=_ids)
def test_operation_with_bad_token_is_refused_as_documented(
    schema: OpenApiSchema, operation: tuple[str, str]
) -> None:
    method, path = operation

    @seed(SEED)
    @settings(settings.get_profile("robustness"), max_examples=EXAMPLES, database=None)
    @given(case=schema[path][method].as_strategy(), bad=st.sampled_from(list(BAD_TOKENS)))
    def run(case: FuzzCase, bad: str) -> None:
        header, expected = BAD_TOKENS[bad]
        case.headers.pop("Authorization", None)
        if header is not None:
            case.headers["Authorization"] = header
        TALLY["fuzz cases (bad token)"] += 1

        response = case.call_and_validate(checks=CONFORMANCE)

        assert response.status_code == expected, response.text

    run()


def _only_headers_mutated(case: FuzzCase) -> bool:
    meta = case.meta
    if meta is None:
        return False
    mutated = {place for place, info in meta.components.items() if info.mode.is_negative}
    return mutated == {ParameterLocation.HEADER}


def _make_stateless(case: FuzzCase) -> None:
    """Keep a valid case valid whatever ran before it.

    A random If-Match is rightly a 412 and a reused Idempotency-Key with another body rightly a
    422; both have their own tests, so fuzzing gets a fresh key and no precondition.
    """
    for name in list(case.headers or {}):
        if name.lower() == "if-match":
            del case.headers[name]
        elif name.lower() == "idempotency-key":
            case.headers[name] = uuid.uuid4().hex


def _path_user(case: FuzzCase) -> str | None:
    # Schemathesis hands path parameters over already percent-encoded.
    value = (case.path_parameters or {}).get("user_id")
    return unquote(value) if isinstance(value, str) else None


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}
