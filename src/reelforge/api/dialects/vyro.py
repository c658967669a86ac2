"""The Vyro / Imagine dialect: "FastSVD Text to Video" (API-COMPAT.md §3, seed 000).

Routes (Bearer key):
  POST        /v2/video/text-to-video   multipart (or JSON): prompt, style, aspect_ratio -> {id, status}
  GET | POST  /v2/assets/{id}/status    the docs' heading says POST and their curl says GET: both work
  DELETE | POST /v2/video/delete/{id}   same inconsistency in the docs, same answer

Ids are UUIDs; timestamps are ISO-8601 with microseconds and ``Z``; a finished video carries
signed, expiring ``url.generation`` / ``url.thumbnail`` links that need no key.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, get_args

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field

from ...accounts import Account
from ...errors import InvalidRequest, ReelforgeError, Unauthenticated, shown
from ...jobs import Job, JobStatus
from ...service.specs import VideoRequest
from ...service.videos import Submitted, VideoService
from ..auth import BEARER, creator, reader
from ..deps import service
from ..ids import job_id_from_uuid, public_uuid
from ..forms import parse_fields, read_body, WireModel
from ..adjustments import adjustments, created_headers
from ..idempotency import idempotency
from .. import contract
from ..signed import signed_url
from . import vyro_schemas as wire

router = APIRouter(tags=["vyro"])
PREFIXES: tuple[str, ...] = ("/v2/video/text-to-video", "/v2/video/delete/", "/v2/assets/")
SURFACE = "vyro"

# Vyro `style` -> catalog model. `fast-svd` is the two-stage text -> image -> SVD-XT pipeline.
# `kling-1.0-pro` is documented on the same endpoint (Kling v1 Pro page); Kling is closed, so it runs
# on the closest open model in the catalog: Wan 2.1 14B text-to-video (720p, 5 s, like Kling 1.0 Pro).
STYLES: dict[str, str] = {
    "fast-svd": "fast-svd",
    "kling-1.0-pro": "wan2.1-t2v-14b",
}

AspectRatio = Literal["1:1", "16:9", "9:16"]
ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)

# Internal status -> Vyro `video.status`. Vyro shows no queued value, and documents no failure value;
# `failed` is API-COMPAT's recommendation, and a cancelled (deleted mid-run) video reads the same.
STATUS = {
    JobStatus.QUEUED: "processing",
    JobStatus.IN_PROGRESS: "processing",
    JobStatus.COMPLETED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}


# --- wire -> service -------------------------------------------------------------------------


class CreateBody(WireModel):
    """POST /v2/video/text-to-video (multipart/form-data in the docs)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str
    style: str = Field(json_schema_extra={"enum": list(STYLES)})  # checked in _to_request, with the list
    aspect_ratio: AspectRatio = "1:1"  # optional in the docs, default unstated


def _parse(data: dict[str, Any]) -> CreateBody:
    return parse_fields(CreateBody, data)


def _to_request(body: CreateBody) -> VideoRequest:
    if body.style not in STYLES:
        raise InvalidRequest(f"Invalid style {shown(body.style)}. Allowed: {', '.join(STYLES)}.", param="style")
    # Vyro sets no duration (the model's default: fast-svd makes 2 s at 7 fps) and no size, only a
    # shape, which the service fits to the model that runs.
    return VideoRequest(prompt=body.prompt, model=STYLES[body.style], model_param="style", model_asked=body.style, fit=True,
                        aspect_ratio=body.aspect_ratio, params={"size": "aspect_ratio"})


def job_id(public: str) -> str:
    """Our job id from a Vyro video UUID; anything that is not a canonical UUID names no video."""
    return job_id_from_uuid(public)




# --- service -> wire -------------------------------------------------------------------------


def public_id(job: Job) -> str:
    return public_uuid(job.id)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_video(request: Request, job: Job) -> dict[str, Any]:
    video: dict[str, Any] = {
        "uuid": public_id(job),
        "created_at": iso(job.created_at),
        "status": STATUS[job.status],
        "url": None,
        "adjustments": adjustments(job),  # extension: what was fitted to the model that runs
    }
    if job.status is JobStatus.COMPLETED:
        video["url"] = {"generation": signed_url(request, job.id, "video"),
                        "thumbnail": signed_url(request, job.id, "thumbnail")}
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        video["error"] = job.error.message if job.error else "The video failed."  # extension: why it failed
    return {"status": "success", "video": video}


