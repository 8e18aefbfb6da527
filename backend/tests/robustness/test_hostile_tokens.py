"""RFC 8725 attacks on the token, beyond the 401 table in tests/api/test_auth.py.

That table (BAD_AUTHORIZATION: alg none, HS512, expired, nbf/iat in the future, missing exp and
sub, empty and integer sub, tampered payload, bad signature, oversize, ...) is run here again
in one sweep; this module adds the variants it lacks. Each refused token gets a 401 with its
reason, and the service keeps answering a valid caller afterwards.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping

import pytest
from fastapi.testclient import TestClient
from jose import jwt

from src.config import Settings
from src.main import create_app
from tests.api.test_auth import BAD_AUTHORIZATION
from tests.conftest import TEST_SECRET, make_token

URL = "/api/alice/tasks"
LATER = int(time.time()) + 600
VALID = {"sub": "alice", "exp": LATER}
ATTACKER_SECRET = "an-attacker-chosen-secret-of-enough-length"
ALG = "Token algorithm is not allowed; HS256 is required"
MALFORMED = "Token is malformed"
BAD_SIGNATURE = "Token signature is invalid"
CLAIMS = "Token claims are malformed"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: Mapping[str, object], payload: bytes, key: str = TEST_SECRET) -> str:
    """A token with any header and raw payload, HMAC-SHA256-signed with `key`."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload)}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**claims: object) -> bytes:
    return json.dumps(claims).encode()


def _part(data: Mapping[str, object]) -> str:
    return _b64(json.dumps(data).encode())


def _signature() -> str:
    # A genuine signature, lifted from a valid token onto a different header and payload.
    return make_token("alice").split(".")[2]


def _flip_signature_char(token: str) -> str:
    # Not the last character: its low bits are base64 padding, and some changes there decode to
    # the same signature bytes.
    changed = "A" if token[-5] != "A" else "B"
    return token[:-5] + changed + token[-4:]


HS256 = {"alg": "HS256", "typ": "JWT"}
GOOD = make_token("alice")

