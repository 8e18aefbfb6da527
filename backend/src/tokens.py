"""Mint a token the way Better Auth would: `python -m src.tokens <user_id> [--minutes N]`."""

import argparse
import time
from typing import Any

from jose import jwt

from src.config import Settings, get_settings
from src.middleware.jwt import ALGORITHM


def create_token(user_id: str, secret: str, *, expires_in: int = 3600, **claims: Any) -> str:
    """An HS256 token for `user_id`, valid for `expires_in` seconds; `claims` add or override."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def _token_for(user_id: str, minutes: int, settings: Settings) -> str:
    extra: dict[str, str] = {}
    if settings.jwt_issuer:
        extra["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        extra["aud"] = settings.jwt_audience
    secret = settings.better_auth_secret.get_secret_value()
    return create_token(user_id, secret, expires_in=minutes * 60, **extra)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user_id", help="the user id (the token's sub)")
    parser.add_argument("--minutes", type=int, default=60, help="lifetime (default 60)")
    args = parser.parse_args(argv)
    # A CLI's output is its job; stdout keeps it pipeable: TOKEN=$(make -s token USER=alice).
    print(_token_for(args.user_id, args.minutes, get_settings()))  # noqa: T201


if __name__ == "__main__":
    main()
