"""Hostile bodies, paths and text: each gets its documented 4xx, or round-trips literally.

Complements tests/api/test_task_endpoints.py, which already covers out-of-range and non-numeric
task ids (0, -1, 2^31, 2^63, 20 digits, "abc"), truncated JSON, over-long and whitespace titles,
NUL and lone surrogates, unknown fields and one SQL-looking title. After every case here the
service must still answer a plain list call.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from src.config import Settings
from src.main import create_app
from tests.conftest import make_token

ALICE = "/api/alice/tasks"
TOO_LARGE = {"detail": "Request body is larger than 65536 bytes; send a smaller body"}


@dataclass(frozen=True)
class Probe:
    method: str
    body: bytes
    expected: int
    content_type: str | None = "application/json"


def _nested(depth: int) -> bytes:
    return b'{"title": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


PROBES = {
    # Not JSON by RFC 8259, though Python's parser would take it: a 400, never a 500.
    "nan-literal": Probe("POST", b'{"title": NaN}', 400),
    "infinity-literal": Probe("POST", b'{"title": "t", "description": -Infinity}', 400),
    "float-overflow": Probe("POST", b'{"title": 1e400}', 400),
    "nan-completed": Probe("PATCH", b'{"completed": NaN}', 400),
    "duplicate-keys": Probe("POST", b'{"title": "shown", "title": "stored"}', 400),
    "duplicate-keys-nested": Probe("PUT", b'{"title": "t", "x": {"a": 1, "a": 2}}', 400),
    "deeply-nested-arrays": Probe("POST", b"[" * 30000 + b"]" * 30000, 400),
    "deeply-nested-objects": Probe("PUT", _nested(5000), 400),
    "integer-of-5000-digits": Probe("POST", b'{"title": ' + b"9" * 5000 + b"}", 400),
    "latin-1-body": Probe("POST", '{"title": "café"}'.encode("latin-1"), 400),
    "utf-16-body": Probe("POST", '{"title": "t"}'.encode("utf-16"), 400),
    # JSON, but not the object the operation takes.
    "empty-body": Probe("POST", b"", 422),
    "json-null": Probe("POST", b"null", 422),
    "json-array": Probe("PUT", b'[{"title": "t"}]', 422),
    "json-string": Probe("POST", b'"title"', 422),
    "key-differs-in-case": Probe("POST", b'{"Title": "t"}', 422),
    "title-is-object": Probe("POST", b'{"title": {"$ne": ""}}', 422),
    "unicode-whitespace-title": Probe("POST", b'{"title": "\\u3000\\u00a0\\t\\n"}', 422),
    "title-of-10000-chars": Probe("POST", json.dumps({"title": "x" * 10000}).encode(), 422),
    "description-of-5000-chars": Probe(
        "PUT", json.dumps({"title": "t", "description": "d" * 5000}).encode(), 422
    ),
    # Wrong content types: the body is not read as JSON at all.
    "text-plain": Probe("POST", b'{"title": "t"}', 415, "text/plain"),
    "form-urlencoded": Probe("POST", b"title=t", 415, "application/x-www-form-urlencoded"),
    "multipart": Probe("PATCH", b'{"completed": true}', 415, "multipart/form-data; boundary=x"),
    "no-content-type": Probe("POST", b'{"title": "t"}', 415, None),
    "json-lookalike": Probe("PUT", b'{"title": "t"}', 415, "text/json"),
    # Over the 64 KiB cap: refused before parsing.
    "body-of-70-kib": Probe("POST", json.dumps({"title": "x" * 70000}).encode(), 413),
    "padding-of-1-mib": Probe("PUT", b'{"title": "t"' + b" " * 2**20 + b"}", 413),
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def task_url(client: TestClient) -> str:
    created = client.post(ALICE, json={"title": "target"}, headers=_auth("alice"))
    return f"{ALICE}/{created.json()['id']}"


def _auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


def _still_answers(client: TestClient) -> None:
    assert client.get(ALICE, headers=_auth("alice")).status_code == 200


@pytest.mark.parametrize("probe", PROBES.values(), ids=list(PROBES.keys()))
def test_hostile_body_gets_its_4xx_and_service_keeps_answering(
    client: TestClient, task_url: str, probe: Probe
) -> None:
    headers = _auth("alice")
    if probe.content_type is not None:
        headers["Content-Type"] = probe.content_type
    url = ALICE if probe.method == "POST" else task_url

    response = client.request(probe.method, url, content=probe.body, headers=headers)

    assert response.status_code == probe.expected, response.text
    detail = response.json()["detail"]
    if probe.expected == 400:
        assert detail.startswith("Request body is not valid JSON")
    elif probe.expected == 413:
        assert response.json() == TOO_LARGE
    elif probe.expected == 415:
        assert detail.startswith("Request body must be JSON")
    else:
        assert isinstance(detail, list) and detail[0]["loc"][0] == "body"
    assert client.get(task_url, headers=_auth("alice")).json()["title"] == "target"
    _still_answers(client)


def test_chunked_body_over_limit_returns_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    headers = _auth("alice") | {"Content-Type": "application/json"}

    response = client.post(ALICE, content=chunks(), headers=headers)

    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert client.get(ALICE, headers=_auth("alice")).json() == []


def test_body_just_under_limit_is_accepted(client: TestClient) -> None:
    prefix, suffix = b'{"title": "fits"', b"}"
    body = prefix + b" " * (65536 - len(prefix) - len(suffix)) + suffix
    headers = _auth("alice") | {"Content-Type": "application/json"}

    response = client.post(ALICE, content=body, headers=headers)

    assert len(body) == 65536
    assert response.status_code == 201, response.text


# Stored and returned exactly as sent: no normalisation, no escaping, no interpretation.
LITERAL_TEXT = {
    "emoji-zwj-and-skin-tone": ("👩🏽‍💻 ship it 🚀", "🏳️‍🌈 " * 20),
    "rtl-with-override": ("\u202egnp.exe", "שלום مرحبا \u200fmixed\u200e text"),
    "combining-marks-stay-decomposed": ("e\u0301te\u0301", "Z\u0351\u0352\u0353algo"),
    "sql-union": ("x' UNION SELECT * FROM tasks --", "%' OR user_id LIKE '%"),
    "sql-stacked": ("1; DELETE FROM tasks WHERE 1=1; --", "'; DROP TABLE tasks; --"),
    "crlf-header-injection": ("a\r\nSet-Cookie: stolen=1", "\r\n\r\nHTTP/1.1 200 OK"),
    "html-script": ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'),
    "json-in-a-string": ('{"title": "inner"}', '{"completed": true}'),
    "200-astral-chars": ("🚀" * 200, None),
    "1000-char-description": ("long", "d" * 1000),
    "only-zero-width-space": ("\u200b", "\ufeff"),
}


@pytest.mark.parametrize(
    ("title", "description"), LITERAL_TEXT.values(), ids=list(LITERAL_TEXT.keys())
)
def test_hostile_text_round_trips_literally(
    client: TestClient, title: str, description: str | None
) -> None:
    body = {"title": title, "description": description}

    created = client.post(ALICE, json=body, headers=_auth("alice"))

    assert created.status_code == 201, created.text
    assert "set-cookie" not in created.headers
    stored = client.get(f"{ALICE}/{created.json()['id']}", headers=_auth("alice")).json()
    assert (stored["title"], stored["description"]) == (title, description)


# Path user ids that look like queries or like someone else: never anyone else's tasks.
LOOKALIKE_USERS = ["alice' OR '1'='1", "%", "_", "alice%", "a*", "alice\\"]


@pytest.mark.parametrize("user", LOOKALIKE_USERS)
def test_lookalike_user_id_sees_only_its_own_tasks(client: TestClient, user: str) -> None:
    client.post(ALICE, json={"title": "alice's"}, headers=_auth("alice"))

    response = client.get(f"/api/{quote(user, safe='')}/tasks", headers=_auth(user))

    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("path_user", "token_user"),
    [("e\u0301", "\u00e9"), ("alice ", "alice"), ("ALICE", "alice"), ("\uff41lice", "alice")],
    ids=["nfd-vs-nfc", "trailing-space", "upper-case", "fullwidth"],
)
def test_path_user_that_only_resembles_token_subject_returns_403(
    client: TestClient, path_user: str, token_user: str
) -> None:
    response = client.get(f"/api/{quote(path_user, safe='')}/tasks", headers=_auth(token_user))

    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/api/{'u' * 256}/tasks", 422),
        (f"{ALICE}/\u0661", 422),  # ARABIC-INDIC DIGIT ONE: int() would take it
        (f"{ALICE}/0x10", 422),
        (f"{ALICE}/1e3", 422),
        (f"{ALICE}/NaN", 422),
        (f"{ALICE}?user_id=bob", 200),
    ],
    ids=["user-id-256-chars", "arabic-digit", "hex-id", "exponent-id", "nan-id", "query-user"],
)
def test_hostile_path_gets_its_status(client: TestClient, path: str, expected: int) -> None:
    user = path.split("/")[2].split("?")[0]

    response = client.get(path, headers=_auth(user))

    assert response.status_code == expected, response.text
    _still_answers(client)
