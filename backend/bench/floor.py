"""The floor of the stack: the least FastAPI and PostgreSQL can do for the mixed workload.

The same four operations as the Task API (list a page, create, get one, patch completed) at the
same paths with the same status codes, each one SQL statement equivalent to the Task API's,
awaited on the event loop through psycopg 3's `AsyncConnectionPool` (autocommit connections,
DB_POOL_SIZE of them per worker, default 5, and DB_PREPARE_THRESHOLD, as in the Task API), rows
turned into JSON by hand.
No token check, no validation, no middleware, no ETag, no total count.

FastAPI rather than bare Starlette: the Task API is a FastAPI app, so its routing and path
parameter parsing are part of the stack the floor stands for, not of the application. Bare
Starlette would lower the floor by FastAPI's own cost and blame it on the application.

It imports nothing from `src`: it owns its SQL, so it runs whatever state `src` is in, and the
bench reaches every server only over HTTP. `make bench` runs it beside the Task API with the same
uvicorn settings and on the same database, so that the table shows how much of the gap to the
bare route is the stack itself (one HTTP request, one query) and how much is the application.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from bench.database import plain_url

PAGE_SIZE = 100  # the Task API's default page, and what mixed.lua asks for
POOL_TIMEOUT_SECONDS = 10.0  # the Task API's DB_POOL_TIMEOUT default

_LIST = """
SELECT id, user_id, title, description, completed, created_at, updated_at FROM tasks
WHERE user_id = %(owner)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
_CREATE = """
INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at)
VALUES (%(owner)s, %(title)s, %(description)s, false, %(now)s, %(now)s)
RETURNING id, user_id, title, description, completed, created_at, updated_at
"""
_GET = """
SELECT id, user_id, title, description, completed, created_at, updated_at FROM tasks
WHERE user_id = %(owner)s AND id = %(task_id)s
"""
# Without the Task API's version guard (`updated_at < now`), whose miss sends writers of the same
# microsecond to a locked second path: under this load it almost never fires.
_PATCH = """
UPDATE tasks SET completed = %(completed)s, updated_at = %(now)s
WHERE user_id = %(owner)s AND id = %(task_id)s
RETURNING id, user_id, title, description, completed, created_at, updated_at
"""

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]
Params = dict[str, object]


def create_app() -> FastAPI:
    size = int(os.environ.get("DB_POOL_SIZE", "5"))
    # As the Task API reads it: psycopg prepares a statement after this many runs; empty, never.
    prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip()
    pool = Pool(
        plain_url(os.environ["DATABASE_URL"]),
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True, "prepare_threshold": int(prepare) if prepare else None},
        timeout=POOL_TIMEOUT_SECONDS,
        open=False,  # opened by the lifespan, inside the worker's event loop
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/{user_id}/tasks")
    async def list_tasks(user_id: str) -> Response:
        rows = await _rows(pool, _LIST, {"owner": user_id, "limit": PAGE_SIZE, "offset": 0})
        return _json([_task(row) for row in rows])

    @app.post("/api/{user_id}/tasks")
    async def create_task(user_id: str, request: Request) -> Response:
        body = json.loads(await request.body())
        values: Params = {"owner": user_id, "now": datetime.now(UTC)}
        values |= {"title": body["title"], "description": body.get("description")}
        return _one(await _rows(pool, _CREATE, values), 201)

    @app.get("/api/{user_id}/tasks/{task_id}")
    async def read_task(user_id: str, task_id: int) -> Response:
        return _one(await _rows(pool, _GET, {"owner": user_id, "task_id": task_id}))

    @app.patch("/api/{user_id}/tasks/{task_id}")
    async def patch_task(user_id: str, task_id: int, request: Request) -> Response:
        body = json.loads(await request.body())
        values: Params = {"owner": user_id, "task_id": task_id, "now": datetime.now(UTC)}
        values["completed"] = body["completed"]
        return _one(await _rows(pool, _PATCH, values))

    return app


async def _rows(pool: Pool, query: str, values: Params) -> list[TupleRow]:
    async with pool.connection() as connection:
        cursor = await connection.execute(query, values)
        return await cursor.fetchall()


def _one(rows: list[TupleRow], code: int = 200) -> Response:
    return _json(_task(rows[0]), code) if rows else _json({"detail": "Task not found"}, 404)


def _task(row: TupleRow) -> dict[str, object]:
    task_id, user_id, title, description, completed, created_at, updated_at = row
    return {
        "id": task_id,
        "user_id": user_id,
        "title": title,
        "description": description,
        "completed": completed,
        "created_at": _iso(created_at),
        "updated_at": _iso(updated_at),
    }


def _iso(value: datetime) -> str:
    # UTC whatever the session's TimeZone, spelled with "Z" as the Task API's responses are, so
    # that both send the same bytes.
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(content: object, code: int = 200) -> Response:
    return Response(json.dumps(content, separators=(",", ":")), code, media_type="application/json")


app = create_app()
