"""How the task list filters and orders: pure statement builders, no session."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from src.models.task import Task
from src.schemas.queries import TaskListQuery


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[Task]
    total: int  # every task matching the filters, across all pages


def filtered(statement: SelectOfScalar[Task], query: TaskListQuery) -> SelectOfScalar[Task]:
    if query.completed is not None:
        statement = statement.where(Task.completed == query.completed)
    if query.q is not None:
        statement = statement.where(_contains(query.q))
    return statement


def ordered(statement: SelectOfScalar[Task], query: TaskListQuery) -> SelectOfScalar[Task]:
    keys: dict[str, Any] = {
        "created_at": col(Task.created_at),
        "updated_at": col(Task.updated_at),
        "title": func.lower(col(Task.title)),
    }
    key, tie = keys[query.sort], col(Task.id)
    if query.order == "desc":
        return statement.order_by(key.desc(), tie.desc())
    return statement.order_by(key.asc(), tie.asc())


def total_if_known(query: TaskListQuery, page_size: int) -> int | None:
    """The total a page already proves: any short page that is not past the end."""
    if page_size < query.limit and (page_size > 0 or query.offset == 0):
        return query.offset + page_size
    return None


def _contains(text: str) -> ColumnElement[bool]:
    # lower() LIKE lower() on both backends; autoescape makes % and _ in the text literal.
    return or_(
        col(Task.title).icontains(text, autoescape=True),
        col(Task.description).icontains(text, autoescape=True),
    )
