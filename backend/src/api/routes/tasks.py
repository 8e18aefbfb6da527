"""`/api/{user_id}/tasks`: the six task operations."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status

from src.api.openapi import (
    COMPLETED_TASK_EXAMPLE,
    CREATE_EXAMPLES,
    LOCATION_HEADER,
    PATCH_EXAMPLES,
    REPLACED_TASK_EXAMPLE,
    TASK_EXAMPLE,
    UPDATE_EXAMPLES,
    error_responses,
    example_response,
)
from src.db import SessionDep
from src.middleware.jwt import CurrentUserDep
from src.models.task import Task
from src.schemas.requests import TaskCreate, TaskPatch, TaskUpdate
from src.schemas.responses import TaskResponse
from src.services.task_service import TaskService

# Any task operation can meet these; each route adds its own (400 for a body, 404 for an id).
_COMMON_ERRORS = error_responses(
    status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN, status.HTTP_503_SERVICE_UNAVAILABLE
)
_NOT_FOUND = status.HTTP_404_NOT_FOUND
_NOT_JSON = status.HTTP_400_BAD_REQUEST

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"], responses=_COMMON_ERRORS)


async def get_task_service(session: SessionDep, user: CurrentUserDep) -> TaskService:
    # The owner is the verified token's subject, never the path or the body.
    return TaskService(session, owner_id=user.user_id)


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
TaskId = Annotated[int, Path(description="The task's id, as returned when it was created.")]


@router.get(
    "",
    response_model=list[TaskResponse],
    summary="List tasks",
    response_description="The caller's tasks, newest first (an empty array when none)",
    responses=example_response(200, [TASK_EXAMPLE]),
)
def list_tasks(tasks: TaskServiceDep) -> list[Task]:
    """All of the caller's tasks, newest first."""
    return list(tasks.list_all())


@router.post(
    "",
    response_model=TaskResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Create a task",
    response_description="The created task",
    responses=example_response(201, TASK_EXAMPLE, headers=LOCATION_HEADER)
    | error_responses(_NOT_JSON),
)
def create_task(
    data: Annotated[TaskCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    tasks: TaskServiceDep,
    request: Request,
    response: Response,
) -> Task:
    """Create a task (not completed); `Location` points at it."""
    task = tasks.create(data)
    response.headers["Location"] = _task_location(request, task)
    return task


@router.get(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Get a task",
    response_description="The task",
    responses=example_response(200, TASK_EXAMPLE) | error_responses(_NOT_FOUND),
)
def read_task(task_id: TaskId, tasks: TaskServiceDep) -> Task:
    """One of the caller's tasks."""
    return tasks.get(task_id)


@router.put(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Replace a task's title and description",
    response_description="The task as replaced; `updated_at` has advanced",
    responses=example_response(200, REPLACED_TASK_EXAMPLE) | error_responses(_NOT_JSON, _NOT_FOUND),
)
def update_task(
    task_id: TaskId,
    data: Annotated[TaskUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    tasks: TaskServiceDep,
) -> Task:
    """Replace title and description; an omitted description becomes null."""
    return tasks.replace(task_id, data)


@router.patch(
    "/{task_id}",
    response_model=TaskResponse,
    summary="Mark a task completed or not",
    response_description="The task with its new status; `updated_at` has advanced",
    responses=example_response(200, COMPLETED_TASK_EXAMPLE)
    | error_responses(_NOT_JSON, _NOT_FOUND),
)
def patch_task(
    task_id: TaskId,
    data: Annotated[TaskPatch, Body(openapi_examples=PATCH_EXAMPLES)],
    tasks: TaskServiceDep,
) -> Task:
    """Set the task's completion status."""
    return tasks.set_completed(task_id, data.completed)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task",
    response_description="Deleted; no body",
    responses=error_responses(_NOT_FOUND),
)
def delete_task(task_id: TaskId, tasks: TaskServiceDep) -> None:
    """Delete the task permanently."""
    tasks.delete(task_id)


def _task_location(request: Request, task: Task) -> str:
    # User ids are opaque (emails, spaces, unicode): percent-encode the segment.
    root = request.scope.get("root_path", "")
    return f"{root}/api/{quote(task.user_id, safe='')}/tasks/{task.id}"
