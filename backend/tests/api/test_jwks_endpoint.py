"""The key endpoint misbehaving: failures, throttled refetches, oversized answers.

Whatever it does, a token gets a 200, a 401 or a 503 with Retry-After; never a 500.
"""

import socket
import time

import pytest

from tests.jwks_server import URL, ClientFor, JWKSServer, SigningKey, answer

UNAVAILABLE = "Token signing keys are unavailable ({}); retry shortly"


def test_unknown_kids_cannot_hammer_the_jwks_endpoint(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_min_refetch_seconds=60.0)
    assert answer(client, keys["EdDSA"].sign())[0] == 200
    forged = [keys["EdDSA"].sign(header={"kid": f"made-up-{n}", "alg": "EdDSA"}) for n in range(10)]

    results = {answer(client, token) for token in forged}

    assert results == {(401, "Token signing key (kid) is not published by the issuer")}
    assert jwks.hits == 1


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, None, "the JWKS endpoint answered 500"),
        (200, b"<html>", "the JWKS endpoint did not return JSON"),
        (200, b'{"no": "keys"}', "the JWKS endpoint did not return a key set"),
        (200, b"[" + b"0," * 200_000 + b"0]", "the JWKS endpoint returned too much data"),
    ],
    ids=["500", "not-json", "no-keys", "too-big"],
)
def test_broken_jwks_endpoint_returns_503_with_reason(
    client_for: ClientFor,
    jwks: JWKSServer,
    keys: dict[str, SigningKey],
    status: int,
    body: bytes | None,
    reason: str,
) -> None:
    jwks.status, jwks.body = status, body

    assert answer(client_for(jwks.url), keys["EdDSA"].sign()) == (503, UNAVAILABLE.format(reason))


def test_jwks_endpoint_down_returns_503_quickly(
    client_for: ClientFor, keys: dict[str, SigningKey]
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}/jwks")

    started = time.monotonic()
    status, reason = answer(client, keys["EdDSA"].sign())

    assert (status, reason) == (
        503,
        "Token signing keys are unavailable (the JWKS endpoint failed: ConnectError); "
        "retry shortly",
    )
    assert time.monotonic() - started < 2


def test_jwks_endpoint_that_never_answers_is_cut_off_at_the_timeout(
    client_for: ClientFor, keys: dict[str, SigningKey]
) -> None:
    with socket.socket() as silent:  # accepts connections into its backlog, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = client_for(
            f"http://127.0.0.1:{silent.getsockname()[1]}/jwks", jwt_jwks_timeout_seconds=0.3
        )

        started = time.monotonic()
        status, reason = answer(client, keys["EdDSA"].sign())
        elapsed = time.monotonic() - started

    assert (status, reason) == (
        503,
        "Token signing keys are unavailable (the JWKS endpoint did not answer in time); "
        "retry shortly",
    )
    assert 0.3 <= elapsed < 1.5


def test_known_keys_keep_working_while_the_endpoint_is_down(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_cache_seconds=0)
    assert answer(client, keys["ES256"].sign())[0] == 200
    jwks.status = 503

    assert answer(client, keys["ES256"].sign()) == (200, "")
    assert jwks.hits == 2  # it tried to refresh the stale set, and kept the keys it had


def test_unavailable_keys_answer_503_with_retry_after_not_a_sign_out(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    jwks.status = 500

    response = client_for(jwks.url, jwt_jwks_min_refetch_seconds=10.0).get(
        URL, headers={"Authorization": f"Bearer {keys['EdDSA'].sign()}"}
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert "WWW-Authenticate" not in response.headers
