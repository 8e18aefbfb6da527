"""Layer three of isolation, by construction: no statement on tasks or keys lacks the owner."""

import re

import pytest
import sqlalchemy as sa

from src.services import task_repository
from src.services.task_repository import TASKS, every_statement

_OWNER_FILTER = re.compile(r"\b(tasks|task_counts|idempotency_keys)\.user_id = %\(owner\)s")
_OWNER_VALUE = re.compile(r"^INSERT INTO \w+ \(user_id, .*\) VALUES \(%\(owner\)s")


def test_every_statement_is_scoped_to_the_owner() -> None:
    statements = list(every_statement())

    # Every shape: 7 fixed, 15 column sets x 2 updates, 4 counts and 24 page orders.
    assert len(statements) == 65
    for sql in statements:
        if sql.startswith("INSERT"):
            assert _OWNER_VALUE.match(sql), sql
        else:
            _, where = re.split(r"\sWHERE\s", sql, maxsplit=1)
            assert _OWNER_FILTER.search(where), sql


def test_a_statement_without_the_owner_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="does not name the owner"):
        task_repository._statement(sa.select(TASKS).where(TASKS.c.id == sa.bindparam("task_id")))
