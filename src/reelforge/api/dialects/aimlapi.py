"""The AI/ML API dialect: PixVerse v5 video generation (API-COMPAT.md §7).

Two URLs do the same thing: the universal ``/v2/video/generations`` and the legacy vendor URL
``/v2/generate/video/pixverse/generation`` (the docs' full example uses it). POST creates, GET with
``?generation_id=`` polls. Generation ids are ``<uuid>:<model>``, the form the docs show.

PixVerse's menu (aspect ratio x resolution x 5 or 8 seconds) is fitted by the service to the model
that really runs (a stand-in while the mapped model's weights are absent): the nearest size and
duration it offers. Every change is in the generation's ``adjustments`` and the create response's
``Reelforge-Adjustments`` header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ...accounts import Account
from ...errors import Forbidden, InsufficientCredits, InvalidRequest, JobNotFound, ReelforgeError
from ...jobs import Job, JobStatus
from ...service.specs import VideoRequest
from ...service.videos import Submitted, VideoService
from ..auth import creator, reader
from ..deps import service
from ..ids import job_id_from_uuid, public_uuid
from ..forms import read_body
from ..adjustments import adjustments, created_headers
from ..idempotency import idempotency
from .. import contract
from ..signed import signed_url
from . import aimlapi_schemas as wire
from .aimlapi_schemas import RESOLUTIONS, GenerationBody, enum_error, parse_generation

router = APIRouter(tags=["aimlapi"])
UNIVERSAL = "/v2/video/generations"
LEGACY = "/v2/generate/video/pixverse/generation"
PREFIXES: tuple[str, ...] = (UNIVERSAL, LEGACY)
SURFACE = "aimlapi"
__all__ = ["PREFIXES", "render_error", "router"]


@dataclass(frozen=True)
class Variant:
    model: str  # the catalog model that serves it once its weights are installed
    images: int  # input images: 0 text-to-video, 1 image_url, 2 image_url + tail_image_url


# Wan 2.2 TI2V-5B makes 5 s of 720p from text or an image, PixVerse v5's core offer; transitions
# need a first and a last frame, which Wan 2.1 FLF2V is made for.
MODELS: dict[str, Variant] = {
    "pixverse/v5/text-to-video": Variant("wan2.2-ti2v-5b", 0),
    "pixverse/v5/image-to-video": Variant("wan2.2-ti2v-5b", 1),
    "pixverse/v5/transition": Variant("wan2.1-flf2v-14b-720p", 2),
}

STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.IN_PROGRESS: "generating",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "error",
    JobStatus.CANCELLED: "error",  # the documented enum has no cancelled status (API-COMPAT §1)
}
def public_id(job: Job, model: str) -> str:
    return f"{public_uuid(job.id)}:{model}"


def parse_generation_id(value: str) -> tuple[str, str]:
    """(job id, vendor model) from exactly the form we hand out; anything else names no generation."""
    head, _, model = value.partition(":")
    if model not in MODELS:
        raise JobNotFound(value)
    return job_id_from_uuid(head), model


# --- wire -> service ---------------------------------------------------------------------------


# PixVerse field -> the service field it becomes: adjustments and errors name the PixVerse one.
PARAMS = {"seconds": "duration", "size": "resolution", "num_frames": "duration"}
NO_SOUND = "no model here generates sound, so lip sync is not applied"


def to_request(body: GenerationBody, svc: VideoService) -> VideoRequest:
    """Blocking (fetches image URLs): run it in a worker thread. PixVerse's menu (aspect ratio,
    resolution, 5 or 8 seconds) is the service's to fit to the model that runs, and to report."""
    variant = MODELS.get(body.model)
    if variant is None:
        raise enum_error("model", body.model, tuple(MODELS))
    for param, needed in (("image_url", variant.images >= 1), ("tail_image_url", variant.images == 2)):
        if needed and not getattr(body, param):
            raise InvalidRequest(f"'{param}' is required for model '{body.model}'.", param=param)
    first = svc.fetch_image(body.image_url, param="image_url") if variant.images else None
    last = svc.fetch_image(body.tail_image_url, param="tail_image_url") if variant.images == 2 else None
    sent = body.model_fields_set
    return VideoRequest(
        prompt=body.prompt, model=variant.model, model_asked=body.model, fit=True,
        # Image-to-video has no aspect_ratio: the video takes the image's shape at the resolution.
        aspect_ratio=None if variant.images == 1 else body.aspect_ratio, short_side=RESOLUTIONS[body.resolution],
        seconds=body.duration, negative_prompt=body.negative_prompt or None, seed=body.seed,
        image=first, image_param="image_url", last_image=last, last_image_param="tail_image_url",
        style=body.style, params=PARAMS,
        unsupported={name: (getattr(body, name), NO_SOUND) for name in sorted(sent)
                     if name.startswith("lip_sync") and getattr(body, name) not in (None, False, "")},
    )


