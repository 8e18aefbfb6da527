"""Layers one and two of isolation: a verified token, and a path that belongs to its subject."""

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import ExpiredSignatureError, JWTError, jwt
from jose.exceptions import JWTClaimsError
from pydantic import TypeAdapter, ValidationError

from src.config import Settings
from src.errors import ApiError, NotOwnerError, SigningKeysUnavailableError, TokenRejectedError
from src.logs import sent_path
from src.middleware.jwks import (
    ASYMMETRIC_ALGORITHMS,
    AsymmetricTokenError,
    JWKSClient,
    decode_asymmetric,
    unverified_algorithm,
)
from src.middleware.request_id import set_user
from src.schemas.auth import JWTPayload, refuse_critical_extensions
from src.schemas.text import UserId

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 8192  # far above any real session token; refuses to parse megabytes of junk
T = TypeVar("T")


# Documented with UserId's constraints but validated by `_validate_user_id`, after the token.
_USER_ID_PATH = Path(
    description="The caller's user id (the token's `sub`).",
    json_schema_extra={"minLength": 1, "maxLength": 255},
)
_USER_ID = TypeAdapter(UserId)


class OwnerBearer(HTTPBearer, Generic[T]):
    """Layers one and two as the task routes' one dependency, resolved to `bind(owner)`.

    The OpenAPI document's Bearer scheme, whose call verifies the token (401), then checks that
    the path's `{user_id}` is its subject (403), and hands the subject to `bind`: the route gets
    what it needs bound to the verified owner, never to the path or the body (`bind` gets the
    verified claims: their `sub` is the owner). One dependency for
    all of it, because FastAPI spends on each dependency level it resolves about a third of what
    the rest of a request costs. The token is checked before the path is validated, so a request
    without a valid token is a 401 whatever its path holds, never a 422.
    """

    def __init__(self, bind: Callable[[Request, JWTPayload], T]) -> None:
        # auto_error=False: the library's answer to a missing header is not ours (401 + reason).
        super().__init__(
            auto_error=False,
            scheme_name="BearerAuth",
            bearerFormat="JWT",
            description="A JWT whose `sub` is the user id: HS256 signed with BETTER_AUTH_SECRET, "
            "or, when JWT_JWKS_URL is set, EdDSA/ES256/RS256/PS256 signed with a key published "
            "there.",
        )
        self._bind = bind

    async def __call__(  # type: ignore[override]  # resolves to the bound value, not credentials
        self, request: Request, user_id: Annotated[str, _USER_ID_PATH]
    ) -> T:
        token = await verify_jwt_token(request, await super().__call__(request))
        _validate_user_id(user_id)
        if token.sub != user_id:
            raise _reject(request, NotOwnerError())
        return self._bind(request, token)


def _validate_user_id(user_id: str) -> None:
    """FastAPI's own 422 for a malformed `{user_id}`, for a caller whose token is valid."""
    try:
        _USER_ID.validate_python(user_id)
    except ValidationError as error:
        problems = [
            {**problem, "loc": ("path", "user_id", *problem["loc"])}
            for problem in error.errors(include_url=False)
        ]
        raise RequestValidationError(problems) from None


async def verify_jwt_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> JWTPayload:
    """The token's verified claims, or a logged 401 that says why."""
    if credentials is None:
        reason = _missing_reason(request.headers.get("Authorization"))
        raise _reject(request, TokenRejectedError(reason))
    state = request.app.state
    try:
        payload = await _verify(
            credentials.credentials, state.settings, state.accepted_tokens, state.jwks
        )
    except (TokenRejectedError, SigningKeysUnavailableError) as error:
        raise _reject(request, error) from None
    set_user(payload.sub)  # for the access log: who, even if the path then turns out not theirs
    return payload


def _missing_reason(header: str | None) -> str:
    if not header:
        return "Missing Authorization header; send 'Authorization: Bearer <token>'"
    return "Authorization header must use the Bearer scheme: 'Authorization: Bearer <token>'"


