"""`/api/{user_id}/tasks`: the six task operations."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status

from src.api.strict_json import StrictJSONRoute
from src.db import SessionDep
from src.middleware.jwt import CurrentUserDep
from src.models.task import Task
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import ErrorResponse, TaskResponse
from src.services.task_service import TaskService


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        status.HTTP_400_BAD_REQUEST: "The body is not valid JSON",
        status.HTTP_401_UNAUTHORIZED: "Missing, malformed, expired or badly signed token",
        status.HTTP_403_FORBIDDEN: "The token belongs to a different user than the path",
        status.HTTP_404_NOT_FOUND: "No such task for this user",
        status.HTTP_413_CONTENT_TOO_LARGE: "The body is larger than MAX_BODY_BYTES (64 KiB)",
    }
    return {code: {"model": ErrorResponse, "description": reasons[code]} for code in codes}


_AUTH_ERRORS = (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN)
_WRITE_ERRORS = (
    status.HTTP_400_BAD_REQUEST,
    status.HTTP_404_NOT_FOUND,
    status.HTTP_413_CONTENT_TOO_LARGE,
)

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    responses=_errors(*_AUTH_ERRORS),
    route_class=StrictJSONRoute,
)


async def get_task_service(session: SessionDep, user: CurrentUserDep) -> TaskService:
    # The owner is the verified token's subject, never the path or the body.
    return TaskService(session, owner_id=user.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]


@router.get("", response_model=list[TaskResponse], summary="List tasks")
def list_tasks(tasks: TaskServiceDep) -> list[Task]:
    """All of the caller's tasks, newest first."""
    return list(tasks.list_all())


@router.post(
    "",
    response_model=TaskResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    responses=_errors(status.HTTP_400_BAD_REQUEST, status.HTTP_413_CONTENT_TOO_LARGE),
)
def create_task(
    data: TaskCreate, tasks: TaskServiceDep, request: Request, response: Response
) -> Task:
    """Create a task (not completed); `Location` points at it."""
    task = tasks.create(data)
    response.headers["Location"] = _task_location(request, task)
    return task


@router.get(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Get a task",
    responses=_errors(status.HTTP_404_NOT_FOUND),
)
def read_task(task_id: int, tasks: TaskServiceDep) -> Task:
    """One of the caller's tasks."""
    return tasks.get(task_id)


@router.put(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Replace a task's title and description",
    responses=_errors(*_WRITE_ERRORS),
)
def update_task(task_id: int, data: TaskUpdate, tasks: TaskServiceDep) -> Task:
    """Replace title and description; an omitted description becomes null."""
    return tasks.replace(task_id, data)


@router.patch(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Mark a task completed or not",
    responses=_errors(*_WRITE_ERRORS),
)
def patch_task(task_id: int, data: TaskPatch, tasks: TaskServiceDep) -> Task:
    """Set the task's completion status."""
    return tasks.set_completed(task_id, data.completed)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task",
    responses=_errors(status.HTTP_404_NOT_FOUND),
)
def delete_task(task_id: int, tasks: TaskServiceDep) -> None:
    """Delete the task permanently."""
    tasks.delete(task_id)


def _task_location(request: Request, task: Task) -> str:
    # User ids are opaque (emails, spaces, unicode): percent-encode the segment.
    root = request.scope.get("root_path", "")
    return f"{root}/api/{quote(task.user_id, safe='')}/tasks/{task.id}"
