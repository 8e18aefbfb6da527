"""How statements are made: SQLAlchemy Core on the SQLModel tables, compiled once, owner named.

Statements are compiled once per shape and run by psycopg with their values bound by name, so a
request builds no SQL. `owned()` is layer three of isolation: a statement that does not name
the owner cannot be compiled here.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from src.models.idempotency_key import IdempotencyKey
from src.models.task import Task
from src.models.task_count import TaskCount
from src.models.task_event import TaskEvent

TASKS: sa.Table = Task.__table__  # type: ignore[attr-defined]  # set when the class is made
TASK_COUNTS: sa.Table = TaskCount.__table__  # type: ignore[attr-defined]
KEYS: sa.Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = TaskEvent.__table__  # type: ignore[attr-defined]
OWNER = "owner"  # the bound parameter every statement carries
OWNER_ID: sa.BindParameter[str] = sa.bindparam(OWNER)
NOW: sa.BindParameter[datetime] = sa.bindparam("now")
Statement = str  # SQL with named placeholders: %(name)s

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # SQLAlchemy's own


def owned(table: sa.Table) -> sa.ColumnElement[bool]:
    """The owner filter: the rows of the caller, and of nobody else."""
    return table.c.user_id == OWNER_ID


def statement(expression: sa.ClauseElement) -> Statement:
    compiled = expression.compile(dialect=_DIALECT)
    if OWNER not in compiled.params:
        raise ValueError(f"statement does not name the owner: {compiled}")
    if any(value is not None for value in compiled.params.values()):
        raise ValueError(f"statement holds a literal; bind it by name: {compiled}")
    return str(compiled)


def bound(*names: str) -> dict[str, sa.BindParameter[Any]]:
    return {name: sa.bindparam(name) for name in names}
