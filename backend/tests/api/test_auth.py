"""Layer one and two: every way a token can fail, and the 403 for someone else's path."""

import base64
import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from src.config import Settings
from src.main import create_app
from src.middleware import jwt as jwt_module
from tests.conftest import TEST_SECRET, TEST_SETTINGS, AuthHeaders, make_token

URL = "/api/alice/tasks"
NOW = int(time.time())


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _signed(claims: dict[str, object], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, TEST_SECRET, algorithm=algorithm)


def _tampered() -> str:
    header, _, signature = make_token("bob").split(".")
    return f"{header}.{_b64({'sub': 'alice', 'exp': NOW + 600})}.{signature}"


BAD_AUTHORIZATION = {
    "no-header": (None, "Missing Authorization header"),
    "empty-header": ("", "Missing Authorization header"),
    "basic-scheme": ("Basic YWxpY2U6cHc=", "Authorization header must use the Bearer scheme"),
    "bearer-no-token": ("Bearer", "Authorization header must use the Bearer scheme"),
    "garbage": ("Bearer not-a-jwt", "Token is malformed"),
    "two-segments": ("Bearer abc.def", "Token is malformed"),
    "bad-signature": (
        f"Bearer {make_token('alice', secret='another-secret-that-is-long-enough!!')}",
        "Token signature is invalid",
    ),
    "tampered-payload": (f"Bearer {_tampered()}", "Token signature is invalid"),
    "expired": (f"Bearer {make_token('alice', expires_in=-120)}", "Token has expired"),
    "not-yet-valid": (
        f"Bearer {make_token('alice', nbf=NOW + 600)}",
        "Token is not yet valid",
    ),
    "iat-in-future": (
        f"Bearer {make_token('alice', iat=NOW + 600)}",
        "Token issued-at time (iat) is in the future",
    ),
    "alg-none": (f"Bearer {_unsigned({'sub': 'alice', 'exp': NOW + 600})}", "Token algorithm"),
    "alg-hs512": (
        f"Bearer {_signed({'sub': 'alice', 'exp': NOW + 600}, 'HS512')}",
        "Token algorithm",
    ),
    "no-exp": (f"Bearer {_signed({'sub': 'alice'})}", 'missing required key "exp"'),
    "no-sub": (f"Bearer {_signed({'exp': NOW + 600})}", 'missing required key "sub"'),
    "empty-sub": (f"Bearer {_signed({'sub': '', 'exp': NOW + 600})}", "non-empty string"),
    "integer-sub": (f"Bearer {_signed({'sub': 42, 'exp': NOW + 600})}", "Subject must be a string"),
    "list-iat": (f"Bearer {_signed({'sub': 'alice', 'exp': NOW + 600, 'iat': [1]})}", "malformed"),
    "oversize": (f"Bearer {'a' * 9000}", "Token is too large"),
    "string-exp": (
        f"Bearer {_signed({'sub': 'alice', 'exp': str(NOW + 600)})}",
        "Token claim exp must be a JSON number (NumericDate)",
    ),
    "string-nbf": (
        f"Bearer {_signed({'sub': 'alice', 'exp': NOW + 600, 'nbf': str(NOW - 60)})}",
        "Token claim nbf must be a JSON number (NumericDate)",
    ),
    "string-iat": (
        f"Bearer {_signed({'sub': 'alice', 'exp': NOW + 600, 'iat': str(NOW)})}",
        "Token claim iat must be a JSON number (NumericDate)",
    ),
    "unknown-crit": (
        "Bearer "
        + jwt.encode(
            {"sub": "alice", "exp": NOW + 600},
            TEST_SECRET,
            algorithm="HS256",
            headers={"crit": ["urn:example:policy"], "urn:example:policy": "strict"},
        ),
        "Token header lists critical extensions (crit)",
    ),
    "slash-in-sub": (
        f"Bearer {_signed({'sub': 'alice/bob', 'exp': NOW + 600})}",
        "Token subject (sub) must not contain '/'",
    ),
}


