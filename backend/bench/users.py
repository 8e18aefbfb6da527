"""The users file mixed.lua reads: each seeded user, a token for it, and its task ids."""

import secrets
import time
from pathlib import Path

from jose import jwt

TOKEN_LIFETIME_SECONDS = 6 * 3600
# The shared-secret tokens Better Auth signs and the Task API verifies; minted here, not with the
# API's own code, so that the bench reaches every version of the API only over HTTP.
JWT_ALGORITHM = "HS256"


class Users:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.secret = secrets.token_urlsafe(48)  # the servers' BETTER_AUTH_SECRET
        # One token per user for the whole run, as a signed-in browser sends the same one each
        # time: a fresh token at every reseed would make the first request of every user in
        # every run pay a full signature check, and let the tokens of earlier runs crowd the
        # servers' caches of verified tokens.
        self._tokens: dict[str, str] = {}

    def write(self, tasks: dict[str, list[int]]) -> None:
        """One line per user: "<user id> <token> <task id> <task id> ..."."""
        lines = [" ".join([user, self.token(user), *map(str, ids)]) for user, ids in tasks.items()]
        self.path.write_text("\n".join(lines) + "\n")

    def token(self, user_id: str) -> str:
        if user_id not in self._tokens:
            self._tokens[user_id] = self._mint(user_id)
        return self._tokens[user_id]

    def _mint(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "iat": now, "exp": now + TOKEN_LIFETIME_SECONDS}
        return jwt.encode(claims, self.secret, algorithm=JWT_ALGORITHM)
