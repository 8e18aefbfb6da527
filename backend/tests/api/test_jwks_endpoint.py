"""The key endpoint misbehaving: failures, throttled refetches, stale keys, oversized answers.

Whatever it does, a token gets a 200, a 401 or a 503 with Retry-After; never a 500.
"""

import gzip
import json
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from tests.jwks_server import URL, ClientFor, JWKSServer, SigningKey, answer, generate

UNAVAILABLE = "Token signing keys are unavailable ({}); retry shortly"
NOT_KNOWN_YET = "Token signing key (kid) is not known yet; retry shortly"
NESTED = b"[" * 100_000 + b"]" * 100_000  # 195 KiB, under the size cap


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _gzip_bomb(inflated_mib: int) -> bytes:
    """`inflated_mib` MiB of spaces, gzipped to about a thousandth of that."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    return b"".join(compressor.compress(spaces) for _ in range(inflated_mib)) + compressor.flush()


def test_unknown_kids_cannot_hammer_the_jwks_endpoint(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_min_refetch_seconds=60.0)
    assert answer(client, keys["EdDSA"].sign())[0] == 200
    forged = [keys["EdDSA"].sign(header={"kid": f"made-up-{n}", "alg": "EdDSA"}) for n in range(10)]

    results = {answer(client, token) for token in forged}

    assert results == {(503, NOT_KNOWN_YET)}
    assert jwks.hits == 1


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, None, "the JWKS endpoint answered 500"),
        (200, b"<html>", "the JWKS endpoint did not return JSON"),
        (200, b'{"no": "keys"}', "the JWKS endpoint did not return a key set"),
        (200, b"[" + b"0," * 200_000 + b"0]", "the JWKS endpoint returned too much data"),
        (200, NESTED, "the JWKS endpoint returned JSON nested too deeply"),
    ],
    ids=["500", "not-json", "no-keys", "too-big", "nested"],
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


def test_known_keys_keep_working_when_the_key_set_turns_deeply_nested(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_cache_seconds=0)
    assert answer(client, keys["ES256"].sign()) == (200, "")
    jwks.body = NESTED

    known = answer(client, keys["ES256"].sign())
    unknown = client.get(URL, headers=_bearer(generate("2026-key", "EdDSA").sign()))

    assert known == (200, "")
    assert unknown.status_code == 503
    assert unknown.json() == {
        "detail": UNAVAILABLE.format("the JWKS endpoint returned JSON nested too deeply")
    }
    assert unknown.headers["Retry-After"] == "1"
    assert jwks.hits == 3


def test_unforeseen_failure_to_read_the_key_set_returns_503_not_500(
    client_for: ClientFor, keys: dict[str, SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    # Settings let this URL through, but httpx cannot parse it (an unclosed IPv6 bracket), and
    # its error is none of the transport errors a fetch expects.
    client = client_for("http://[::1/jwks")

    response = client.get(URL, headers=_bearer(keys["EdDSA"].sign()))

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE.format("the key set could not be read")}
    assert response.headers["Retry-After"] == "1"
    assert "JWKS fetch from http://[::1/jwks failed unexpectedly" in caplog.text


def test_new_kid_within_the_refetch_interval_gets_503_with_retry_after_not_a_sign_out(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_min_refetch_seconds=60.0)
    assert answer(client, keys["EdDSA"].sign()) == (200, "")
    rotated = generate("2026-key", "EdDSA")
    jwks.publish(rotated)

    response = client.get(URL, headers=_bearer(rotated.sign()))

    assert response.status_code == 503
    assert response.json() == {"detail": NOT_KNOWN_YET}
    assert response.headers["Retry-After"] in {"59", "60"}  # until the next fetch is allowed
    assert "WWW-Authenticate" not in response.headers
    assert jwks.hits == 1


def test_known_keys_stop_working_once_unrefreshed_for_longer_than_the_stale_limit(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_jwks_cache_seconds=0, jwt_jwks_stale_seconds=0)
    assert answer(client, keys["ES256"].sign()) == (200, "")
    jwks.status = 503

    response = client.get(URL, headers=_bearer(keys["ES256"].sign()))

    assert response.status_code == 503
    assert response.json() == {"detail": UNAVAILABLE.format("the JWKS endpoint answered 503")}
    assert response.headers["Retry-After"] == "1"
    assert jwks.hits == 2


def test_key_set_is_requested_uncompressed(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    assert answer(client_for(jwks.url), keys["EdDSA"].sign()) == (200, "")

    assert jwks.asked["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
    ids=["gzip", "deflate"],
)
def test_compressed_key_set_sent_anyway_is_read(
    client_for: ClientFor,
    jwks: JWKSServer,
    keys: dict[str, SigningKey],
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    jwks.body = compress(json.dumps({"keys": jwks.keys}).encode())
    jwks.headers = {"Content-Encoding": encoding}

    assert answer(client_for(jwks.url), keys["EdDSA"].sign()) == (200, "")


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        ("br", b"\x00\x01", "the JWKS endpoint used an unsupported Content-Encoding (br)"),
        ("gzip", b"not gzip", "the JWKS endpoint sent a corrupt compressed body"),
    ],
    ids=["brotli", "corrupt-gzip"],
)
def test_key_set_that_cannot_be_inflated_returns_503(
    client_for: ClientFor,
    jwks: JWKSServer,
    keys: dict[str, SigningKey],
    encoding: str,
    body: bytes,
    reason: str,
) -> None:
    jwks.body, jwks.headers = body, {"Content-Encoding": encoding}

    assert answer(client_for(jwks.url), keys["EdDSA"].sign()) == (503, UNAVAILABLE.format(reason))


def test_gzip_bomb_is_inflated_no_further_than_the_size_cap(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    jwks.body, jwks.headers = _gzip_bomb(64), {"Content-Encoding": "gzip"}
    client, token = client_for(jwks.url), keys["EdDSA"].sign()

    tracemalloc.start()
    try:
        result = answer(client, token)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result == (503, UNAVAILABLE.format("the JWKS endpoint returned too much data"))
    assert peak < 8 * 1024 * 1024  # the cap is 256 KiB; inflating the whole body takes 64 MiB
