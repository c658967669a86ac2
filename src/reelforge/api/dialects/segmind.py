"""The Segmind dialect: Stable Video Diffusion (API-COMPAT.md §4, seed 001).

Routes (key in the ``x-api-key`` header):
  POST /v1/svd                          synchronous: the answer is the mp4 itself (or {"image": base64}
                                        with base64=true), with an ``x-remaining-credits`` header
  POST /v2/svd                          asynchronous: {request_id, status, poll_url, status_url, response_url}
  GET  /v2/requests/{id}/status         {status, request_id, metrics}
  GET  /v2/requests/{id}                {request_id, status, output (signed video URL), metrics[, error]}
  GET  /v1/requests/{id}                the v1 poll URL v2 hands out, kept for old clients: same as above
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, field_validator

from ...accounts import Account
from ...errors import ReelforgeError
from ...jobs import Job, JobStatus
from ...service.specs import VideoRequest
from ...service.videos import Submitted, VideoService
from ..auth import X_API_KEY, creator, reader
from ..deps import service
from ..ids import job_id_from_uuid, public_uuid
from ..forms import parse_fields, read_body, WireModel
from ..adjustments import adjustments, created_headers
from ..idempotency import idempotency
from .. import contract
from ..signed import public_url, signed_url
from . import segmind_schemas as wire

router = APIRouter(tags=["segmind"])
PREFIXES: tuple[str, ...] = ("/v1/svd", "/v2/svd", "/v2/requests/", "/v1/requests/")
SURFACE = "segmind"

# Segmind `frames` -> catalog model: SVD img2vid makes 14 frames, img2vid-xt 25.
MODELS = {14: "svd", 25: "svd-xt"}
# SVD has no text encoder and ignores the prompt; the built-in fallback model needs one to run.
PROMPT = "the input image, animated"
# How long POST /v1/svd holds the request open before answering 504 (API-COMPAT §9.5 suggests <= 300 s).
SYNC_WAIT_SECONDS = 300.0

STATUS = {
    JobStatus.QUEUED: "QUEUED",
    JobStatus.IN_PROGRESS: "PROCESSING",
    JobStatus.COMPLETED: "COMPLETED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELLED: "FAILED",  # Segmind documents no cancelled state
}


# --- wire -> service -------------------------------------------------------------------------


class SVDBody(WireModel):
    """The seed's parameter table, with its ranges. Numbers may arrive as strings (the seed sends
    ``"frames": "14"``); pydantic's lax mode coerces those."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    image: str
    as_base64: bool = Field(False, alias="base64")
    cond_aug: float = Field(0.2, ge=0, le=1)
    fps: int = Field(7, ge=1, le=60)
    frames: int = 14
    motion: int = Field(127, ge=1, le=180)
    resize_method: Literal["maintain_aspect_ratio", "crop_to_16_9"] = "maintain_aspect_ratio"
    seed: int = Field(-1, ge=-1, le=999_999_999_999_999)

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: int) -> int:
        if v not in MODELS:
            raise ValueError(f"allowed values are {', '.join(map(str, MODELS))}")
        return v


def _parse(data: dict[str, Any]) -> SVDBody:
    return parse_fields(SVDBody, data)


# Segmind field -> the service field it becomes: adjustments and errors name the Segmind one.
PARAMS = {"num_frames": "frames", "options.motion_bucket_id": "motion", "options.noise_aug_strength": "cond_aug",
          "image": "image"}
OPTIONS = {"motion": "motion_bucket_id", "cond_aug": "noise_aug_strength"}


def _to_request(body: SVDBody, svc: VideoService) -> VideoRequest:
    """Blocking (fetches the image URL). The values were checked against Segmind's ranges above; the
    service fits them to the model that runs (SVD, or a stand-in without SVD's knobs) and reports it."""
    sent = body.model_fields_set
    return VideoRequest(
        prompt=PROMPT, model=MODELS[body.frames], model_param="frames", model_asked=body.frames, fit=True,
        image=svc.fetch_image(body.image, param="image"), image_param="image",
        fps=body.fps, num_frames=body.frames, seed=None if body.seed == -1 else body.seed,
        resize_method=body.resize_method, params=PARAMS,
        options={name: getattr(body, field) for field, name in OPTIONS.items() if field in sent},
    )


async def _submit(request: Request, svc: VideoService, acct: Account, route: str) -> tuple[SVDBody, Submitted]:
    data = await read_body(request)
    body = _parse(data)
    idem = idempotency(request, route, data)

    def submit() -> Submitted:
        return svc.submit(_to_request(body, svc), account=acct, surface=SURFACE, idempotency=idem)

    return body, await run_in_threadpool(submit)


def _job_id(public: str) -> str:
    """Our job id from a Segmind request_id (a UUID); anything else names no request."""
    return job_id_from_uuid(public)




# --- service -> wire -------------------------------------------------------------------------


def credit_headers(svc: VideoService, acct: Account, job: Job) -> dict[str, str]:
    """Segmind's balance headers. Unlimited accounts have no balance to report, so they get none."""
    if not acct.metered:
        return {}
    return {"x-remaining-credits": str(svc.balance(acct)), "x-credits-consumed": str(job.charge)}


def _metrics(job: Job) -> dict[str, Any]:
    if job.finished and job.started_at and job.completed_at:
        return {"inference_time": round(job.completed_at - job.started_at, 3)}
    return {}


def render_status(job: Job) -> dict[str, Any]:
    return {"status": STATUS[job.status], "request_id": public_uuid(job.id), "metrics": _metrics(job),
            "adjustments": adjustments(job)}


