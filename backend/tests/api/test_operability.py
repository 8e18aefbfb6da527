"""Request ids, the access log, /metrics, CORS and the OpenAPI contract of the new features."""

import json
import logging
import os
import re
import sys
import uuid

import pytest
from fastapi.testclient import TestClient

from src.config import Settings
from src.logs import JsonFormatter, RequestContextFilter
from src.main import create_app
from tests.conftest import AuthHeaders, make_token

ALICE = "/api/alice/tasks"


@pytest.mark.parametrize("request_id", ["abc-123", "a" * 128, "trace.id_v2"])
def test_sane_request_id_is_echoed(client: TestClient, request_id: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": request_id})

    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize(
    "request_id", ["", "a" * 129, "has space", "semi;colon", "new\\nline", "caf\u00e9"]
)
def test_missing_or_insane_request_id_is_replaced_by_a_uuid(
    client: TestClient, request_id: str
) -> None:
    headers: dict[str, bytes] = {"X-Request-ID": request_id.encode("latin-1")}

    response = client.get("/health", headers=headers)

    assert uuid.UUID(hex=response.headers["X-Request-ID"]).version == 4


def test_each_request_without_an_id_gets_its_own(client: TestClient) -> None:
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


@pytest.mark.parametrize("path", [ALICE, "/no/such/path"])
def test_error_responses_carry_the_request_id(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"X-Request-ID": "rid-1"})

    assert response.status_code in (401, 404)
    assert response.headers["X-Request-ID"] == "rid-1"


def test_unhandled_error_500_carries_the_request_id(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "rid-500"})

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "rid-500"


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "src.access"]


def test_access_log_line_has_request_user_status_and_duration_never_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token("alice")
    caplog.set_level(logging.INFO, logger="src.access")

    client.get(f"{ALICE}?q=secret-search", headers={"Authorization": f"Bearer {token}"})

    [record] = _access_records(caplog)
    line = json.loads(_json_line(record))
    assert line | {"timestamp": "", "duration_ms": 0} == {
        "timestamp": "",
        "level": "INFO",
        "logger": "src.access",
        "pid": os.getpid(),
        "message": f"GET {ALICE} 200 {record.duration_ms:.1f}ms",  # type: ignore[attr-defined]
        "request_id": line["request_id"],
        "user_id": "alice",
        "method": "GET",
        "path": ALICE,
        "status": 200,
        "duration_ms": 0,
        "client_ip": "testclient",
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert token not in record.getMessage() and "secret-search" not in _json_line(record)


def test_access_log_names_the_token_subject_even_on_403(
    client: TestClient, auth_headers: AuthHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="src.access")

    client.get(ALICE, headers=auth_headers("bob"))
    client.get(ALICE)

    lines = [json.loads(_json_line(record)) for record in _access_records(caplog)]
    assert [(line["status"], line["user_id"]) for line in lines] == [(403, "bob"), (401, None)]


def test_access_log_path_keeps_encoded_control_characters_escaped(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="src.access")

    client.get("/api/alice%0Aforged/tasks")

    [record] = _access_records(caplog)
    assert "\n" not in record.getMessage()
    assert "%0A" in record.getMessage()


def test_json_formatter_includes_exceptions_as_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
        record.exc_info = sys.exc_info()

    line = _json_line(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["message"], parsed["request_id"], parsed["user_id"]) == (
        "failed here",
        "-",
        None,
    )
    assert "ValueError: boom" in parsed["exception"]


def _json_line(record: logging.LogRecord) -> str:
    # What the JSON handler would write: the filter stamps the context, then the formatter.
    if not hasattr(record, "request_id"):
        RequestContextFilter().filter(record)
    return JsonFormatter().format(record)


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_count_requests_by_route_template_never_user_ids(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    for user in ("alice", "bob"):
        client.get(f"/api/{user}/tasks", headers=auth_headers(user))
    client.get("/api/alice/tasks/12345", headers=auth_headers("alice"))
    client.get("/wp-admin/setup.php")

    text = client.get("/metrics").text

    route = "/api/{user_id}/tasks"
    counter = "http_requests_total"
    assert _metric(text, counter, method="GET", route=route, status="200") == 2
    assert _metric(text, counter, method="GET", route=route + "/{task_id}", status="404") == 1
    assert _metric(text, counter, method="GET", route="unmatched", status="404") == 1
    histogram = "http_request_duration_seconds_count"
    assert _metric(text, histogram, method="GET", route=route, status="200") == 2
    assert "alice" not in text and "bob" not in text and "wp-admin" not in text


def test_metrics_fold_unknown_methods_into_other(client: TestClient) -> None:
    client.request("BREW", "/health")

    text = client.get("/metrics").text

    assert _metric(text, "http_requests_total", method="OTHER", route="/health", status="405") == 1


def test_metrics_endpoint_serves_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE http_request_duration_seconds histogram" in response.text


def test_cors_allows_and_exposes_the_new_headers(settings: Settings) -> None:
    origin = "http://localhost:3000"
    app = create_app(settings.model_copy(update={"cors_origins": [origin]}))
    asked = "if-match,if-none-match,idempotency-key,x-request-id"
    with TestClient(app) as client:
        preflight = client.options(
            ALICE,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": asked,
            },
        )
        simple = client.get("/health", headers={"Origin": origin})

    assert preflight.status_code == 200
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed for name in asked.split(","))
    exposed = {
        h.strip().lower() for h in simple.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {
        "x-total-count",
        "link",
        "etag",
        "location",
        "x-request-id",
        "idempotent-replayed",
        "retry-after",
    } <= exposed


def test_openapi_documents_params_headers_and_statuses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    tasks, item = (
        spec["paths"]["/api/{user_id}/tasks"],
        spec["paths"]["/api/{user_id}/tasks/{task_id}"],
    )

    def params(operation: dict[str, list[dict[str, str]]]) -> set[str]:
        return {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in operation["parameters"]}

    assert {"completed", "q", "sort", "order", "limit", "offset", "X-Request-ID"} <= params(
        tasks["get"]
    )
    assert set(tasks["get"]["responses"]["200"]["headers"]) == {
        "X-Total-Count",
        "Link",
        "X-Request-ID",
    }
    assert "idempotency-key" in params(tasks["post"])
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(
        tasks["post"]["responses"]["201"]["headers"]
    )
    assert {"409", "422"} <= set(tasks["post"]["responses"])
    assert "if-none-match" in params(item["get"])
    assert "ETag" in item["get"]["responses"]["304"]["headers"]
    for method in ("put", "patch", "delete"):
        assert "if-match" in params(item[method])
        assert "412" in item[method]["responses"]
    assert "/metrics" in spec["paths"]
