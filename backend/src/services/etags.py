"""Entity tags: a task's version as a strong ETag, and the matching rules of RFC 9110."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Versioned(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def updated_at(self) -> datetime: ...


def etag_of(task: Versioned) -> str:
    """A quoted strong ETag; every change advances `updated_at`, so every change changes it."""
    # Integer microseconds, not isoformat(): the same instant reads back with different tzinfo
    # objects from each backend and from JSON, and must give the same tag.
    stamp = (task.updated_at - _EPOCH) // _MICROSECOND
    digest = hashlib.sha256(f"{task.id}:{stamp}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def if_match_allows(header: str, etag: str) -> bool:
    """`If-Match`: strong comparison, so a weak tag never matches; `*` matches any task."""
    tags = _tags(header)
    return "*" in tags or etag in tags


def if_none_match_hits(header: str, etag: str) -> bool:
    """`If-None-Match`: weak comparison, so `W/"x"` matches `"x"`."""
    tags = {tag.removeprefix("W/") for tag in _tags(header)}
    return "*" in tags or etag in tags


def _tags(header: str) -> set[str]:
    # Our tags are hex inside quotes, so a plain comma split is exact for every tag we issue.
    return {tag.strip() for tag in header.split(",")}