# --- routes ----------------------------------------------------------------------------------

# A missing token is Vyro's 400 (code 1000), a wrong one 401 (1001).
_READ = {"responses": contract.errors(wire.Error, (400, 401, 404, 409, 422, 500)), "openapi_extra": contract.security()}
_CREATE_ERRORS = contract.errors(wire.Error, (400, 401, 402, 409, 413, 415, 422, 429, 500))
_STATUS = {200: contract.ok(wire.StatusResponse), **_READ["responses"]}
_DELETED = {200: contract.ok(wire.Deleted), **_READ["responses"]}


@router.post("/v2/video/text-to-video", summary="Vyro: create a text-to-video job",
             responses={200: contract.ok(wire.Created, links=contract.links(
                 "/id", "video_id", "vyro_status", "vyro_status_post", "vyro_delete", "vyro_delete_post")),
                 **_CREATE_ERRORS},
             openapi_extra=contract.extra(contract.body(CreateBody, multipart=CreateBody, example={
                 "prompt": "a red ball rolls across a green field", "style": "fast-svd", "aspect_ratio": "1:1"}),
                 contract.security()))
async def create(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator(BEARER))):
    data = await read_body(request)
    body = _parse(data)
    idem = idempotency(request, "vyro:t2v", data)

    def submit() -> Submitted:
        return svc.submit(_to_request(body), account=acct, surface=SURFACE, idempotency=idem)

    done = await run_in_threadpool(submit)
    return JSONResponse({"id": public_id(done.job), "status": STATUS[done.job.status],
                         "adjustments": adjustments(done.job)}, headers=created_headers(done))


@router.get("/v2/assets/{video_id}/status", summary="Vyro: video status", operation_id="vyro_status",
            responses=_STATUS, openapi_extra=_READ["openapi_extra"])
@router.post("/v2/assets/{video_id}/status", summary="Vyro: video status (POST, as the docs' heading says)",
             responses=_STATUS, openapi_extra=_READ["openapi_extra"],
             operation_id="vyro_status_post")
async def video_status(request: Request, video_id: str, svc: VideoService = Depends(service),
                       acct: Account = Depends(reader(BEARER))):
    return render_video(request, await svc.aget(job_id(video_id), account=acct.id))


@router.delete("/v2/video/delete/{video_id}", summary="Vyro: delete a video", operation_id="vyro_delete",
               responses=_DELETED, openapi_extra=_READ["openapi_extra"])
@router.post("/v2/video/delete/{video_id}", summary="Vyro: delete a video (POST, as the docs' heading says)",
             responses=_DELETED, openapi_extra=_READ["openapi_extra"],
             operation_id="vyro_delete_post")
def delete(video_id: str, svc: VideoService = Depends(service), acct: Account = Depends(reader(BEARER))):
    svc.delete(job_id(video_id), account=acct.id)
    return {"message": "video deleted", "status": "success"}


# --- the Vyro error envelope -------------------------------------------------------------------

# (code, error name) by HTTP status, from the seed's tables. Vyro documents no 404/409/413/422:
# those keep our status (a wrong or foreign id must read as "not found", §8.1 asks 409/422 for
# Idempotency-Key conflicts) and carry 1100, "the request is invalid".
_BY_STATUS = {
    400: ("1100", "BadRequest"),
    402: ("1101", "PaymentRequired"),
    403: ("1100", "Forbidden"),
    404: ("1100", "NotFound"),
    405: ("1100", "BadRequest"),
    409: ("1100", "Conflict"),
    413: ("1100", "BadRequest"),
    415: ("1100", "UnsupportedMediaType"),
    421: ("1100", "MisdirectedRequest"),
    422: ("1100", "BadRequest"),
    429: ("1202", "TooManyRequests"),
    503: ("1200", "ServiceUnavailable"),
}


def _has_bearer(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    if isinstance(exc, Unauthenticated):
        # Vyro tells a missing token (1000, 400) from a wrong one (1001, 401).
        status, code, name = (401, "1001", "Unauthorized") if _has_bearer(request) else (400, "1000", "BadRequest")
    elif status in _BY_STATUS:
        code, name = _BY_STATUS[status]
    else:
        status, code, name = 500, "1300", "InternalServerError"
    body = {"status": "error", "code": code, "error": name, "message": exc.message}
    return JSONResponse(body, status_code=status)


__all__ = ["PREFIXES", "render_error", "router"]
