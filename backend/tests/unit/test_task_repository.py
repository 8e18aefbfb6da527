"""Layer three of isolation, by construction: no statement on tasks, keys or events lacks the
owner."""

import re

import pytest
import sqlalchemy as sa

from src.services.statements import TASKS, statement
from src.services.task_repository import every_statement

_OWNER_FILTER = re.compile(
    r"\b(tasks|task_counts|idempotency_keys|task_events)\.user_id = %\(owner\)s"
)
_OWNER_VALUE = re.compile(r"^INSERT INTO \w+ \(user_id, .*\) VALUES \(%\(owner\)s")
# A write's event takes its owner from the rows the owner-filtered write returned.
_EVENT_OF_WRITE = re.compile(r"^INSERT INTO task_events \(user_id, .*\) SELECT written\.user_id ")
_CTE = re.compile(r"\w+ AS \n\(")


def _assert_scoped(sql: str) -> None:
    if _EVENT_OF_WRITE.match(sql):
        return
    if sql.startswith("INSERT"):
        assert _OWNER_VALUE.match(sql), sql
    else:
        _, where = re.split(r"\sWHERE\s", sql, maxsplit=1)
        assert _OWNER_FILTER.search(where), sql


def test_every_statement_is_scoped_to_the_owner() -> None:
    statements = list(every_statement())

    # Every shape: 7 fixed, 2 writes and 15 column sets x 2 updates, each with and without a
    # purge, 4 counts and 24 page orders.
    assert len(statements) == 99
    for sql in statements:
        if sql.startswith("WITH"):
            # Each part of a write's CTE: the write, its event, a purge of old events.
            parts = _CTE.split(sql)[1:]
            assert len(parts) in (2, 3), sql
            for part in parts:
                _assert_scoped(part)
        else:
            _assert_scoped(sql)


def test_a_statement_without_the_owner_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="does not name the owner"):
        statement(sa.select(TASKS).where(TASKS.c.id == sa.bindparam("task_id")))
