"""How the task list filters, orders and pages: statements compiled once per shape."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select

from src.db import Statement, compiled
from src.schemas.queries import TaskListQuery
from src.schemas.responses import TaskRecord
from src.services.task_table import TASK_COUNTS, TASKS

_LIKE_ESCAPE = "/"


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[TaskRecord]
    total: int  # every task matching the filters, across all pages


def page_statement(query: TaskListQuery) -> Statement:
    """The page's SELECT; its parameters come from `parameters`."""
    return _page(query.completed is not None, query.q is not None, query.sort, query.order)


def count_statement(query: TaskListQuery) -> Statement:
    """How many tasks match the filters, whatever the page.

    Unfiltered, that is the owner's row of `task_counts` (src/models/task_count.py): one row
    read, however many tasks the owner has. Filtered, the matching rows are counted.
    """
    if query.completed is None and query.q is None:
        return _OWNER_TOTAL
    return _count(query.completed is not None, query.q is not None)


def parameters(owner_id: str, query: TaskListQuery) -> dict[str, object]:
    values: dict[str, object] = {"owner": owner_id, "limit": query.limit, "offset": query.offset}
    if query.completed is not None:
        values["completed"] = query.completed
    if query.q is not None:
        values["pattern"] = f"%{_escape_like(query.q)}%"
    return values


def total_if_known(query: TaskListQuery, page_size: int) -> int | None:
    """The total a page already proves: any short page that is not past the end."""
    if page_size < query.limit and (page_size > 0 or query.offset == 0):
        return query.offset + page_size
    return None


_OWNER_TOTAL = compiled(
    select(
        func.coalesce(
            select(TASK_COUNTS.c.total)
            .where(TASK_COUNTS.c.user_id == bindparam("owner"))
            .scalar_subquery(),
            0,
        ).label("total")
    )
)


# Compiled once per shape of query (2 x 2 x 3 x 2 at most), so a request only binds values.
@cache
def _page(by_status: bool, by_text: bool, sort: str, order: str) -> Statement:
    keys: dict[str, Any] = {
        "created_at": TASKS.c.created_at,
        "updated_at": TASKS.c.updated_at,
        "title": func.lower(TASKS.c.title),
    }
    key, tie = keys[sort], TASKS.c.id
    ordering = (key.desc(), tie.desc()) if order == "desc" else (key.asc(), tie.asc())
    statement = select(TASKS).where(*_filters(by_status, by_text)).order_by(*ordering)
    return compiled(statement.limit(bindparam("limit")).offset(bindparam("offset")))


@cache
def _count(by_status: bool, by_text: bool) -> Statement:
    counted = select(func.count().label("total")).select_from(TASKS)
    return compiled(counted.where(*_filters(by_status, by_text)))


def _filters(by_status: bool, by_text: bool) -> list[ColumnElement[bool]]:
    # The owner first: every query is scoped to one user, whatever else it asks.
    filters = [TASKS.c.user_id == bindparam("owner")]
    if by_status:
        filters.append(TASKS.c.completed == bindparam("completed"))
    if by_text:
        # lower() on both sides, by the database's rules; the text's own % and _ are escaped.
        pattern = func.lower(bindparam("pattern"))
        filters.append(
            or_(
                func.lower(TASKS.c.title).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(TASKS.c.description).like(pattern, escape=_LIKE_ESCAPE),
            )
        )
    return filters


def _escape_like(text: str) -> str:
    escaped = text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
    return escaped.replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")
