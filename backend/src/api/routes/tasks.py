"""`/api/{user_id}/tasks`: the six task operations."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from pydantic import BeforeValidator, TypeAdapter

from src.api import headers
from src.api.headers import IdempotencyKey, IfMatch, IfNoneMatch
from src.api.openapi import (
    COMPLETED_TASK_EXAMPLE,
    CREATE_EXAMPLES,
    LOCATION_HEADER,
    PATCH_EXAMPLES,
    REPLACED_TASK_EXAMPLE,
    UPDATE_EXAMPLES,
    error_responses,
    example_response,
)
from src.api.pagination import page_links
from src.api.strict_json import StrictJSONRoute
from src.errors import (
    BodyNotJSONError,
    BodyTooLargeError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    IdempotencyKeyConflictError,
    NotJSONContentTypeError,
    NotOwnerError,
    PreconditionFailedError,
    SigningKeysUnavailableError,
    TaskNotFoundError,
    TokenRejectedError,
)
from src.middleware.jwt import OwnerBearer
from src.schemas.auth import JWTPayload
from src.schemas.queries import TaskListQuery, canonical_id
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import TASK_EXAMPLE, TaskRecord, TaskResponse
from src.services.etags import etag_of, if_none_match_hits
from src.services.task_service import TaskService

# Any task operation can meet these; each route adds its own (a body's, an id's, a write's).
_ANY = (TokenRejectedError, NotOwnerError, DatabaseUnavailableError, SigningKeysUnavailableError)
# What a JSON body can meet before the service runs, and what only a write meets.
_BODY = (BodyNotJSONError, BodyTooLargeError, NotJSONContentTypeError)
_WRITE = (*_ANY, DatabaseReadOnlyError)


def _write_responses(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """A PUT's or PATCH's answers: the task with its new ETag, or why it was not changed."""
    changed = example_response(status.HTTP_200_OK, example, headers={"ETag": headers.ETAG})
    return changed | error_responses(*_WRITE, *_BODY, TaskNotFoundError, PreconditionFailedError)


router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    route_class=StrictJSONRoute,  # NaN, duplicate keys and the like are a 400, never a 500
)


def service_of(request: Request, token: JWTPayload) -> TaskService:
    """Layer three: the service bound to the verified token's subject."""
    state = request.app.state
    retention = state.settings.task_events_retention
    return TaskService(state.database, token.sub, request.is_disconnected, retention)


# The task routes' one dependency: token, path owner, then the owner's service
# (src/middleware/jwt.py). Tests may replace it through `app.dependency_overrides`.
owned_tasks = OwnerBearer(service_of)
OwnedTasks = Annotated[TaskService, Depends(owned_tasks)]
TaskId = Annotated[
    int,
    BeforeValidator(canonical_id),
    Path(
        json_schema_extra={"minimum": 0},
        description="The task's id, as returned when it was created: decimal digits without "
        "sign, spaces or leading zeros (`1`, not `01`, `+1` or `1.0`).",
    ),
]


@router.get(
    "",
    response_model=list[TaskResponse],
    summary="List tasks",
    response_description="One page of the caller's tasks (an empty array when none)",
    responses=example_response(
        status.HTTP_200_OK,
        [TASK_EXAMPLE],
        headers={"X-Total-Count": headers.TOTAL_COUNT, "Link": headers.LINK},
    )
    | error_responses(*_ANY),
)
async def list_tasks(
    query: Annotated[TaskListQuery, Query()], tasks: OwnedTasks, request: Request
) -> Response:
    """The caller's tasks, newest first unless `sort`/`order` say otherwise, one page at a time."""
    page = await tasks.list_page(query)
    headers = {"X-Total-Count": str(page.total)}
    if links := page_links(request, query, page.total):
        headers["Link"] = links
    return _json(_TASKS, page.items, headers=headers)