def _submit(svc: VideoService, body: GenerationBody, acct: Account, idem) -> Submitted:
    return svc.submit(to_request(body, svc), account=acct, surface=SURFACE, idempotency=idem)


# --- service -> wire ---------------------------------------------------------------------------


def render_generation(request: Request, svc: VideoService, job: Job, model: str) -> dict[str, Any]:
    video = error = None
    if job.status is JobStatus.COMPLETED:
        content = svc.content(job.id, "video", account=job.account)
        video = {"url": signed_url(request, job.id, "video"), "content_type": content.media_type,
                 "file_name": content.filename, "file_size": content.size}
    elif job.status is JobStatus.CANCELLED:
        error = {"name": "cancelled", "message": "The generation was cancelled."}
    elif job.error is not None:
        error = {"name": job.error.code, "message": job.error.message}
    return {"id": public_id(job, model), "status": STATUS[job.status], "video": video, "error": error,
            "meta": {"usage": {"credits_used": job.charge}}, "adjustments": adjustments(job)}


# --- routes ------------------------------------------------------------------------------------


async def _create(request: Request, svc: VideoService, acct: Account, route: str) -> JSONResponse:
    data = await read_body(request)
    body = parse_generation(data)
    done = await run_in_threadpool(_submit, svc, body, acct, idempotency(request, route, data))
    # 201, as the gateway (NestJS) answers a POST; the docs' clients only check for >= 400.
    return JSONResponse(render_generation(request, svc, done.job, body.model), status_code=201,
                        headers=created_headers(done))


def _fetch(request: Request, svc: VideoService, acct: Account, value: str) -> dict[str, Any]:
    job, model = parse_generation_id(value)
    return render_generation(request, svc, svc.get(job, account=acct.id), model)


# An exhausted balance is AI/ML API's 403.
_CREATE = {"openapi_extra": contract.extra(contract.body(GenerationBody, example={
               "model": "pixverse/v5/text-to-video", "prompt": "a red ball rolls across a green field"}),
               contract.security()),
           "responses": {201: contract.ok(wire.Generation, "The generation, queued", links=contract.links(
               "/id", "generation_id", "get_generation_v2_video_generations_get",
               "get_pixverse_generation_v2_generate_video_pixverse_generation_get")),
                         **contract.errors(wire.Error, (400, 401, 403, 409, 413, 415, 422, 429, 500))}}
_READ = {"openapi_extra": contract.security(),
         "responses": {200: contract.ok(wire.Generation), **contract.errors(wire.Error, (400, 401, 404, 422, 500))}}


@router.post(UNIVERSAL, status_code=201, summary="AI/ML API: create a video generation", **_CREATE)
async def create_generation(request: Request, svc: VideoService = Depends(service),
                            acct: Account = Depends(creator())):
    return await _create(request, svc, acct, "aimlapi:generations")


@router.get(UNIVERSAL, summary="AI/ML API: a generation's status and, once completed, its video", **_READ)
def get_generation(request: Request, generation_id: str, svc: VideoService = Depends(service),
                   acct: Account = Depends(reader())):
    return _fetch(request, svc, acct, generation_id)


@router.post(LEGACY, status_code=201, summary="AI/ML API (legacy PixVerse URL): create a video generation", **_CREATE)
async def create_pixverse_generation(request: Request, svc: VideoService = Depends(service),
                                     acct: Account = Depends(creator())):
    return await _create(request, svc, acct, "aimlapi:pixverse-generation")


@router.get(LEGACY, summary="AI/ML API (legacy PixVerse URL): a generation's status and video", **_READ)
def get_pixverse_generation(request: Request, generation_id: str, svc: VideoService = Depends(service),
                            acct: Account = Depends(reader())):
    return _fetch(request, svc, acct, generation_id)


# --- AI/ML API's error envelope (docs: errors-and-messages) ------------------------------------

_LEADS = {
    401: "This request requires a valid API key.",
    403: "You've run out of credits.",
    429: "Too Many Requests.",
}


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    message = exc.message
    if isinstance(exc, InsufficientCredits):
        status = 403  # AI/ML API reports an exhausted balance as 403, not 402
    if isinstance(exc, JobNotFound):
        message = f"No generation with id '{request.query_params.get('generation_id')}'."
    elif status == 400:
        # The gateway's validation message, then the detail naming the field.
        message = f"{'Body' if request.method == 'POST' else 'Query'} validation error!\n{message}"
    elif status in _LEADS and not isinstance(exc, Forbidden):  # their 403 lead is about credits
        message = f"{_LEADS[status]} {message}"
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # statusCode is a number, as NestJS sends it (the docs' one example prints it as a string).
    body = {"message": message, "path": request.url.path, "requestId": str(uuid.uuid4()), "statusCode": status,
            "timestamp": now}
    return JSONResponse(body, status_code=status)