async def _verify(
    token: str, settings: Settings, accepted: "AcceptedTokens", jwks: JWKSClient | None
) -> JWTPayload:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejectedError("Token is too large")
    header = unverified_algorithm(token) if jwks is not None else None
    # The header only picks the verifier; each verifier then pins its own algorithms, so an
    # asymmetric-looking token never meets the shared secret, nor an HS256 one a public key.
    if jwks is None or header is None or header[0] == ALGORITHM:
        return accepted.verify(token)
    refuse_critical_extensions(header[1])
    if header[0] not in ASYMMETRIC_ALGORITHMS:
        raise TokenRejectedError(f"Token algorithm is not allowed; use HS256 or {_ASYMMETRIC}")
    try:
        claims = await decode_asymmetric(token, header[1], jwks, settings)
    except AsymmetricTokenError as error:
        raise TokenRejectedError(str(error)) from None
    return JWTPayload.from_claims(claims, settings.jwt_leeway_seconds)


_ASYMMETRIC = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))


class AcceptedTokens:
    """Shared-secret tokens already verified once, so a repeat costs a dict lookup.

    A client sends the same token with every request until it expires; its signature, subject
    and claims cannot change, and the secret is fixed for the process, so only `exp` needs
    checking again (with the same leeway). Keyed by the exact token string; a rejected token is
    never remembered, so it is re-verified, and re-logged, every time. JWKS tokens are not
    remembered: a key removed from the key set must stop working on the next refetch.
    """

    def __init__(self, settings: Settings, size: int = 4096) -> None:
        self._settings = settings
        self._size = size
        self._expiry: dict[str, tuple[JWTPayload, int]] = {}

    def verify(self, token: str) -> JWTPayload:
        remembered = self._expiry.get(token)
        if remembered is None:
            payload, expires = _decode(token, self._settings)
            if len(self._expiry) >= self._size:
                del self._expiry[next(iter(self._expiry))]  # the oldest entry
            self._expiry[token] = (payload, expires)
            return payload
        payload, expires = remembered
        # The library's own rule: expired once `exp` is before now minus the leeway.
        if expires < int(time.time()) - self._settings.jwt_leeway_seconds:
            del self._expiry[token]
            raise TokenRejectedError("Token has expired")
        return payload


def _decode(token: str, settings: Settings) -> tuple[JWTPayload, int]:
    """The verified payload and the token's `exp`."""
    try:
        refuse_critical_extensions(jwt.get_unverified_header(token))
        claims = jwt.decode(
            token,
            settings.better_auth_secret.get_secret_value(),
            algorithms=[ALGORITHM],  # pinned: never trust the token's own `alg`
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=_options(settings),
        )
        # A number here: `from_claims` refuses any `exp` that is not one.
        return JWTPayload.from_claims(claims, settings.jwt_leeway_seconds), int(claims["exp"])
    except ExpiredSignatureError:
        raise TokenRejectedError("Token has expired") from None
    except JWTError as error:
        raise TokenRejectedError(_jose_reason(error)) from None
    except (TypeError, ValueError, OverflowError):
        # The library lets some malformed claim values (a list for `iat`, say) escape as these.
        raise TokenRejectedError("Token claims are malformed") from None


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "require_exp": True,
        "require_sub": True,
        "verify_aud": settings.jwt_audience is not None,
        "require_aud": settings.jwt_audience is not None,
        "verify_iss": settings.jwt_issuer is not None,
        "require_iss": settings.jwt_issuer is not None,
        "leeway": settings.jwt_leeway_seconds,
    }


def _jose_reason(error: JWTError) -> str:
    # The library's texts are terse but safe; say them in words a client can act on.
    text = str(error)
    if text in _JOSE_REASONS:
        return _JOSE_REASONS[text]
    if isinstance(error, JWTClaimsError) or text.startswith("missing required key"):
        return f"Token claims are invalid: {text}"
    return "Token is malformed"


_JOSE_REASONS = {
    "Signature verification failed.": "Token signature is invalid",
    "The specified alg value is not allowed": "Token algorithm is not allowed; HS256 is required",
    "The token is not yet valid (nbf)": "Token is not yet valid (nbf is in the future)",
    "Invalid audience": "Token audience is not accepted",
    "Invalid issuer": "Token issuer is not accepted",
}


def _reject(request: Request, error: ApiError) -> ApiError:
    # The one exit for auth failures, so none goes unlogged. Never log the token. The log's
    # formatter escapes what the client sent (path, forwarded address).
    client = request.client.host if request.client else "-"
    method, path, reason = request.method, sent_path(request.scope), error.detail
    logger.warning("auth %s: %s %s from %s: %s", error.status, method, path, client, reason)
    return error
