"""`GET /api/{user_id}/tasks/events`: the caller's task changes, live (Server-Sent Events)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from src.api.openapi import error_responses
from src.api.routes.tasks import service_of
from src.errors import (
    DatabaseUnavailableError,
    NotOwnerError,
    SigningKeysUnavailableError,
    TokenRejectedError,
    TooManyStreamsError,
)
from src.middleware.jwt import OwnerBearer
from src.schemas.auth import JWTPayload
from src.services.task_stream import OpenStream, TaskStream

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])

STREAM_EXAMPLE = (
    ": connected\n\n"
    'id: 41\nevent: created\ndata: {"id":7,"user_id":"alice","title":"Buy milk",'
    '"description":null,"completed":false,"created_at":"2026-01-01T09:30:00Z",'
    '"updated_at":"2026-01-01T09:30:00Z"}\n\n'
    'id: 42\nevent: updated\ndata: {"id":7,"user_id":"alice","title":"Buy milk",'
    '"description":null,"completed":true,"created_at":"2026-01-01T09:30:00Z",'
    '"updated_at":"2026-01-01T09:31:00Z"}\n\n'
    ": keep-alive\n\n"
    'id: 43\nevent: deleted\ndata: {"id":7}\n\n'
    'event: token-expired\ndata: {"detail":"Token has expired; reconnect with a fresh token"}\n\n'
)
_STREAM_DESCRIPTION = (
    "An endless `text/event-stream`. Each change: `id` (send it back as `Last-Event-ID` to "
    "resume), `event` (`created`, `updated` or `deleted`) and `data` (the task as GET returns "
    'it, or `{"id": <task id>}` for a delete). A `: keep-alive` comment every '
    "STREAM_HEARTBEAT_SECONDS. `event: resync` (events were missed: reload the list, then "
    "reconnect) and `event: token-expired` (reconnect with a fresh token) end the stream."
)


_STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"example": STREAM_EXAMPLE}}}
}


def _json_only(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    # Given a `model`, FastAPI documents it under the route's media type, the event stream;
    # errors are JSON, so their schema is named under application/json instead.
    for response in responses.values():
        response.pop("model", None)
        response["content"]["application/json"]["schema"] = _ERROR_SCHEMA
    return responses


_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


def _stream_of(request: Request, token: JWTPayload) -> TaskStream:
    """The caller's stream: their service, this worker's hub, and when their token expires."""
    return TaskStream(request.app.state.events, service_of(request, token), token.sub, token.exp)


OwnedStream = Annotated[TaskStream, Depends(OwnerBearer(_stream_of))]
LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        le=2**63 - 1,
        description="The `id` of the last event received: the stream first replays every "
        "later one. Unknown or expired ids get `event: resync`.",
    ),
]


class EventStream(StreamingResponse):
    """The open stream as a response; its subscription ends with the response, however.

    Not FastAPI's EventSourceResponse: that one runs the route inside the answer, so a refusal
    (429, 503) could no longer be an error response.
    """

    media_type = "text/event-stream"

    def __init__(self, stream: OpenStream) -> None:
        self._frames = stream.frames()
        self._stream = stream
        # no-cache and no proxy buffering: each message must reach the client as it is sent.
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(self._frames, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stream.close()
            await self._frames.aclose()


@router.get(
    "/events",
    response_class=EventStream,
    status_code=200,
    summary="Follow task changes live",
    response_description=_STREAM_DESCRIPTION,
    responses=_STREAM_RESPONSE
    | _json_only(
        error_responses(
            TokenRejectedError,
            NotOwnerError,
            TooManyStreamsError,
            DatabaseUnavailableError,
            SigningKeysUnavailableError,
        )
    ),
)
async def stream_task_events(stream: OwnedStream, last_event_id: LastEventId = None) -> EventStream:
    """The caller's task changes as Server-Sent Events, from any tab, worker or server.

    Send `Authorization` like every task call (use fetch and a stream reader: EventSource
    cannot send headers) and, after a disconnect, `Last-Event-ID` to resume without a gap.
    """
    return EventStream(await stream.open(last_event_id))
