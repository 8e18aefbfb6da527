"""Better Auth's own tokens: asymmetric signatures checked against a live local JWKS endpoint."""

import asyncio
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from src.config import Settings
from src.middleware.jwks import JWKSClient
from tests.conftest import TEST_SECRET, make_token
from tests.jwks_server import (
    ALGORITHMS,
    AUDIENCE,
    ISSUER,
    URL,
    ClientFor,
    JWKSServer,
    SigningKey,
    answer,
    generate,
)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_signed_with_published_key_is_accepted(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey], algorithm: str
) -> None:
    client = client_for(jwks.url)

    assert answer(client, keys[algorithm].sign()) == (200, "")


def test_hs256_tokens_keep_working_beside_jwks(client_for: ClientFor, jwks: JWKSServer) -> None:
    client = client_for(jwks.url)

    assert answer(client, make_token("alice", iss=ISSUER, aud=AUDIENCE)) == (200, "")
    assert jwks.hits == 0  # HS256 never needs the key set


def test_keys_are_cached_between_requests(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url)

    statuses = [answer(client, keys[alg].sign())[0] for alg in ALGORITHMS * 2]

    assert statuses == [200] * 8
    assert jwks.hits == 1


def test_rotated_key_is_fetched_and_a_removed_key_stops_working(
    client_for: ClientFor, jwks: JWKSServer
) -> None:
    old, new = generate("2024-key", "EdDSA"), generate("2025-key", "EdDSA")
    jwks.publish(old)
    client = client_for(jwks.url)
    assert answer(client, old.sign()) == (200, "")

    jwks.publish(new)

    assert answer(client, new.sign()) == (200, "")
    assert answer(client, old.sign()) == (
        401,
        "Token signing key (kid) is not published by the issuer",
    )
    assert jwks.hits == 3


def test_concurrent_lookups_of_a_new_kid_fetch_once(
    jwks: JWKSServer, keys: dict[str, SigningKey], settings: Settings
) -> None:
    configured = settings.model_copy(update={"jwt_jwks_url": jwks.url})

    async def lookups() -> set[str]:
        client = JWKSClient(configured)
        try:
            found = await asyncio.gather(*(client.key_for("kid-ES256", "ES256") for _ in range(20)))
        finally:
            await client.aclose()
        return {key.algorithm_name for key in found}

    assert asyncio.run(lookups()) == {"ES256"}
    assert jwks.hits == 1


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "http://evil.test"}, "Token issuer is not accepted"),
        ({"aud": "other-api"}, "Token audience is not accepted"),
        ({"iss": None}, 'Token claims are invalid: missing required key "iss"'),
        ({"aud": None}, 'Token claims are invalid: missing required key "aud"'),
        ({"exp": None}, 'Token claims are invalid: missing required key "exp"'),
        ({"exp": int(time.time()) - 120}, "Token has expired"),
        ({"nbf": int(time.time()) + 600}, "Token is not yet valid (nbf is in the future)"),
        ({"iat": int(time.time()) + 600}, "Token issued-at time (iat) is in the future"),
        ({"sub": ""}, "Token subject (sub) must be a non-empty string"),
        ({"sub": 42}, "Token claims are invalid"),
        (
            {"exp": str(int(time.time()) + 600)},
            "Token claim exp must be a JSON number (NumericDate)",
        ),
        ({"iat": str(int(time.time()))}, "Token claim iat must be a JSON number (NumericDate)"),
        ({"sub": "alice/bob"}, "Token subject (sub) must not contain '/'"),
    ],
    ids=[
        "wrong-iss",
        "wrong-aud",
        "no-iss",
        "no-aud",
        "no-exp",
        "expired",
        "nbf",
        "iat",
        "empty-sub",
        "int-sub",
        "string-exp",
        "string-iat",
        "slash-in-sub",
    ],
)
def test_bad_claims_are_rejected_with_reason(
    client_for: ClientFor,
    jwks: JWKSServer,
    keys: dict[str, SigningKey],
    claims: dict[str, object],
    reason: str,
) -> None:
    key = keys["EdDSA"]
    now = int(time.time())
    payload = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}
    payload = {k: v for k, v in (payload | claims).items() if v is not None}
    token = jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})

    assert answer(client_for(jwks.url), token) == (401, reason)


