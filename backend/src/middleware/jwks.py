"""Better Auth's own tokens: asymmetric signatures checked with keys from a JWKS endpoint.

PyJWT, not python-jose, because Better Auth signs with EdDSA (Ed25519) by default and
python-jose has no EdDSA (see specs/001-backend-auth-tasks/research.md, decision 13).
"""

import asyncio
import logging
import math
import time
from typing import Any

import httpx
import jwt
from jwt import PyJWK
from jwt import exceptions as jwt_errors

from src.config import Settings
from src.errors import SigningKeysUnavailableError
from src.middleware.jwks_fetch import KeySetUnavailableError, fetch_key_set

logger = logging.getLogger(__name__)

# Never "oct": a symmetric key from the network must not verify anything.
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256", "PS256"})


class AsymmetricTokenError(Exception):
    """The token failed verification; the message is the client-facing reason."""


class JWKSClient:
    """Cached keys by `kid`, refetched when stale or when a token names an unknown key.

    Fetches are single-flight (one at a time; waiters reuse its result) and at most one per
    `min_refetch_seconds`, so tokens with made-up `kid`s cannot hammer the endpoint. While the
    endpoint fails, the keys last fetched keep working for `stale_seconds` after that fetch.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_jwks_url is None:
            raise ValueError("JWT_JWKS_URL is not set")
        self._url = settings.jwt_jwks_url
        self._timeout = settings.jwt_jwks_timeout_seconds
        self._max_age = settings.jwt_jwks_cache_seconds
        self._stale_limit = settings.jwt_jwks_stale_seconds
        self._min_interval = settings.jwt_jwks_min_refetch_seconds
        self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self._lock = asyncio.Lock()
        self._keys: dict[str, dict[str, Any]] = {}
        self._verifiers: dict[tuple[str, str], PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._attempts = 0
        self._last_error: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def key_for(self, kid: str, algorithm: str) -> PyJWK:
        fetched = True
        if self._age() > self._max_age or kid not in self._keys:
            fetched = await self._refresh(self._attempts)
        jwk = self._keys.get(kid)
        if self._last_error is not None and (jwk is None or self._age() > self._stale_limit):
            raise self._unavailable(
                f"Token signing keys are unavailable ({self._last_error}); retry shortly"
            )
        if jwk is None and not fetched:
            # Published since the last fetch, perhaps: a 401 would sign out a rotation's users.
            raise self._unavailable("Token signing key (kid) is not known yet; retry shortly")
        if jwk is None:
            raise AsymmetricTokenError("Token signing key (kid) is not published by the issuer")
        return self._verifier(kid, algorithm, jwk)

    def _age(self) -> float:
        """Seconds since the last successful fetch; infinite before the first."""
        if self._fetched_at is None:
            return math.inf
        return time.monotonic() - self._fetched_at

    def _unavailable(self, reason: str) -> SigningKeysUnavailableError:
        # A retry before the next fetch is allowed would meet the same answer.
        wait = (self._attempted_at or 0.0) + self._min_interval - time.monotonic()
        return SigningKeysUnavailableError(reason, max(1, math.ceil(wait)))

    async def _refresh(self, seen_attempts: int) -> bool:
        """Fetch the key set; False when the minimum interval since the last attempt forbids it."""
        async with self._lock:
            now = time.monotonic()
            if self._attempts != seen_attempts:
                return True  # another request fetched while this one waited
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return False
            self._attempted_at, self._attempts = now, self._attempts + 1
            try:
                self._keys = await fetch_key_set(self._http, self._url, self._timeout)
            except KeySetUnavailableError as error:
                # Keep serving the keys we have: a flaky endpoint must not log everyone out.
                self._last_error = str(error)
                logger.warning("JWKS fetch from %s failed: %s", self._url, error)
                return True
            except Exception:
                # Any other failure to read the set is an outage too, never a 500.
                logger.exception("JWKS fetch from %s failed unexpectedly", self._url)
                self._last_error = "the key set could not be read"
                return True
            self._verifiers.clear()
            self._fetched_at, self._last_error = now, None
            return True

    def _verifier(self, kid: str, algorithm: str, jwk: dict[str, Any]) -> PyJWK:
        cached = self._verifiers.get((kid, algorithm))
        if cached is not None:
            return cached
        if jwk.get("alg", algorithm) != algorithm:
            raise AsymmetricTokenError("Token algorithm does not match its signing key")
        try:
            verifier = PyJWK(jwk, algorithm=algorithm)
        except (jwt_errors.PyJWTError, ValueError, TypeError, KeyError):
            raise AsymmetricTokenError("Token signing key does not fit its algorithm") from None
        self._verifiers[(kid, algorithm)] = verifier
        return verifier


async def decode_asymmetric(
    token: str, header: dict[str, Any], client: JWKSClient, settings: Settings
) -> dict[str, Any]:
    """The claims of a token signed by a published key, or AsymmetricTokenError with a reason."""
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AsymmetricTokenError("Token header has no key id (kid)")
    key = await client.key_for(kid, header["alg"])
    required = ["exp", "sub"]
    required += ["iss"] if settings.jwt_issuer else []
    required += ["aud"] if settings.jwt_audience else []
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],  # the key's own algorithm, bound when it was loaded
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options={"require": required, "verify_aud": settings.jwt_audience is not None},
        )
    except jwt_errors.PyJWTError as error:
        raise AsymmetricTokenError(_reason(error)) from None
    except (TypeError, ValueError, OverflowError):
        raise AsymmetricTokenError("Token claims are malformed") from None
    return claims


def unverified_algorithm(token: str) -> tuple[str, dict[str, Any]] | None:
    """The header's `alg` and the header, or None when the header cannot be read."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt_errors.PyJWTError:
        return None
    algorithm = header.get("alg")
    return (algorithm, header) if isinstance(algorithm, str) else None


def _reason(error: jwt_errors.PyJWTError) -> str:
    if isinstance(error, jwt_errors.MissingRequiredClaimError):
        return f'Token claims are invalid: missing required key "{error.claim}"'
    if isinstance(error, jwt_errors.ImmatureSignatureError) and "(iat)" in str(error):
        return "Token issued-at time (iat) is in the future"
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "Token claims are invalid"


_REASONS: tuple[tuple[type[jwt_errors.PyJWTError], str], ...] = (
    (jwt_errors.ExpiredSignatureError, "Token has expired"),
    (jwt_errors.ImmatureSignatureError, "Token is not yet valid (nbf is in the future)"),
    (jwt_errors.InvalidAudienceError, "Token audience is not accepted"),
    (jwt_errors.InvalidIssuerError, "Token issuer is not accepted"),
    (jwt_errors.InvalidSignatureError, "Token signature is invalid"),
    (jwt_errors.InvalidAlgorithmError, "Token algorithm does not match its signing key"),
    (jwt_errors.DecodeError, "Token is malformed"),
)