def render_result(request: Request, job: Job) -> dict[str, Any]:
    out = render_status(job)
    out["output"] = signed_url(request, job.id, "video") if job.status is JobStatus.COMPLETED else None
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        out["error"] = job.error.message if job.error else "The request failed."
    return out


# --- routes ----------------------------------------------------------------------------------

_AUTH = contract.security(contract.X_API_KEY)
_EXAMPLE_IMAGE = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC+aJAAAAUElEQVR42u3PQREAAAQAMKTRP4V"
                  "YUni42xospzs+q3hOQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA4N4CCH8BmEZ1WSwAAAAASUVORK5CYII=")
_CREATE = contract.extra(contract.body(SVDBody, multipart=SVDBody), _AUTH)
# An exhausted balance is Segmind's 406; a failed job on the synchronous route is a 500, a wait past
# SYNC_WAIT_SECONDS a 504.
_CREATE_ERRORS = (400, 401, 406, 409, 413, 415, 422, 429, 500)
_READ = {**contract.errors(wire.Error, (400, 401, 404, 409, 422, 500))}


@router.post("/v1/svd", summary="Segmind: image to video, synchronously (the response is the video)",
             openapi_extra=_CREATE, responses={
                 200: {"description": "The video (mp4), or with base64=true the mp4 base64-encoded",
                       "content": {"video/mp4": {"schema": contract.BINARY},
                                   "application/json": {"schema": contract.schema(wire.Base64Video)}}},
                 **contract.errors(wire.Error, _CREATE_ERRORS + (504,))})
async def svd_sync(request: Request, svc: VideoService = Depends(service),
                   acct: Account = Depends(creator(X_API_KEY))):
    body, done = await _submit(request, svc, acct, "segmind:v1")
    job = await svc.wait(done.job.id, account=acct.id, timeout=SYNC_WAIT_SECONDS)
    content = await run_in_threadpool(svc.content, job.id, "video", account=acct.id)
    data = await run_in_threadpool(svc.content_bytes, content)
    headers = {**created_headers(done), **await run_in_threadpool(credit_headers, svc, acct, job)}
    if body.as_base64:
        # Segmind's image models answer {"image": <base64>}; the video key is undocumented, so the same one.
        return JSONResponse({"image": base64.b64encode(data).decode()}, headers=headers)
    return Response(data, media_type=content.media_type, headers=headers)


# The example image is a 64x64 PNG; /v1/svd gets no example, as it would hold the request open until
# the video is made.
@router.post("/v2/svd", summary="Segmind: image to video, asynchronously", openapi_extra=contract.extra(
                 contract.body(SVDBody, multipart=SVDBody, example={"image": _EXAMPLE_IMAGE, "frames": 14}), _AUTH),
             responses={200: contract.ok(wire.Queued, links=contract.links(
                 "/request_id", "request_id", "segmind_status_v2_requests__request_id__status_get",
                 "segmind_result_v2_requests__request_id__get", "segmind_poll_v1_requests__request_id__get")),
                 **contract.errors(wire.Error, _CREATE_ERRORS)})
async def svd_async(request: Request, svc: VideoService = Depends(service),
                    acct: Account = Depends(creator(X_API_KEY))):
    _, done = await _submit(request, svc, acct, "segmind:v2")
    rid = public_uuid(done.job.id)
    headers = {**created_headers(done), **await run_in_threadpool(credit_headers, svc, acct, done.job)}
    return JSONResponse({
        "request_id": rid,
        "status": STATUS[done.job.status],
        "poll_url": public_url(request, request.app.url_path_for("segmind_poll", request_id=rid)),
        "status_url": public_url(request, request.app.url_path_for("segmind_status", request_id=rid)),
        "response_url": public_url(request, request.app.url_path_for("segmind_result", request_id=rid)),
        "adjustments": adjustments(done.job),
    }, headers=headers)


@router.get("/v2/requests/{request_id}/status", name="segmind_status", summary="Segmind: request status",
            responses={200: contract.ok(wire.RequestStatus), **_READ}, openapi_extra=_AUTH)
async def request_status(request_id: str, svc: VideoService = Depends(service),
                         acct: Account = Depends(reader(X_API_KEY))):
    return render_status(await svc.aget(_job_id(request_id), account=acct.id))


@router.get("/v2/requests/{request_id}", name="segmind_result", summary="Segmind: request result",
            responses={200: contract.ok(wire.RequestResult), **_READ}, openapi_extra=_AUTH)
async def result(request: Request, request_id: str, svc: VideoService = Depends(service),
                 acct: Account = Depends(reader(X_API_KEY))):
    return render_result(request, await svc.aget(_job_id(request_id), account=acct.id))


@router.get("/v1/requests/{request_id}", name="segmind_poll", summary="Segmind: request result (v1 poll URL)",
            responses={200: contract.ok(wire.RequestResult), **_READ}, openapi_extra=_AUTH)
async def poll(request: Request, request_id: str, svc: VideoService = Depends(service),
               acct: Account = Depends(reader(X_API_KEY))):
    return render_result(request, await svc.aget(_job_id(request_id), account=acct.id))


# --- the Segmind error envelope ----------------------------------------------------------------

# Segmind's documented statuses: 400, 401, 403, 404, 406 (credits), 429, 500, 502, 504. 409/413/422
# stay ours (Idempotency-Key conflicts, §8.1; oversized bodies).
_STATUS = {402: 406, 503: 502}


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    status = _STATUS.get(status, status)
    message = exc.message
    if status == 406:
        # Segmind's label first: clients look for "credits" in a 406 (API-COMPAT §4.4).
        message = f"Insufficient credits. {message}"
    return JSONResponse({"error": message}, status_code=status)


__all__ = ["PREFIXES", "render_error", "router"]
