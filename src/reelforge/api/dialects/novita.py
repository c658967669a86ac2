"""The Novita v3 dialect: POST /v3/async/txt2video and GET /v3/async/task-result (API-COMPAT.md §6).

Novita names an SD1.5 checkpoint (``model_name``) and gives free width/height and per-prompt frame
counts; our models offer menus. Vendor values are first checked against Novita's documented
ranges (``novita_schemas``), then fitted by the service to the model that really runs (a stand-in
while AnimateDiff's weights are absent). What ran is in task-result's ``extra.reelforge``, each
change in its ``adjustments`` (and the create response's), so nothing changes silently.

Task ids are our job ids as UUIDs. ``extra.response_video_type: "gif"`` hands out a signed link to the
job's GIF variant (made by the worker beside the mp4).

Webhooks: ``extra.webhook.url`` passes the webhook SSRF rules at submission (``webhook_allow_hosts``
names private receivers; anything else private or loopback is a 400 naming ``extra.webhook.url``).
When the task ends (succeeded, failed or cancelled) the outbox POSTs Novita's body to it,
``{"event_type": "ASYNC_TASK_RESULT", "payload": <what GET task-result answers then>}``, with Standard
Webhooks headers signed by the account's secret (``GET /v1/webhooks/default/secret``), retried on the
webhook_retry_schedule. ``extra.webhook.test_mode.enabled`` is Novita's way to "test your integration
without making actual API calls": the request is validated as a real one would be, but no job is
made or charged; the answer is a task_id, and the webhook gets one simulated result with the asked
``return_task_status`` (no videos; a reason saying it is a test for FAILED; ``extra.reelforge.test_mode``
true). That task_id names no task: task-result answers 404 for it, as nothing ran.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ...accounts import Account
from ...errors import Forbidden, InsufficientCredits, JobNotFound, ModelNotFound, RateLimited, ReelforgeError
from ...jobs import Job, JobStatus
from ...settings import Settings
from ...service.specs import VideoRequest
from ...service.videos import Submitted, VideoService
from ..auth import creator, reader
from ..deps import service
from ..ids import job_id_from_uuid, public_uuid
from ..forms import read_body
from ..adjustments import adjustments, created_headers
from ..idempotency import idempotency
from .. import contract
from ..signed import sign_url, url_key
from . import novita_schemas as wire
from .novita_schemas import Txt2VideoBody, parse_txt2video

router = APIRouter(tags=["novita"])
PREFIXES: tuple[str, ...] = ("/v3/async/",)
SURFACE = "novita"
ASYNC_TASK_RESULT = "ASYNC_TASK_RESULT"  # the one event Novita's webhooks carry
__all__ = ["PREFIXES", "render_error", "router"]

# model_name (Novita's sd_name of an SD1.x checkpoint) -> catalog model. They all run on AnimateDiff
# v1-5-2 with the catalog entry's own SD1.5 base: the entry has no `checkpoint` option (catalog options
# are numeric), so the named checkpoint cannot be swapped in per request. Any other checkpoint name
# works once the operator's catalog file gives it as an alias; catalog ids are accepted as they are.
CHECKPOINTS: dict[str, str] = {name: "animatediff-v1-5-2" for name in (
    "darkSushiMixMix_225D_64380.safetensors",  # the reference's example
    "dreamshaper_8_93211.safetensors",
    "epicrealism_naturalSin_121250.safetensors",
    "realisticVisionV51_v51VAE_94301.safetensors",
    "chilloutmix_NiPrunedFp32Fix.safetensors",
    "v1-5-pruned-emaonly.safetensors",
)}

STATUS = {
    JobStatus.QUEUED: "TASK_STATUS_QUEUED",
    JobStatus.IN_PROGRESS: "TASK_STATUS_PROCESSING",
    JobStatus.COMPLETED: "TASK_STATUS_SUCCEED",
    JobStatus.FAILED: "TASK_STATUS_FAILED",
    # Novita's documented enum has no cancelled status (API-COMPAT §1): failed, with the reason.
    JobStatus.CANCELLED: "TASK_STATUS_FAILED",
}


def public_id(job: Job) -> str:
    return public_uuid(job.id)


def job_id(task: str) -> str:
    """Only the canonical UUID form we hand out; anything else cannot name a task."""
    return job_id_from_uuid(task)


# --- wire -> service ---------------------------------------------------------------------------


# Novita field -> the service field it becomes: adjustments and errors name the Novita one.
PARAMS = {"model": "model_name", "size": "width/height", "num_inference_steps": "steps", "segments": "prompts",
          "num_frames": "prompts[0].frames", "options.clip_skip": "clip_skip"}


def to_request(body: Txt2VideoBody) -> VideoRequest:
    """Novita's free width/height, steps and per-prompt frames, as asked: the service fits them to
    the model that runs (AnimateDiff, or a stand-in while its weights are absent) and reports it."""
    segments = [(p.prompt, p.frames) for p in body.prompts]
    options: dict[str, Any] = {}
    if body.clip_skip is not None:
        options["clip_skip"] = body.clip_skip
    unsupported: dict[str, tuple[Any, str]] = {}
    if body.closed_loop:
        unsupported["closed_loop"] = (True, "diffusers' AnimateDiff has no closed-loop schedule")
    if body.embeddings:
        unsupported["embeddings"] = ([e.model_dump() for e in body.embeddings],
                                     "no adapter here loads textual inversion embeddings")
    return VideoRequest(
        prompt=body.prompts[0].prompt, model=CHECKPOINTS.get(body.model_name, body.model_name),
        model_param="model_name", model_asked=body.model_name, fit=True, size=f"{body.width}x{body.height}",
        negative_prompt=body.negative_prompt or None, seed=None if body.seed == -1 else body.seed,
        num_inference_steps=body.steps, guidance_scale=body.guidance_scale,
        num_frames=segments[0][1] if len(segments) == 1 else None,
        segments=segments if len(segments) > 1 else None,
        loras=[(lora.model_name, lora.strength) for lora in body.loras] or None,
        options=options, params=PARAMS, unsupported=unsupported,
        extras={"response_video_type": body.extra.response_video_type,
                "webhook": body.extra.webhook.model_dump() if body.extra.webhook else None},
    )


def _submit(svc: VideoService, body: Txt2VideoBody, acct: Account, idem, settings: Settings) -> Submitted:
    webhook = body.extra.webhook
    if webhook is not None and webhook.test_mode is not None and webhook.test_mode.enabled:
        return Submitted(_test_mode(svc, body, acct, settings))  # nothing is made, so nothing to replay
    if webhook is not None:
        svc.webhooks.check_url(webhook.url, "extra.webhook.url")
    return svc.submit(to_request(body), account=acct, surface=SURFACE, idempotency=idem)


def _test_mode(svc: VideoService, body: Txt2VideoBody, acct: Account, settings: Settings) -> Job:
    """test_mode: the request checked as a real create would be, nothing made or charged, and one
    simulated task-result for the webhook (see the module doc). Returns the simulated task."""
    webhook = body.extra.webhook
    url = svc.webhooks.check_url(webhook.url, "extra.webhook.url")
    plan = svc.plan(to_request(body))
    status = webhook.test_mode.return_task_status
    now = time.time()
    job = Job(id=uuid.uuid4().hex, account=acct.id, surface=SURFACE, spec=plan.spec, created_at=now, started_at=now,
              completed_at=now, updated_at=now, progress=100 if status == "TASK_STATUS_SUCCEED" else 0,
              status=JobStatus.COMPLETED if status == "TASK_STATUS_SUCCEED" else JobStatus.FAILED)
    payload = render_task(job, settings, None)
    if job.status is JobStatus.FAILED:
        payload["task"]["reason"] = "A test-mode event (extra.webhook.test_mode): no task ran."
    payload["extra"]["reelforge"]["test_mode"] = True
    svc.webhooks.send_simulated(acct.id, url, kind="novita", event_type=ASYNC_TASK_RESULT,
                                payload={"event_type": ASYNC_TASK_RESULT, "payload": payload})
    return job


# --- service -> wire ---------------------------------------------------------------------------


def _ms(t: float | None) -> str:
    return str(int(t * 1000)) if t else ""


def render_task(job: Job, settings: Settings, signing_key: bytes | None) -> dict[str, Any]:
    """GET task-result's body for ``job``; also the payload of its ASYNC_TASK_RESULT webhook
    (rendered outside any request, hence settings and the URL signing key rather than a Request).
    ``signing_key`` None: a simulated task (test_mode), which has no video to link to."""
    spec, status = job.spec, job.status
    reason = ""
    if status is JobStatus.CANCELLED:
        reason = "cancelled by request"
    elif job.error is not None:
        reason = job.error.message
    videos = []
    if status is JobStatus.COMPLETED and signing_key is not None:
        ttl = settings.signed_url_ttl
        kind = job.spec.extras.get("response_video_type", "mp4")
        url = sign_url(settings, signing_key, job.id, "gif" if kind == "gif" else "video", ttl)
        videos.append({"video_url": url, "video_url_ttl": str(ttl), "video_type": kind})
    eta = round(job.eta_at - time.time()) if job.eta_at and status is JobStatus.IN_PROGRESS else 0
    return {
        "extra": {
            "seed": str(spec.seed),
            "enable_nsfw_detection": False,
            "debug_info": {"request_info": "", "submit_time_ms": _ms(job.created_at),
                           "execute_time_ms": _ms(job.started_at), "complete_time_ms": _ms(job.completed_at)},
            # Not Novita's: what really ran, after fitting the request to the model (see module doc).
            "reelforge": {"model": spec.model, "width": spec.width, "height": spec.height,
                          "frames": [n for _, n in spec.segments] or [spec.num_frames], "fps": spec.fps,
                          "steps": spec.num_inference_steps, "guidance_scale": spec.guidance_scale,
                          "loras": [{"model_name": n, "strength": w} for n, w in spec.loras],
                          "adjustments": adjustments(job)},
        },
        "task": {
            "task_id": public_id(job),
            "task_type": "TXT_TO_VIDEO",
            "status": STATUS[status],
            "reason": reason,
            "eta": max(0, eta),
            "progress_percent": 100 if status is JobStatus.COMPLETED else job.progress,
        },
        "images": [],
        "videos": videos,
        "audios": [],
    }


# --- routes ------------------------------------------------------------------------------------


# An exhausted balance is Novita's 403 NOT_ENOUGH_BALANCE.
@router.post("/v3/async/txt2video", summary="Novita: create a text-to-video task",
             openapi_extra=contract.extra(contract.body(Txt2VideoBody, example={
                 "model_name": "dreamshaper_8_93211.safetensors", "width": 512, "height": 512, "steps": 20,
                 "prompts": [{"prompt": "a red ball rolls across a green field", "frames": 16}]}), contract.security()),
             responses={200: contract.ok(wire.Created, links=contract.links(
                 "/task_id", "task_id", "task_result_v3_async_task_result_get")),
                        **contract.errors(wire.Error, (400, 401, 403, 409, 413, 415, 422, 429, 500))})
async def txt2video(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    data = await read_body(request)
    body = parse_txt2video(data)
    idem = idempotency(request, "novita:txt2video", data)
    done = await run_in_threadpool(_submit, svc, body, acct, idem, request.app.state.settings)
    return JSONResponse({"task_id": public_id(done.job), "adjustments": adjustments(done.job)},
                        headers=created_headers(done))


@router.get("/v3/async/task-result", summary="Novita: a task's status and, once it succeeded, its video",
            openapi_extra=contract.security(),
            responses={200: contract.ok(wire.TaskResult), **contract.errors(wire.Error, (400, 401, 404, 422, 500))})
async def task_result(request: Request, task_id: str, svc: VideoService = Depends(service),
                      acct: Account = Depends(reader())):
    state = request.app.state
    return render_task(await svc.aget(job_id(task_id), account=acct.id), state.settings, url_key(state))


# --- Novita's error envelope -------------------------------------------------------------------

# Novita documents the statuses (400, 401, 403, 429, 503/504), not the body; this is the shape of its
# other v3 APIs: {code, reason, message, metadata}, reason an UPPER_SNAKE word.
_REASONS = {400: "INVALID_REQUEST_BODY", 401: "INVALID_API_KEY", 403: "NOT_ENOUGH_BALANCE", 404: "NOT_FOUND",
            429: "RATE_LIMIT_EXCEEDED", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_NOT_AVAILABLE"}


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    message, metadata = exc.message, {}
    if exc.param:
        metadata["param"] = exc.param
    if isinstance(exc, InsufficientCredits):
        # Novita reports an exhausted balance as 403, not 402.
        status = 403
        metadata.update(required=exc.required, available=exc.available)
    elif isinstance(exc, RateLimited):
        metadata["retry_after"] = exc.retry_after
    reason = _REASONS.get(status, exc.code.upper())
    if isinstance(exc, Forbidden):  # 403 alone reads as NOT_ENOUGH_BALANCE here
        reason = exc.code.upper()
    elif isinstance(exc, ModelNotFound):
        reason = "MODEL_NOT_FOUND"
        if exc.param == "model_name":  # Novita callers name checkpoints: list those too
            message = f"{message} Novita checkpoints served here: {', '.join(sorted(CHECKPOINTS))}."
    elif isinstance(exc, JobNotFound):
        reason = "TASK_NOT_FOUND"
        message = f"No task with task_id '{request.query_params.get('task_id') or request.path_params.get('task_id')}'."
        metadata.pop("param", None)
    return JSONResponse({"code": status, "reason": reason, "message": message, "metadata": metadata},
                        status_code=status)
