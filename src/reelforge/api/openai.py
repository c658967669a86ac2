"""The OpenAI Videos surface: /v1/videos and /v1/models (wire formats: API-COMPAT.md §2)."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.convertors import StringConvertor, register_url_convertor

from ..accounts import Account
from ..errors import InsufficientCredits, InvalidRequest, JobNotFound, RateLimited, ReelforgeError
from ..jobs import Job, JobStatus
from ..service.edits import output_frames, output_seconds
from ..service.models import Installed
from ..service.specs import VideoRequest
from ..service.videos import Submitted, VideoService
from . import contract
from .content import artifact_response
from .auth import creator, reader
from .deps import service
from .adjustments import adjustments, created_headers
from .idempotency import idempotency
from .forms import WireModel, is_upload, parse_fields, read_body
from .openai_schemas import (CreateVideoBody, CreateVideoForm, ErrorEnvelope, ModelList, ModelObject, Video, VideoDeleted,
                             VideoList)

router = APIRouter(prefix="/v1", tags=["openai"])
SURFACE = "openai"
ID_PREFIX = "video_"


def poll_after_ms(job: Job, now: float | None = None) -> str:
    """The ``openai-poll-after-ms`` hint. The SDK's poll loop reads it once, from its first poll,
    and keeps that pace to the end; a fixed second made a one-second clip take two. Before an ETA
    is known (queued, or the first steps): half a second. With one: a quarter of the time left,
    between 0.2 s and 2 s, so a short job is seen finishing soon after it does and a long one is
    not polled more often than it needs."""
    remaining = (job.eta_at - (time.time() if now is None else now)) if job.eta_at else None
    if remaining is None:
        return "500"
    return str(int(min(2000, max(200, remaining * 1000 / 4))))


class _VideoId(StringConvertor):
    """A video id in /v1/videos/{video_id}: any segment but the SDK's other routes there, so that
    /v1/videos/edits matches only its own route (a GET on it is a 405 that lists POST, not a 404
    for a video named "edits")."""

    regex = r"(?!(?:edits|extensions|characters)$)[^/]+"


register_url_convertor("openai_video_id", _VideoId())


# --- wire -> service -------------------------------------------------------------------------


class RemixBody(WireModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    return parse_fields(model, data, missing="Missing required parameter: '{param}'.",
                        missing_code="missing_required_parameter", invalid="Invalid value {value} for '{param}': {msg}.")


def _reference(ref: Any, svc: VideoService, param: str) -> bytes | None:
    """input_reference: an uploaded file, {"image_url": URL or data URL}, or (leniently) the URL string itself.
    Blocking (it may fetch a URL)."""
    if ref is None or ref == "":
        return None
    if is_upload(ref):
        return ref.file.read()  # read_body's cap bounds the whole form, this file included
    if isinstance(ref, str):
        ref = {"image_url": ref}
    if not isinstance(ref, dict):
        raise InvalidRequest(f"Invalid {param}: expected a file upload or an object with 'image_url'.", param=param)
    if ref.get("file_id"):
        raise InvalidRequest(
            f"{param}.file_id is not supported by this server (it has no Files API); "
            f"upload the image or pass {param}.image_url.",
            param=f"{param}.file_id",
        )
    url = ref.get("image_url")
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{param} needs exactly one of 'image_url' or a file.", param=param)
    return svc.fetch_image(url, param=f"{param}.image_url", base64_ok=False)


def _to_request(body: CreateVideoBody, svc: VideoService) -> VideoRequest:
    fields = body.model_dump(exclude={"input_reference", "last_frame", "prompts", "loras"})
    return VideoRequest(
        image=_reference(body.input_reference, svc, "input_reference"), image_param="input_reference",
        last_image=_reference(body.last_frame, svc, "last_frame"), last_image_param="last_frame",
        segments=[(p.prompt, p.frames) for p in body.prompts] if body.prompts else None,
        loras=[(lora.name, lora.strength) for lora in body.loras] if body.loras else None,
        params={"segments": "prompts"}, **fields,
    )


def job_id(video_id: str) -> str:
    if not video_id.startswith(ID_PREFIX):
        raise JobNotFound(video_id)
    return video_id[len(ID_PREFIX):]


# --- service -> wire -------------------------------------------------------------------------


def render_video(job: Job, expires_after: int = 0) -> dict[str, Any]:
    spec = job.spec
    status = job.status
    error = None
    if job.error is not None:
        error = _error(job.error.code, job.error.message)
    if status is JobStatus.CANCELLED:
        # The SDK's poll loop only knows four statuses; a cancelled job reads as failed/cancelled.
        status = JobStatus.FAILED
        error = error or _error("cancelled", "Cancelled by request.")
    completed_at = int(job.completed_at) if job.completed_at else None
    return {
        "id": ID_PREFIX + job.id,
        "object": "video",
        "model": spec.model,
        "status": status.value,
        "progress": job.progress,
        # Extension: seconds until the running attempt should finish, from its measured step times.
        "eta_seconds": max(0, round(job.eta_at - time.time())) if job.eta_at and status is JobStatus.IN_PROGRESS else None,
        "created_at": int(job.created_at),
        "completed_at": completed_at,
        "expires_at": completed_at + expires_after if completed_at and expires_after else None,
        "prompt": spec.prompt,
        "size": spec.size,
        # An extension's are the stitched whole's, as the SDK documents (source_frames: the source's part).
        "seconds": str(output_seconds(spec)),
        "remixed_from_video_id": ID_PREFIX + job.remixed_from if job.remixed_from else None,
        "error": error,
        "negative_prompt": spec.negative_prompt,
        "seed": spec.seed,
        "num_inference_steps": spec.num_inference_steps,
        "guidance_scale": spec.guidance_scale,
        "fps": spec.fps,
        "num_frames": output_frames(spec),
        "style": spec.style,
        "prompts": [{"prompt": p, "frames": n} for p, n in spec.segments] or None,
        "loras": [{"name": n, "strength": w} for n, w in spec.loras] or None,
        "options": spec.options or None,
        "speed": spec.speed,
        "resize_method": spec.resize_method if spec.input_image else None,
        "strength": spec.strength,
        "source_frames": spec.source_frames or None,
        "character_id": spec.extras.get("character_id"),
        # What fitting changed, the stand-in model first (also in the Reelforge-Adjustments header).
        "adjustments": adjustments(job),
    }


# Failure codes that are the server's doing; "cancelled" is the caller's; every other code a job can
# fail with comes from a request the worker found it could not run.
_SERVER_FAILURES = frozenset({"generation_failed", "lease_expired", "model_unavailable", "internal_error",
                              "server_error", "unavailable"})


def _error(code: str, message: str) -> dict[str, Any]:
    kind = "server_error" if code in _SERVER_FAILURES else "cancelled" if code == "cancelled" else "invalid_request_error"
    # A job's error names no single request field: the request was validated before it was queued.
    return {"code": code, "message": message, "type": kind, "param": None}


def _video_response(request: Request, job: Job, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if not job.finished:
        headers["openai-poll-after-ms"] = poll_after_ms(job)
    return JSONResponse(render_video(job, request.app.state.settings.artifact_ttl), headers=headers)


# --- routes ----------------------------------------------------------------------------------

# 402 does not appear: an exhausted balance is OpenAI's 429 insufficient_quota (render_error).
_READ_ERRORS = contract.errors(ErrorEnvelope, (400, 401, 404, 409, 422, 500))
_CREATE_ERRORS = contract.errors(ErrorEnvelope, (400, 401, 404, 409, 413, 415, 422, 429, 500))
_VIDEO = {200: contract.ok(Video, "The Video object", links=contract.links(
    "/id", "video_id", "retrieve_video_v1_videos__video_id__get", "delete_video_v1_videos__video_id__delete",
    "cancel_video_v1_videos__video_id__cancel_post", "remix_video_v1_videos__video_id__remix_post",
    "video_content_v1_videos__video_id__content_get"))}
_AUTH = contract.security()
_CREATE_BODY = contract.extra(contract.body(CreateVideoBody, multipart=CreateVideoForm, example={
    "prompt": "a red ball rolls across a green field", "model": "reelforge-tiny"}), _AUTH)


@router.post("/videos", summary="Create a video", responses={**_VIDEO, **_CREATE_ERRORS}, openapi_extra=_CREATE_BODY)
async def create_video(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    data = await read_body(request)
    body = _parse(CreateVideoBody, data)
    idem = idempotency(request, "openai:create", data)

    if body.input_reference is None and body.last_frame is None:
        # Nothing to fetch: the request is built here, and a plain create never leaves the loop.
        done = await svc.asubmit(_to_request(body, svc), account=acct, surface=SURFACE, idempotency=idem)
    else:
        def submit() -> Submitted:
            return svc.submit(_to_request(body, svc), account=acct, surface=SURFACE, idempotency=idem)

        done = await run_in_threadpool(submit)
    return _video_response(request, done.job, created_headers(done))


@router.get("/videos", summary="List videos", responses={200: contract.ok(VideoList), **_READ_ERRORS},
            openapi_extra=_AUTH)
def list_videos(
    request: Request,
    after: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    svc: VideoService = Depends(service),
    acct: Account = Depends(reader()),
):
    page = svc.list(account=acct.id, after=job_id(after) if after else None, limit=limit, order=order)
    ttl = request.app.state.settings.artifact_ttl
    return contract.list_page([render_video(j, ttl) for j in page.jobs], page.has_more)


@router.get("/videos/{video_id:openai_video_id}", summary="Retrieve a video", responses={**_VIDEO, **_READ_ERRORS}, openapi_extra=_AUTH)
async def retrieve_video(request: Request, video_id: str, svc: VideoService = Depends(service),
                         acct: Account = Depends(reader())):
    # async, with the read on the loop: a poll is most of the traffic, and a thread-pool hop cost more than it
    return _video_response(request, await svc.aget(job_id(video_id), account=acct.id))


@router.delete("/videos/{video_id:openai_video_id}", summary="Delete a video (cancels it first if it has not finished)",
               responses={200: contract.ok(VideoDeleted), **_READ_ERRORS}, openapi_extra=_AUTH)
def delete_video(video_id: str, svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    job = svc.delete(job_id(video_id), account=acct.id)
    return {"id": ID_PREFIX + job.id, "object": "video.deleted", "deleted": True}


@router.post("/videos/{video_id}/cancel", summary="Cancel a queued or running video (extension)",
             responses={**_VIDEO, **_READ_ERRORS}, openapi_extra=_AUTH)
def cancel_video(request: Request, video_id: str, svc: VideoService = Depends(service),
                 acct: Account = Depends(reader())):
    return _video_response(request, svc.cancel(job_id(video_id), account=acct.id))


@router.post("/videos/{video_id}/remix", summary="Remix a video with a new prompt", responses={**_VIDEO, **_CREATE_ERRORS},
             openapi_extra=contract.extra(contract.body(RemixBody, example={"prompt": "the same ball, but blue"}), _AUTH))
async def remix_video(
    request: Request, video_id: str, svc: VideoService = Depends(service), acct: Account = Depends(creator())
):
    data = await read_body(request)
    body = _parse(RemixBody, data)
    idem = idempotency(request, f"openai:remix:{video_id}", data)
    done = await run_in_threadpool(svc.remix, job_id(video_id), body.prompt, account=acct, surface=SURFACE,
                                   idempotency=idem)
    return _video_response(request, done.job, created_headers(done))


@router.get("/videos/{video_id}/content", summary="Download the video, its thumbnail or its spritesheet",
            response_class=Response, openapi_extra=_AUTH, responses={
                200: contract.binary(("video/mp4", "image/webp", "image/jpeg", "image/gif"),
                                     "The artifact: video (mp4), thumbnail (webp), spritesheet (jpeg) or gif"),
                **_READ_ERRORS})
def video_content(
    request: Request,
    video_id: str,
    variant: Literal["video", "thumbnail", "spritesheet", "gif"] = "video",
    svc: VideoService = Depends(service),
    acct: Account = Depends(reader()),
) -> Response:
    content = svc.content(job_id(video_id), variant, account=acct.id)
    return artifact_response(request, svc, content)


def _model_object(model: Installed) -> dict[str, Any]:
    entry, weights = model.entry, model.weights
    return {
        "id": entry.id,
        "object": "model",
        "created": 0,
        "owned_by": entry.owned_by,
        "family": entry.family,
        "description": entry.description,
        "tasks": sorted(t.value for t in entry.tasks),
        "sizes": list(entry.sizes),
        "seconds": [str(d) for d in entry.durations],
        "aliases": list(entry.aliases),
        "random_weights": entry.random_weights,
        "fps": entry.fps,
        "frame_rule": str(entry.frame_rule),
        "max_frames": entry.max_frames,
        "default_steps": entry.default_steps,
        "default_guidance": entry.default_guidance,
        "keyframes": entry.keyframes,
        "last_frame_required": entry.last_frame_required,
        "loras": entry.loras,
        "prompt_travel": entry.prompt_travel,
        "speeds": list(entry.speeds),
        "default_speed": entry.default_speed,
        "options": [{"name": o.name, "type": o.kind.__name__, "min": o.lo, "max": o.hi, "default": o.default,
                     "help": o.help} for o in entry.options],
        "installed": weights.installed,
        "weights": {"kind": weights.kind, "source": weights.source,
                    "path": str(weights.path) if weights.path is not None else None},
        "pricing": [{"size": size, "resolution": entry.resolution_of(size), "credits_per_second": rate}
                    for size, rate in model.credits_per_second.items()],
        "menus": {
            "resolution": {label: dict(by_aspect) for label, by_aspect in entry.resolutions.items()},
            "duration": {label: list(entry.durations_by_resolution.get(label, entry.durations))
                         for label in entry.resolutions} or {"*": list(entry.durations)},
            # No family here makes sound; the toggle exists so vendor surfaces can show it, off.
            "audio": {"supported": False, "default": False},
        },
    }


@router.get("/models", summary="List models", responses={200: contract.ok(ModelList), **_READ_ERRORS},
            openapi_extra=_AUTH)
def list_models(svc: VideoService = Depends(service), _: Account = Depends(reader())):
    return {"object": "list", "data": [_model_object(m) for m in svc.models()]}


@router.get("/models/{model_id}", summary="Retrieve a model", responses={200: contract.ok(ModelObject), **_READ_ERRORS},
            openapi_extra=_AUTH)
def retrieve_model(model_id: str, svc: VideoService = Depends(service), _: Account = Depends(reader())):
    return _model_object(svc.model(model_id, param="model_id"))


# --- the OpenAI error envelope -----------------------------------------------------------------

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "invalid_request_error",
          405: "invalid_request_error", 409: "invalid_request_error", 421: "invalid_request_error", 422: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
          429: "rate_limit_exceeded", 503: "server_error", 500: "server_error"}


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    kind, code = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error"), exc.code
    headers = {}
    if isinstance(exc, InsufficientCredits):
        # OpenAI reports an exhausted balance as 429 insufficient_quota; waiting will not refill it.
        status, kind, code = 429, "insufficient_quota", "insufficient_quota"
        headers["x-should-retry"] = "false"
    elif isinstance(exc, RateLimited):
        headers["retry-after-ms"] = str(exc.retry_after * 1000)  # the SDK prefers it to Retry-After
    elif status == 409 and exc.code != "idempotency_key_in_use":
        # The SDK retries 409 by default; a wrong job state will not fix itself within a retry
        # (an Idempotency-Key still in flight will, so that one is retried).
        headers["x-should-retry"] = "false"
    message = exc.message
    if isinstance(exc, JobNotFound) and "video_id" in request.path_params:
        # The store names the bare id it looked up; the caller sent the prefixed one.
        message = JobNotFound(request.path_params["video_id"]).message
    body = {"error": {"message": message, "type": kind, "param": exc.param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# Edits, extensions and characters live in their own module; its routes hang off this router.
from .openai_edits import router as _edits  # noqa: E402  (it imports this module's helpers)

router.include_router(_edits)
