"""What the service knows about a caller, and the claim rules a token must meet to say it."""

import time
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from src.errors import TokenRejectedError
from src.schemas.text import storable

# RFC 7519 2: NumericDate is a JSON number; the libraries would also take "9999999999".
_NUMERIC_DATES = ("exp", "nbf", "iat")


class JWTPayload(BaseModel):
    """The claims the service relies on; the library has already checked signature and times."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: str
    exp: float | None = None  # when the token expires: what ends a live stream

    @classmethod
    def from_claims(cls, claims: dict[str, Any], leeway: int) -> Self:
        """The caller named by verified claims, or TokenRejectedError saying what is wrong."""
        for name in _NUMERIC_DATES:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TokenRejectedError(f"Token claim {name} must be a JSON number (NumericDate)")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenRejectedError("Token subject (sub) must be a non-empty string")
        try:
            storable(sub)
        except ValueError:
            raise TokenRejectedError(
                "Token subject (sub) contains unsupported characters"
            ) from None
        if "/" in sub:
            # The router reads a decoded %2F as a path separator: such a user reaches no route.
            raise TokenRejectedError("Token subject (sub) must not contain '/'")
        if "iat" in claims and float(claims["iat"]) > time.time() + leeway:
            raise TokenRejectedError("Token issued-at time (iat) is in the future")
        return cls(sub=sub, exp=claims.get("exp"))


def refuse_critical_extensions(header: dict[str, Any]) -> None:
    # RFC 7515 4.1.11: a token whose `crit` names extensions the recipient does not understand
    # must be rejected, and this service understands none.
    if "crit" in header:
        raise TokenRejectedError(
            "Token header lists critical extensions (crit); this service supports none"
        )