@router.post(
    "",
    response_model=TaskResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    response_description="The new task, or the one an earlier request with the same "
    "Idempotency-Key created",
    responses=example_response(
        status.HTTP_201_CREATED,
        TASK_EXAMPLE,
        headers=LOCATION_HEADER | {"ETag": headers.ETAG, "Idempotent-Replayed": headers.REPLAYED},
    )
    | error_responses(*_WRITE, *_BODY, IdempotencyKeyConflictError),
)
async def create_task(
    data: Annotated[TaskCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    tasks: OwnedTasks,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create a task (not completed); `Location` points at it.

    Send an `Idempotency-Key` to retry safely: the same key and body within 24 hours answer with
    the original 201 and create nothing; the same key with another body is a 422 naming the header.
    """
    task, replayed = await tasks.create_once(data, idempotency_key)
    headers = {"Location": _task_location(request, task), "ETag": etag_of(task)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(_TASK, task, status.HTTP_201_CREATED, headers)


@router.get(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Get a task",
    response_description="The task",
    responses=example_response(status.HTTP_200_OK, TASK_EXAMPLE, headers={"ETag": headers.ETAG})
    | {
        status.HTTP_304_NOT_MODIFIED: {
            "description": "Unchanged since If-None-Match; no body",
            "headers": {"ETag": headers.ETAG},
        }
    }
    | error_responses(*_ANY, TaskNotFoundError),
)
async def read_task(
    task_id: TaskId, tasks: OwnedTasks, if_none_match: IfNoneMatch = None
) -> Response:
    """One of the caller's tasks; with If-None-Match, 304 when it has not changed."""
    task = await tasks.get(task_id)
    etag = etag_of(task)
    if if_none_match is not None and if_none_match_hits(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return _json(_TASK, task, headers={"ETag": etag})


@router.put(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Replace a task's title and description",
    response_description="The task as replaced; `updated_at` has advanced",
    responses=_write_responses(REPLACED_TASK_EXAMPLE),
)
async def update_task(
    task_id: TaskId,
    data: Annotated[TaskUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    tasks: OwnedTasks,
    if_match: IfMatch = None,
) -> Response:
    """Replace title and description; an omitted description becomes null."""
    task = await tasks.replace(task_id, data, if_match)
    return _json(_TASK, task, headers={"ETag": etag_of(task)})


@router.patch(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Mark a task completed or not",
    response_description="The task with its new status; `updated_at` has advanced",
    responses=_write_responses(COMPLETED_TASK_EXAMPLE),
)
async def patch_task(
    task_id: TaskId,
    data: Annotated[TaskPatch, Body(openapi_examples=PATCH_EXAMPLES)],
    tasks: OwnedTasks,
    if_match: IfMatch = None,
) -> Response:
    """Set the task's completion status."""
    task = await tasks.set_completed(task_id, data.completed, if_match)
    return _json(_TASK, task, headers={"ETag": etag_of(task)})


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task",
    response_description="Deleted; no body",
    responses=error_responses(*_WRITE, TaskNotFoundError, PreconditionFailedError),
)
async def delete_task(task_id: TaskId, tasks: OwnedTasks, if_match: IfMatch = None) -> None:
    """Delete the task permanently."""
    await tasks.delete(task_id, if_match)


_TASK = TypeAdapter(TaskResponse)
_TASKS = TypeAdapter(list[TaskRecord])


def _json(
    shape: TypeAdapter[Any],
    content: object,
    code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> Response:
    # The service hands back validated TaskResponse objects: serialise them as they are. Given a
    # model to return, FastAPI would validate it again; `response_model` above documents them.
    body = shape.dump_json(content)
    return Response(body, code, headers, media_type="application/json")


def _task_location(request: Request, task: TaskResponse) -> str:
    # User ids are opaque (emails, spaces, unicode): percent-encode the segment.
    root = request.scope.get("root_path", "")
    return f"{root}/api/{quote(task.user_id, safe='')}/tasks/{task.id}"
