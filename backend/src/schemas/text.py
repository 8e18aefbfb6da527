"""Text types shared by request schemas and path parameters."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode lone surrogates: reject both up front
# so they become a 422 instead of a driver error.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


# What the validators below accept, published as patterns so that clients and API fuzzers know
# it too: no NUL anywhere, and a title needs one character that is not whitespace. The whitespace
# is the set `strip_whitespace` trims (Unicode White_Space), spelled out because Python's, ECMA's
# and pydantic's regex dialects each mean something different by `\s`. Published only: the
# validators give the clearer error messages.
_WHITESPACE = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_NO_NUL = Field(json_schema_extra={"pattern": r"^[^\x00]*$"})
_TEXT_NO_NUL = Field(json_schema_extra={"pattern": rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"})

# Constraints first: the title is trimmed before its length is checked.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(storable),
    _TEXT_NO_NUL,
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(storable), _NO_NUL]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(storable)]
