"""The floor of the stack: the least FastAPI and PostgreSQL can do for the mixed workload.

The same four operations as the Task API (list a page, create, get one, patch), each the Task
API's own SQL statement, sent through its own engine (src/db.py: same pool, driver, autocommit
and time limits) on a worker thread, rows turned into JSON by hand. No token check, no
validation, no middleware, no ETag, no total count. `make bench` runs it beside the Task API,
with the same uvicorn settings and on the same database, so that the table shows how much of the
gap to the bare route is the stack itself (one HTTP request, one thread hop, one query) and how
much is the application.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine, bindparam, update

from src.config import DatabaseSettings
from src.db import create_db_engine
from src.schemas.queries import TaskListQuery
from src.services import task_listing, task_table

# The Task API's own statements, so that the two differ only in what runs around the query;
# PATCH without the API's version guard, which sends writers in the same microsecond to a locked
# second path (src/services/task_table.py, `update_if_older`).
_LIST = task_listing.page_statement(TaskListQuery())
_TASKS = task_table.TASKS
_PATCH = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.user_id == bindparam("owner"))
    .values(completed=bindparam("new_completed"), updated_at=bindparam("now"))
    .returning(*_TASKS.c)
)

app = FastAPI()
_settings = DatabaseSettings()
engine: Engine = create_db_engine(_settings)
# As in the Task API (src/db_threads.py): one thread per pooled connection, so that no request
# waits for a connection in a thread and no overflow connection is opened and closed per request.
_threads = anyio.CapacityLimiter(_settings.db_pool_size)


@app.get("/")
async def ready() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/{user_id}/tasks")
async def list_tasks(user_id: str) -> Response:
    values = task_listing.parameters(user_id, TaskListQuery())
    return await _answer(lambda: _rows(_LIST, values))


@app.post("/api/{user_id}/tasks")
async def create_task(user_id: str, request: Request) -> Response:
    body = json.loads(await request.body())
    values = {"owner": user_id, "now": datetime.now(UTC), "new_description": None}
    values |= {f"new_{name}": value for name, value in body.items()}
    return await _answer(lambda: _rows(task_table.INSERT, values)[0], 201)


@app.get("/api/{user_id}/tasks/{task_id}")
async def get_task(user_id: str, task_id: int) -> Response:
    return await _answer(lambda: _rows(task_table.GET, {"owner": user_id, "task_id": task_id})[0])


@app.patch("/api/{user_id}/tasks/{task_id}")
async def patch_task(user_id: str, task_id: int, request: Request) -> Response:
    body = json.loads(await request.body())
    values = {"owner": user_id, "task_id": task_id, "now": datetime.now(UTC)}
    values |= {f"new_{name}": value for name, value in body.items()}
    return await _answer(lambda: _rows(_PATCH, values)[0])


async def _answer(work: Callable[[], object], code: int = 200) -> Response:
    content = await anyio.to_thread.run_sync(work, limiter=_threads)
    return Response(json.dumps(content, default=_iso), code, media_type="application/json")


def _rows(statement: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement, values)]


def _iso(value: datetime) -> str:
    return value.isoformat()