def test_unconfigured_issuer_and_audience_are_not_checked(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    client = client_for(jwks.url, jwt_issuer=None, jwt_audience=None)

    token = keys["ES256"].sign(iss="http://anyone", aud="anything")

    assert answer(client, token) == (200, "")


def test_token_for_other_user_returns_403(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    response = client_for(jwks.url).get(
        URL, headers={"Authorization": f"Bearer {keys['EdDSA'].sign('bob')}"}
    )

    assert response.status_code == 403


def test_signature_by_an_unpublished_key_with_a_published_kid_is_rejected(
    client_for: ClientFor, jwks: JWKSServer
) -> None:
    impostor = generate("kid-EdDSA", "EdDSA")

    assert answer(client_for(jwks.url), impostor.sign()) == (401, "Token signature is invalid")


def test_header_alg_that_does_not_fit_the_published_key_is_rejected(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    rsa_key = keys["RS256"]
    # Same RSA key, but the header claims PS256 while the JWK pins RS256.
    pss = SigningKey(rsa_key.kid, "PS256", rsa_key.private)

    assert answer(client_for(jwks.url), pss.sign()) == (
        401,
        "Token algorithm does not match its signing key",
    )


def test_key_without_alg_used_with_an_algorithm_of_another_type_is_rejected(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    rsa_key = keys["RS256"]
    jwks.keys = [{k: v for k, v in rsa_key.jwk().items() if k != "alg"}]
    ed = SigningKey(rsa_key.kid, "EdDSA", keys["EdDSA"].private)

    assert answer(client_for(jwks.url), ed.sign()) == (
        401,
        "Token signing key does not fit its algorithm",
    )


def _hmac_token(header: dict[str, str], secret: bytes) -> str:
    """A token whose header says `header` but whose signature is HMAC-SHA256 with `secret`."""
    now = int(time.time())
    claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    encode = jwt.utils.base64url_encode
    signing_input = b".".join(encode(json.dumps(part).encode()) for part in (header, claims))
    signature = encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def test_asymmetric_header_over_an_hmac_signature_is_never_checked_with_the_secret(
    client_for: ClientFor, jwks: JWKSServer
) -> None:
    token = _hmac_token({"alg": "RS256", "kid": "kid-RS256"}, TEST_SECRET.encode())

    assert answer(client_for(jwks.url), token) == (401, "Token signature is invalid")


def test_hs256_signed_with_a_published_public_key_is_rejected(
    client_for: ClientFor, jwks: JWKSServer, keys: dict[str, SigningKey]
) -> None:
    public_pem = (
        keys["RS256"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    token = _hmac_token({"alg": "HS256", "kid": "kid-RS256"}, public_pem)

    assert answer(client_for(jwks.url), token) == (401, "Token signature is invalid")
    assert jwks.hits == 0


def test_hmac_keys_in_the_key_set_are_ignored(client_for: ClientFor, jwks: JWKSServer) -> None:
    jwks.keys = [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0", "alg": "HS256"}]
    ed = generate("shared", "EdDSA")

    assert answer(client_for(jwks.url), ed.sign()) == (
        401,
        "Token signing key (kid) is not published by the issuer",
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "EdDSA"}, "Token header has no key id (kid)"),
        ({"alg": "ES512", "kid": "x"}, "Token algorithm is not allowed; use HS256 or "),
        ({"alg": "HS512", "kid": "x"}, "Token algorithm is not allowed; use HS256 or "),
        ({"alg": "none"}, "Token algorithm is not allowed; use HS256 or "),
    ],
    ids=["no-kid", "es512", "hs512", "none"],
)
def test_unusable_headers_are_rejected(
    client_for: ClientFor,
    jwks: JWKSServer,
    keys: dict[str, SigningKey],
    header: dict[str, str],
    reason: str,
) -> None:
    signed = keys["EdDSA"].sign()
    encoded = jwt.utils.base64url_encode(json.dumps(header).encode()).decode()
    token = ".".join([encoded, *signed.split(".")[1:]])

    status, detail = answer(client_for(jwks.url), token)

    assert status == 401
    assert detail.startswith(reason)


def test_asymmetric_token_without_jwks_configured_needs_hs256(
    client: TestClient, keys: dict[str, SigningKey]
) -> None:
    assert answer(client, keys["EdDSA"].sign()) == (
        401,
        "Token algorithm is not allowed; HS256 is required",
    )
