"""Text types shared by request schemas and path parameters."""

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode lone surrogates: reject both up front
# so they become a 422 instead of a driver error.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


# Constraints first: the title is trimmed before its length is checked.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(storable),
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(storable)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(storable)]