@pytest.mark.parametrize(
    ("authorization", "reason"), BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys()
)
def test_bad_authorization_returns_401_with_reason(
    client: TestClient, authorization: str | None, reason: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get(URL, headers=headers)

    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_task_route_without_token_returns_401(client: TestClient, method: str) -> None:
    url = URL if method in ("GET", "POST") else f"{URL}/1"

    response = client.request(method, url, json={"title": "t", "completed": True})

    assert response.status_code == 401


@pytest.mark.parametrize("path_user", ["x" * 300, "not%00storable"])
def test_token_is_checked_before_the_path_so_no_token_is_401_not_422(
    client: TestClient, auth_headers: AuthHeaders, path_user: str
) -> None:
    url = f"/api/{path_user}/tasks"

    without_token = client.get(url)
    with_token = client.get(url, headers=auth_headers("alice"))

    assert without_token.status_code == 401, without_token.text
    assert with_token.status_code == 422  # a caller who may ask learns what is wrong with it


def test_token_within_leeway_of_expiry_is_accepted(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {make_token('alice', expires_in=-5)}"}

    assert client.get(URL, headers=headers).status_code == 200


def test_token_for_other_user_returns_403(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {make_token('bob')}"}

    response = client.get(URL, headers=headers)

    assert response.status_code == 403
    assert response.json() == {"detail": "Token does not belong to this user"}


def test_rejection_is_logged_with_ip_and_reason_never_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token("bob")
    caplog.set_level(logging.WARNING, logger="src.middleware.jwt")

    client.get(URL, headers={"Authorization": f"Bearer {token}"})
    client.get(URL, headers={"Authorization": "Bearer garbage.token.here"})

    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "auth 403: GET /api/alice/tasks from testclient: Token does not belong to this user",
        "auth 401: GET /api/alice/tasks from testclient: Token is malformed",
    ]
    assert all(record.levelno == logging.WARNING for record in caplog.records)
    assert not any(token in m or "garbage" in m for m in messages)


@pytest.fixture
def strict_client(settings: Settings) -> Iterator[TestClient]:
    strict = settings.model_copy(
        update={"jwt_issuer": "http://auth.test", "jwt_audience": "task-api"}
    )
    with TestClient(create_app(strict)) as client:
        yield client


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iss": "http://auth.test", "aud": "task-api"}, 200),
        ({"iss": "http://evil.test", "aud": "task-api"}, 401),
        ({"iss": "http://auth.test", "aud": "other-api"}, 401),
        ({"aud": "task-api"}, 401),
        ({"iss": "http://auth.test"}, 401),
    ],
    ids=["both-match", "wrong-issuer", "wrong-audience", "no-issuer", "no-audience"],
)
def test_configured_issuer_and_audience_are_enforced(
    strict_client: TestClient, claims: dict[str, object], expected: int
) -> None:
    headers = {"Authorization": f"Bearer {_signed({'sub': 'alice', 'exp': NOW + 600, **claims})}"}

    assert strict_client.get(URL, headers=headers).status_code == expected


def test_unconfigured_issuer_and_audience_are_not_checked(client: TestClient) -> None:
    token = make_token("alice", iss="http://anyone", aud="anything")

    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Tokens the library was asked to verify."""
    seen: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> dict[str, object]:
        seen.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]  # passes through

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def test_accepted_token_is_verified_once_then_remembered(
    client: TestClient, decodes: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {make_token('alice')}"}

    statuses = [client.get(URL, headers=headers).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert len(decodes) == 1


def test_rejected_token_is_never_remembered(client: TestClient, decodes: list[str]) -> None:
    forged = make_token("alice", secret="another-secret-that-is-long-enough!!")
    headers = {"Authorization": f"Bearer {forged}"}

    statuses = [client.get(URL, headers=headers).status_code for _ in range(2)]

    assert statuses == [401, 401]
    assert len(decodes) == 2


def test_remembered_token_is_rejected_once_it_expires(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Authorization": f"Bearer {make_token('alice', expires_in=60)}"}
    assert client.get(URL, headers=headers).status_code == 200
    past_leeway = time.time() + 60 + TEST_SETTINGS.jwt_leeway_seconds + 1
    monkeypatch.setattr(jwt_module, "time", SimpleNamespace(time=lambda: past_leeway))

    response = client.get(URL, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "Token has expired"}
