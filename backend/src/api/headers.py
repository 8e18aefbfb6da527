"""Request headers the task routes read, and response headers they document."""

from typing import Annotated, Any

from fastapi import Header

IfMatch = Annotated[
    str | None,
    Header(
        description="Change only if the task still has this ETag (or `*`: any version); "
        "otherwise 412 and nothing changes.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(description="Answer 304 with no body if the task still has this ETag."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7E]+$",
        description="1 to 255 printable ASCII characters. A retry with the same key and body "
        "within 24 hours answers with the original 201 and creates nothing.",
    ),
]


def header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


ETAG = header("The task's version; send it back in If-Match or If-None-Match.")
REPLAYED = header("`true` when an earlier request with this Idempotency-Key created the task.")
TOTAL_COUNT = header("Tasks matching the filters, across all pages.", "integer")
LINK = header('RFC 8288 links to the `rel="next"` and `rel="prev"` pages, when they exist.')
