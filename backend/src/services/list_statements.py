"""The list's statements: a page of the owner's tasks, and how many match, by query shape."""

import re
from functools import cache

import sqlalchemy as sa

from src.schemas.queries import TaskListQuery
from src.services.statements import TASK_COUNTS, TASKS, Statement
from src.services.statements import owned as _owned
from src.services.statements import statement as _statement

# The unfiltered list's total is the owner's row of `task_counts` (src/models/task_count.py):
# one row read, however many tasks the owner has.
_OWNER_TOTAL = _statement(
    sa.select(
        sa.func.coalesce(
            sa.select(TASK_COUNTS.c.total).where(_owned(TASK_COUNTS)).scalar_subquery(),
            sa.literal_column("0"),
        ).label("total")
    )
)


# The list: compiled once per shape of query (2 x 2 x 3 x 2 at most), so a request only binds.
@cache
def page_shape(by_status: bool, by_text: bool, sort: str, order: str) -> Statement:
    key, tie = sa.func.lower(TASKS.c.title) if sort == "title" else TASKS.c[sort], TASKS.c.id
    ordering = (key.desc(), tie.desc()) if order == "desc" else (key.asc(), tie.asc())
    listed = sa.select(TASKS).where(*_filters(by_status, by_text)).order_by(*ordering)
    return _statement(listed.limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))


@cache
def count_shape(by_status: bool, by_text: bool) -> Statement:
    if not (by_status or by_text):
        return _OWNER_TOTAL
    counted = sa.select(sa.func.count().label("total")).select_from(TASKS)
    return _statement(counted.where(*_filters(by_status, by_text)))


_LIKE_ESCAPE = "/"


def _filters(by_status: bool, by_text: bool) -> list[sa.ColumnElement[bool]]:
    filters = [_owned(TASKS)]
    if by_status:
        filters.append(TASKS.c.completed == sa.bindparam("completed"))
    if by_text:
        # lower() on both sides, by the database's rules; the text's own % and _ are escaped.
        pattern = sa.func.lower(sa.bindparam("pattern"))
        texts = (TASKS.c.title, TASKS.c.description)
        filters.append(
            sa.or_(*(sa.func.lower(t).like(pattern, escape=_LIKE_ESCAPE) for t in texts))
        )
    return filters


def list_values(query: TaskListQuery) -> dict[str, object]:
    values: dict[str, object] = {"limit": query.limit, "offset": query.offset}
    if query.completed is not None:
        values["completed"] = query.completed
    if query.q is not None:
        values["pattern"] = "%" + re.sub("([/%_])", _LIKE_ESCAPE + r"\1", query.q) + "%"
    return values


def page_statement(query: TaskListQuery) -> tuple[Statement, dict[str, object]]:
    """The list page's statement and its values, but for the owner."""
    statement = page_shape(
        query.completed is not None, query.q is not None, query.sort, query.order
    )
    return statement, list_values(query)
