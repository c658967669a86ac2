"""Server-sent event streams of jobs: GET /v1/videos/{video_id}/events and the account-wide GET /v1/events.

Both read the store's durable event record through ``service.events.EventStreams``. An event's
``data`` is a ``video.event`` object; a terminal one carries the Video as GET /v1/videos/{id} renders
it. Statuses and errors read as polls show them: a cancelled job is ``video.failed`` with error code
``cancelled``. The SSE ``id`` is the cursor a reconnect sends back as ``Last-Event-ID``: the job's
event number on a job's stream, the account's event id on the account's stream.

Keep-alive comments go out every ``sse_keepalive`` seconds. On server shutdown sse-starlette sees
uvicorn's exit signal and ends each open stream with a clean end of body, so the server does not
wait on its clients; ``EventStreams.stop`` does the same for any other host of the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, JSONServerSentEvent

from ..accounts import Account
from ..service.events import EventStreams, StreamItem
from . import contract
from .auth import reader
from .openai import ID_PREFIX, job_id, render_video
from .openai_schemas import ErrorEnvelope, Video, VideoError

router = APIRouter(prefix="/v1", tags=["openai"])

# The store's event types as the stream names them; progress is "in progress" with a new number.
EVENT_TYPES = {"queued": "video.queued", "in_progress": "video.in_progress", "progress": "video.in_progress",
               "completed": "video.completed", "failed": "video.failed", "cancelled": "video.failed"}
# Cursors are stored as 64-bit integers; a larger one could only fail in the database.
MAX_CURSOR = 2**63 - 1


class VideoEvent(BaseModel):
    """The ``data`` of one event."""

    id: str = Field(pattern=r"^video_", description="The video's id.")
    object: Literal["video.event"]
    type: Literal["video.queued", "video.in_progress", "video.completed", "video.failed"]
    sequence_number: int = Field(ge=0, description="The event's number within its video: 1, 2, 3 ... "
                                 "(0: a snapshot of a video whose events are no longer kept).")
    created_at: int
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    eta_seconds: int | None = Field(description="Seconds the running attempt expected still to take, when this "
                                    "event happened.")
    error: VideoError | None
    video: Video | None = Field(None, description="On video.completed and video.failed: the Video as "
                                "GET /v1/videos/{video_id} shows it (null if it was deleted since).")


def _stream_response(description: str) -> dict[str, Any]:
    event = {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"type": "string", "enum": sorted(set(EVENT_TYPES.values()))},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": contract.schema(VideoEvent)}}}
    # itemSchema (OpenAPI 3.2, as FastAPI writes it) describes one event, schema the whole stream.
    return {"description": description,
            "content": {"text/event-stream": {"schema": {"type": "array", "items": event}, "itemSchema": event}}}


_ERRORS = contract.errors(ErrorEnvelope, (400, 401, 404, 500))
_AUTH = contract.security()
_LAST_EVENT_ID = Header(None, alias="Last-Event-ID", ge=0, le=MAX_CURSOR,
                        description="Resume after this event: the id of the last event received.")


def _streams(request: Request) -> EventStreams:
    return request.app.state.event_streams


@router.get("/videos/{video_id}/events", summary="Stream a video's events (server-sent events; extension)",
            response_class=EventSourceResponse, openapi_extra=_AUTH, responses={
                200: _stream_response("The video's events from the first (or after Last-Event-ID), ending after "
                                      "video.completed or video.failed"),
                204: {"description": "Last-Event-ID was the video's last event: nothing more will come",
                      "content": {}},
                **_ERRORS})
async def video_events(
    request: Request,
    video_id: str,
    last_event_id: int | None = _LAST_EVENT_ID,
    acct: Account = Depends(reader()),
) -> Response:
    items = await _streams(request).job(job_id(video_id), account=acct.id, after=last_event_id)
    if items is None:
        return Response(status_code=204)  # EventSource stops reconnecting on a 204
    return _respond(request, items, lambda item: item.event.seq)


@router.get("/events", summary="Stream the events of all your videos (server-sent events; extension)",
            response_class=EventSourceResponse, openapi_extra=_AUTH, responses={
                200: _stream_response("Every event of the account's videos from now on (or after Last-Event-ID or "
                                      "`after`); it does not end by itself"),
                **_ERRORS})
async def account_events(
    request: Request,
    after: int | None = Query(None, ge=0, le=MAX_CURSOR, description="Start after this event id (default: now)."),
    last_event_id: int | None = _LAST_EVENT_ID,
    acct: Account = Depends(reader()),
) -> Response:
    # A reconnecting EventSource sends Last-Event-ID to the URL it first opened, `after` and all: the header is newer.
    items = await _streams(request).account(acct.id, after=last_event_id if last_event_id is not None else after)
    return _respond(request, items, lambda item: item.event.id)


def _respond(request: Request, items: AsyncIterator[StreamItem], cursor) -> EventSourceResponse:
    ttl = request.app.state.settings.artifact_ttl

    async def frames() -> AsyncIterator[JSONServerSentEvent]:
        async with contextlib.aclosing(items):  # type: ignore[type-var]
            async for item in items:
                data = render_event(item, ttl)
                yield JSONServerSentEvent(data, event=data["type"], id=str(cursor(item)))

    return EventSourceResponse(frames(), ping=request.app.state.settings.sse_keepalive)


def render_event(item: StreamItem, expires_after: int = 0) -> dict[str, Any]:
    event = item.event
    status = event.status
    error = {"code": event.error_code, "message": event.error_message or ""} if event.error_code else None
    if status == "cancelled":
        # As polls show it (openai.render_video): the SDK's poll loop only knows four statuses.
        status = "failed"
        error = error or {"code": "cancelled", "message": "Cancelled by request."}
    data: dict[str, Any] = {
        "id": ID_PREFIX + event.job_id,
        "object": "video.event",
        "type": EVENT_TYPES[event.type],
        "sequence_number": event.seq,
        "created_at": int(event.created_at),
        "status": status,
        "progress": event.progress,
        # As of the event, not of the reading: a replayed event says what it said then.
        "eta_seconds": max(0, round(event.eta_at - event.created_at)) if event.eta_at and status == "in_progress"
        else None,
        "error": error,
    }
    if event.terminal:
        data["video"] = render_video(item.job, expires_after) if item.job is not None else None
    return data
