"""`/api/{user_id}/tasks`: the six task operations."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response, status

from src.api import headers
from src.api.headers import IdempotencyKey, IfMatch, IfNoneMatch
from src.api.pagination import page_links
from src.db import SessionDep
from src.middleware.jwt import CurrentUserDep
from src.models.task import Task
from src.schemas.queries import TaskListQuery
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import ErrorResponse, TaskResponse
from src.services.etags import etag_of, if_none_match_hits
from src.services.task_service import TaskService


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        status.HTTP_400_BAD_REQUEST: "The body is not valid JSON",
        status.HTTP_401_UNAUTHORIZED: "Missing, malformed, expired or badly signed token",
        status.HTTP_403_FORBIDDEN: "The token belongs to a different user than the path",
        status.HTTP_404_NOT_FOUND: "No such task for this user",
        status.HTTP_409_CONFLICT: "A request with this Idempotency-Key is still in progress",
        status.HTTP_412_PRECONDITION_FAILED: "If-Match does not match the task's current ETag; "
        "nothing changed",
    }
    return {code: {"model": ErrorResponse, "description": reasons[code]} for code in codes}


def _ok(code: int, description: str, **documented: dict[str, Any]) -> dict[int | str, Any]:
    return {code: {"description": description, "headers": documented}}


_AUTH_ERRORS = (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN)
_CHANGE_ERRORS = _errors(
    status.HTTP_400_BAD_REQUEST, status.HTTP_404_NOT_FOUND, status.HTTP_412_PRECONDITION_FAILED
)
_CHANGED = _ok(status.HTTP_200_OK, "The changed task", ETag=headers.ETAG)
_CREATE_INVALID: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "A field or the Idempotency-Key header is invalid (a list of problems), "
        "or the key was already used with a different body (one `detail` sentence)",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/HTTPValidationError"},
                        {"$ref": "#/components/schemas/ErrorResponse"},
                    ]
                }
            }
        },
    }
}

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"], responses=_errors(*_AUTH_ERRORS))


async def get_task_service(session: SessionDep, user: CurrentUserDep) -> TaskService:
    # The owner is the verified token's subject, never the path or the body.
    return TaskService(session, owner_id=user.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]


@router.get(
    "",
    response_model=list[TaskResponse],
    summary="List tasks",
    responses=_ok(
        status.HTTP_200_OK,
        "One page of the caller's tasks",
        **{"X-Total-Count": headers.TOTAL_COUNT, "Link": headers.LINK},
    ),
)
def list_tasks(
    query: Annotated[TaskListQuery, Query()],
    tasks: TaskServiceDep,
    request: Request,
    response: Response,
) -> list[Task]:
    """The caller's tasks, newest first unless `sort`/`order` say otherwise, one page at a time."""
    page = tasks.list_page(query)
    response.headers["X-Total-Count"] = str(page.total)
    if links := page_links(request.url, query, page.total):
        response.headers["Link"] = links
    return page.items


@router.post(
    "",
    response_model=TaskResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    responses={
        **_ok(
            status.HTTP_201_CREATED,
            "The new task, or the one an earlier request with the same Idempotency-Key created",
            Location=headers.LOCATION,
            ETag=headers.ETAG,
            **{"Idempotent-Replayed": headers.REPLAYED},
        ),
        **_errors(status.HTTP_400_BAD_REQUEST, status.HTTP_409_CONFLICT),
        **_CREATE_INVALID,
    },
)
def create_task(
    data: TaskCreate,
    tasks: TaskServiceDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Task:
    """Create a task (not completed); `Location` points at it. Retry with an Idempotency-Key."""
    task, replayed = tasks.create_once(data, idempotency_key)
    response.headers["Location"] = _task_location(request, task)
    response.headers["ETag"] = etag_of(task)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return task


@router.get(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Get a task",
    responses={
        **_ok(status.HTTP_200_OK, "The task", ETag=headers.ETAG),
        **_ok(status.HTTP_304_NOT_MODIFIED, "Unchanged since If-None-Match", ETag=headers.ETAG),
        **_errors(status.HTTP_404_NOT_FOUND),
    },
)
def read_task(
    task_id: int, tasks: TaskServiceDep, response: Response, if_none_match: IfNoneMatch = None
) -> Task | Response:
    """One of the caller's tasks; with If-None-Match, 304 when it has not changed."""
    task = tasks.get(task_id)
    etag = etag_of(task)
    if if_none_match is not None and if_none_match_hits(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return task


@router.put(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Replace a task's title and description",
    responses={**_CHANGED, **_CHANGE_ERRORS},
)
def update_task(
    task_id: int,
    data: TaskUpdate,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    """Replace title and description; an omitted description becomes null."""
    task = tasks.replace(task_id, data, if_match)
    response.headers["ETag"] = etag_of(task)
    return task


@router.patch(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Mark a task completed or not",
    responses={**_CHANGED, **_CHANGE_ERRORS},
)
def patch_task(
    task_id: int,
    data: TaskPatch,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> Task:
    """Set the task's completion status."""
    task = tasks.set_completed(task_id, data.completed, if_match)
    response.headers["ETag"] = etag_of(task)
    return task


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task",
    responses=_errors(status.HTTP_404_NOT_FOUND, status.HTTP_412_PRECONDITION_FAILED),
)
def delete_task(task_id: int, tasks: TaskServiceDep, if_match: IfMatch = None) -> None:
    """Delete the task permanently."""
    tasks.delete(task_id, if_match)


def _task_location(request: Request, task: Task) -> str:
    # User ids are opaque (emails, spaces, unicode): percent-encode the segment.
    root = request.scope.get("root_path", "")
    return f"{root}/api/{quote(task.user_id, safe='')}/tasks/{task.id}"