# name: (token, reason the 401 gives)
HOSTILE_TOKENS: dict[str, tuple[str, str]] = {
    # Algorithm confusion: only HS256 is ever accepted, whatever the header claims.
    "alg-hs384": (jwt.encode(VALID, TEST_SECRET, algorithm="HS384"), ALG),
    "alg-none-capitalised": (f"{_part({'alg': 'None'})}.{_part(VALID)}.", ALG),
    "alg-none-with-signature": (f"{_part({'alg': 'none'})}.{_part(VALID)}.{_signature()}", ALG),
    "rs256-header-secret-as-hmac-key": (_forge({"alg": "RS256"}, _claims(**VALID)), ALG),
    "es256-header-secret-as-hmac-key": (_forge({"alg": "ES256"}, _claims(**VALID)), ALG),
    "no-alg-in-header": (_forge({"typ": "JWT"}, _claims(**VALID)), MALFORMED),
    # Keys the attacker points at or chooses: never fetched, never trusted.
    "jku-header-attacker-key": (
        _forge({**HS256, "jku": "http://evil.test/jwks"}, _claims(**VALID), ATTACKER_SECRET),
        BAD_SIGNATURE,
    ),
    "kid-path-traversal": (
        _forge({**HS256, "kid": "../../dev/null"}, _claims(**VALID), ""),
        BAD_SIGNATURE,
    ),
    "empty-hmac-key": (_forge(HS256, _claims(**VALID), ""), BAD_SIGNATURE),
    # Time claims of the wrong type or out of range.
    "exp-zero": (_forge(HS256, _claims(sub="alice", exp=0)), "Token has expired"),
    "exp-string": (_forge(HS256, _claims(sub="alice", exp="tomorrow")), "(exp) must be"),
    "exp-null": (_forge(HS256, _claims(sub="alice", exp=None)), CLAIMS),
    "exp-infinite": (_forge(HS256, b'{"sub": "alice", "exp": 1e400}'), CLAIMS),
    "nbf-string": (_forge(HS256, _claims(sub="alice", exp=LATER, nbf="soon")), "(nbf) must be"),
    "nbf-infinite": (_forge(HS256, b'{"sub": "alice", "exp": 9999999999, "nbf": 1e400}'), CLAIMS),
    "iat-infinite": (_forge(HS256, b'{"sub": "alice", "exp": 9999999999, "iat": 1e400}'), CLAIMS),
    "iat-huge-integer": (
        _forge(HS256, b'{"sub": "alice", "exp": 9999999999, "iat": ' + b"9" * 400 + b"}"),
        CLAIMS,
    ),
    # Subjects that are not a usable user id.
    "sub-null": (_forge(HS256, _claims(sub=None, exp=LATER)), "Subject must be a string"),
    "sub-list": (_forge(HS256, _claims(sub=["alice"], exp=LATER)), "Subject must be a string"),
    "sub-object": (
        _forge(HS256, _claims(sub={"id": "alice"}, exp=LATER)),
        "Subject must be a string",
    ),
    "sub-boolean": (_forge(HS256, _claims(sub=True, exp=LATER)), "Subject must be a string"),
    "sub-with-nul": (
        _forge(HS256, _claims(sub="ali\x00ce", exp=LATER)),
        "Token subject (sub) contains unsupported characters",
    ),
    # Structure: cut, stretched, or not JSON inside.
    "truncated-signature": (GOOD[:-10], MALFORMED),
    "signature-stripped": (GOOD.rsplit(".", 1)[0] + ".", BAD_SIGNATURE),
    "signature-char-changed": (_flip_signature_char(GOOD), BAD_SIGNATURE),
    "five-segments-jwe-shape": (f"{GOOD}.a.b", MALFORMED),
    "space-inside-token": (f"{GOOD[:20]} {GOOD[20:]}", BAD_SIGNATURE),
    "payload-json-array": (_forge(HS256, b"[1, 2]"), MALFORMED),
    "payload-not-json": (_forge(HS256, b"not json"), MALFORMED),
    "header-not-json": (f"{_b64(b'xx')}.{_part(VALID)}.{_signature()}", MALFORMED),
    "bearer-twice": (f"Bearer {GOOD}", MALFORMED),
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _still_answers(client: TestClient) -> None:
    response = client.get(URL, headers={"Authorization": f"Bearer {make_token('alice')}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("token", "reason"), HOSTILE_TOKENS.values(), ids=list(HOSTILE_TOKENS.keys())
)
def test_hostile_token_returns_401_and_service_keeps_answering(
    client: TestClient, token: str, reason: str
) -> None:
    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    _still_answers(client)


def test_every_known_bad_authorization_leaves_service_answering(client: TestClient) -> None:
    for name, (authorization, _reason) in BAD_AUTHORIZATION.items():
        headers = {} if authorization is None else {"Authorization": authorization}

        assert client.get(URL, headers=headers).status_code == 401, name
        _still_answers(client)


@pytest.fixture
def strict_client(settings: Settings) -> Iterator[TestClient]:
    strict = settings.model_copy(
        update={"jwt_issuer": "https://auth.test", "jwt_audience": "task-api"}
    )
    with TestClient(create_app(strict)) as client:
        yield client


# Beyond the plain wrong/missing iss and aud that test_auth.py covers.
ISSUER_AUDIENCE = {
    "audience-list-without-ours": ({"aud": ["other-api", "admin"]}, 401),
    "audience-list-with-ours": ({"aud": ["other-api", "task-api"]}, 200),
    "audience-empty-string": ({"aud": ""}, 401),
    "audience-as-number": ({"aud": 7}, 401),
    "issuer-differs-in-case": ({"iss": "HTTPS://AUTH.TEST"}, 401),
    "issuer-trailing-slash": ({"iss": "https://auth.test/"}, 401),
    "issuer-null": ({"iss": None}, 401),
}


@pytest.mark.parametrize(
    ("claims", "expected"), ISSUER_AUDIENCE.values(), ids=list(ISSUER_AUDIENCE.keys())
)
def test_configured_issuer_and_audience_hold_against_lookalikes(
    strict_client: TestClient, claims: dict[str, object], expected: int
) -> None:
    payload = {"sub": "alice", "exp": LATER, "iss": "https://auth.test", "aud": "task-api"}
    token = jwt.encode(payload | claims, TEST_SECRET, algorithm="HS256")

    response = strict_client.get(URL, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == expected, response.text
    _still_answers_strict(strict_client)


def _still_answers_strict(client: TestClient) -> None:
    token = make_token("alice", iss="https://auth.test", aud="task-api")
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 200
