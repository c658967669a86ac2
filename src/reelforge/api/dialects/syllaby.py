"""The Syllaby v2 text-to-video dialect (seed 002, API-COMPAT.md §5): list models, estimate, create, poll.

A slug names a catalog model: Syllaby's own slugs through ``VENDOR`` below, and every catalog model
that can do text-to-video under its catalog id. A request is validated against the menu its slug
publishes, then fitted by the service to the model that really runs (a stand-in while the named
model's weights are absent), each change reported in the clip's ``generation.adjustments``. The
estimate and the create go through the same ``VideoService.plan``, so ``required`` ==
``meta.credits.cost`` == the charge.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ...accounts import Account
from ...catalog import Catalog, ModelEntry, parse_size
from ...errors import (InsufficientCredits, InvalidRequest, JobNotFound, ModelNotFound, PayloadTooLarge,
                       ReelforgeError, shown)
from ...jobs import Job, JobStatus, Task
from ...service.specs import VideoRequest
from ...service.videos import VideoService
from ..auth import creator, reader
from ..deps import service
from ..forms import read_body
from ..adjustments import adjustments, created_headers
from ..idempotency import idempotency
from .. import contract
from ..signed import signed_url
from . import syllaby_schemas as wire
from .syllaby_schemas import CreateBody, Modifiers, parse_create

SURFACE = "syllaby"
PREFIXES: tuple[str, ...] = ("/text-to-video",)
router = APIRouter(prefix="/text-to-video", tags=["syllaby"])
__all__ = ["PREFIXES", "render_error", "router"]

IMAGE_MAX_BYTES = 10 * 1024 * 1024  # Syllaby's documented limit for image modifiers
MEDIA = ("first_frame", "last_frame", "image", "video")
# Catalog rows get ids from here on (catalog order); Syllaby's own slugs keep their documented ids below it.
CATALOG_ID_BASE = 100


@dataclass(frozen=True)
class Menu:
    """What a slug publishes on GET /text-to-video/models, and what requests for it are checked against."""

    id: int
    slug: str
    name: str
    description: str
    target: str  # the catalog model the slug names (the one that runs once its weights are here)
    sizes: dict[str, dict[str, str]]  # resolution -> aspect ratio -> WxH
    durations: tuple[int, ...]
    by_resolution: dict[str, tuple[int, ...]]  # durations a resolution narrows to
    defaults: dict[str, Any]
    media: tuple[str, ...]


_HD = {"720p": {"16:9": "1280x720", "9:16": "720x1280"}, "1080p": {"16:9": "1920x1080", "9:16": "1080x1920"}}
# Syllaby's own slugs, with the menus Syllaby documents. Wan 2.2 TI2V-5B is the catalog's fast general
# text/image-to-video model, the nearest to Veo 3 Fast.
VENDOR = {
    "veo-3-fast": Menu(7, "veo-3-fast", "Veo 3 Fast", "Fast general-purpose clips (without audio here).",
                       "wan2.2-ti2v-5b", _HD, (4, 6, 8), {},
                       {"duration": 8, "resolution": "720p", "aspect_ratio": "16:9", "audio": "off"}, ("first_frame",)),
}


def _aspect(size: str) -> str:
    w, h = parse_size(size)
    g = math.gcd(w, h)
    return f"{w // g}:{h // g}"


def _catalog_sizes(entry: ModelEntry) -> dict[str, dict[str, str]]:
    """The entry's resolution menu; entries without one (the built-in model) get one from their sizes,
    under the labels their pricing tiers use (``ModelEntry.resolution_of``)."""
    if entry.resolutions:
        return {label: dict(by_aspect) for label, by_aspect in entry.resolutions.items()}
    out: dict[str, dict[str, str]] = {}
    for size in entry.sizes:
        out.setdefault(entry.resolution_of(size), {})[_aspect(size)] = size
    return out


def _label_of(sizes: dict[str, dict[str, str]], size: str) -> tuple[str, str]:
    """The menu position of ``size``; the first one where a user catalog made the default size off-menu."""
    first = next((label, a) for label, by in sizes.items() for a in by)
    return next(((label, a) for label, by in sizes.items() for a, s in by.items() if s == size), first)


def menus(catalog: Catalog) -> dict[str, Menu]:
    out: dict[str, Menu] = {}
    for slug, menu in VENDOR.items():
        # A user catalog that aliases the slug (aliases = ["veo-3-fast"]) wins over this table.
        entry = catalog.entries.get(catalog.aliases.get(slug, menu.target))
        if entry is not None and Task.T2V in entry.tasks:
            out[slug] = dataclasses.replace(menu, target=entry.id)
    for i, entry in enumerate(catalog):
        if Task.T2V not in entry.tasks or entry.id in out:
            continue
        sizes = _catalog_sizes(entry)
        label, aspect = _label_of(sizes, entry.default_size)
        media = (("first_frame", "image") if Task.I2V in entry.tasks else ()) + (
            ("last_frame",) if entry.keyframes else ())
        out[entry.id] = Menu(CATALOG_ID_BASE + i, entry.id, entry.id, entry.description, entry.id, sizes,
                             entry.durations, {k: tuple(d) for k, d in entry.durations_by_resolution.items()},
                             {"duration": entry.default_seconds, "resolution": label, "aspect_ratio": aspect,
                              "audio": "off"}, media)
    return out


def _menu(catalog: Catalog, slug: Any) -> Menu:
    if not isinstance(slug, str) or not slug:
        raise InvalidRequest("The model field is required.", param="model")
    found = menus(catalog)
    if slug not in found:
        raise ModelNotFound(f"The selected model {shown(slug)} is invalid. Available models: {', '.join(found)}.",
                            param="model")
    return found[slug]


@dataclass(frozen=True)
class Choice:
    duration: int
    resolution: str
    aspect_ratio: str


def _choose(menu: Menu, values: dict[str, Any], prefix: str) -> Choice:
    """Menu modifiers (omitted ones take the menu's default), checked against what ``menu`` publishes."""
    v = {k: values.get(k) if values.get(k) is not None else d for k, d in menu.defaults.items()}
    duration = v["duration"]
    if isinstance(duration, str) and duration.isdigit():  # the estimate's query string
        duration = int(duration)
    if not isinstance(duration, int) or isinstance(duration, bool):
        raise InvalidRequest(f"The {prefix}duration field must be an integer.", param=prefix + "duration")
    res, aspect = v["resolution"], v["aspect_ratio"]
    if res not in menu.sizes:
        raise InvalidRequest(f"The selected {prefix}resolution {shown(res)} is invalid for model '{menu.slug}'. "
                             f"Options: {', '.join(menu.sizes)}.", param=prefix + "resolution")
    if aspect not in menu.sizes[res]:
        raise InvalidRequest(f"The selected {prefix}aspect_ratio {shown(aspect)} is invalid for model '{menu.slug}' at "
                             f"{res}. Options: {', '.join(menu.sizes[res])}.", param=prefix + "aspect_ratio")
    allowed = menu.by_resolution.get(res, menu.durations)
    if duration not in allowed:
        raise InvalidRequest(f"The selected {prefix}duration {shown(duration)} is invalid for model '{menu.slug}' at {res}. "
                             f"Options: {', '.join(map(str, allowed))}.", param=prefix + "duration")
    if v["audio"] != "off":
        raise InvalidRequest(f"The selected {prefix}audio '{v['audio']}' is invalid: no model here generates audio, "
                             "so the only option is 'off'.", param=prefix + "audio")
    return Choice(duration, res, aspect)


# Syllaby modifier -> the service field it becomes: adjustments and errors name the modifier.
PARAMS = {"seconds": "modifiers.duration", "num_frames": "modifiers.duration", "size": "modifiers.resolution",
          "resize_method": "modifiers.resolution"}


def _plan(menu: Menu, choice: Choice) -> dict[str, Any]:
    """VideoRequest fields for a menu choice: the published size and duration, which the service fits
    to the model that runs (a stand-in while the slug's weights are absent) and reports."""
    return {"model": menu.target, "model_asked": menu.slug, "size": menu.sizes[choice.resolution][choice.aspect_ratio],
            "seconds": choice.duration, "fit": True, "params": PARAMS}


def _check_media(menu: Menu, mods: Modifiers) -> None:
    """Media modifiers only where the menu offers them, before anything is downloaded."""
    unknown = sorted(set(mods.model_extra or {}))
    if unknown:
        raise InvalidRequest(f"Unknown modifier {shown(unknown[0])}. Model '{menu.slug}' takes: "
                             f"{', '.join(list(menu.defaults) + list(menu.media))}.", param=f"modifiers.{unknown[0]}")
    for name in MEDIA:
        if getattr(mods, name) and name not in menu.media:
            raise InvalidRequest(f"Model '{menu.slug}' does not accept modifiers.{name}. Its media modifiers: "
                                 f"{', '.join(menu.media) or 'none'}.", param=f"modifiers.{name}")
    if mods.image and len(mods.image) > 1:
        raise InvalidRequest(f"The modifiers.image field must not have more than 1 item (model '{menu.slug}').",
                             param="modifiers.image")
    if mods.image and mods.first_frame:
        # Our families condition on one starting image, which is what a reference image becomes.
        raise InvalidRequest("Send modifiers.first_frame or modifiers.image, not both: this model conditions on "
                             "one starting image.", param="modifiers.image")


def _fetch(svc: VideoService, value: str, param: str) -> bytes:
    data = svc.fetch_image(value, param=param, base64_ok=False)
    if len(data) > IMAGE_MAX_BYTES:
        raise PayloadTooLarge(f"The {param} file is {len(data)} bytes; at most {IMAGE_MAX_BYTES} (10 MB) are allowed.",
                              param=param)
    return data


def _to_request(svc: VideoService, body: CreateBody, mods: Modifiers, plan: dict[str, Any]) -> VideoRequest:
    """Downloads and checks the media (blocking) before the service charges anything."""
    first_param = "modifiers.image.0" if mods.image else "modifiers.first_frame"
    first = mods.image[0] if mods.image else mods.first_frame
    return VideoRequest(
        prompt=body.prompt, **plan,
        image=_fetch(svc, first, first_param) if first else None, image_param=first_param,
        last_image=_fetch(svc, mods.last_frame, "modifiers.last_frame") if mods.last_frame else None,
        last_image_param="modifiers.last_frame", title=body.title,
    )


# --- service -> wire --------------------------------------------------------------------------

# internal status -> (clip data.status, data.asset.status); a cancelled clip reads as failed (API-COMPAT §1)
STATUS = {
    JobStatus.QUEUED: ("rendering", "draft"),
    JobStatus.IN_PROGRESS: ("rendering", "processing"),
    JobStatus.COMPLETED: ("completed", "success"),
    JobStatus.FAILED: ("failed", "failed"),
    JobStatus.CANCELLED: ("failed", "failed"),
}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def _title(job: Job) -> str:
    # No title given: the default, stamped with the creation time.
    return job.spec.title or "Untitled video " + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job.created_at))


def render_clip(request: Request, svc: VideoService, job: Job) -> dict[str, Any]:
    status, asset_status = STATUS[job.status]
    failure = None
    if status == "failed":
        failure = job.error.message if job.error else "Cancelled by request."
    spec = job.spec
    return {
        "id": job.seq,
        "title": _title(job),
        "type": "text_to_video",
        "status": status,
        "asset": {
            "status": asset_status,
            "url": signed_url(request, job.id, "video") if job.status is JobStatus.COMPLETED else None,
            "failure": failure,
        },
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at or job.created_at),
        # Extension: what is really rendered, and each value fitted to get there (house rule 5).
        "generation": {"model": spec.model, "size": spec.size, "duration": spec.seconds, "fps": spec.fps,
                       "frames": spec.num_frames, "adjustments": adjustments(job)},
    }


def _ok(status: int, data: Any, meta: dict | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"message": "Success.", "status": status, "data": data}
    if meta is not None:
        body["meta"] = meta
    return JSONResponse(body, status_code=status, headers=headers)


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _model_object(svc: VideoService, menu: Menu) -> dict[str, Any]:
    d = menu.defaults
    modifiers: dict[str, Any] = {
        "duration": {"type": "select", "default": d["duration"], "options": list(menu.durations)},
        "resolution": {"type": "select", "default": d["resolution"], "options": list(menu.sizes)},
        "aspect_ratio": {"type": "select", "default": d["aspect_ratio"],
                         "options": list(dict.fromkeys(a for by in menu.sizes.values() for a in by))},
        "audio": {"type": "toggle", "default": "off"},  # no family here makes sound
    }
    for name in menu.media:
        modifiers[name] = {"type": "media", "accept": ["image"], "max_count": 1, "required": False}
    pricing = []
    for label, by_aspect in menu.sizes.items():
        plan = svc.plan(VideoRequest(prompt="price", **_plan(menu, Choice(d["duration"], label, next(iter(by_aspect))))))
        pricing.append({"resolution": label, "credits_per_second": _number(plan.credits_per_second)})
    return {"id": menu.id, "slug": menu.slug, "name": menu.name, "description": menu.description,
            "modifiers": modifiers, "pricing": pricing, "installed": svc.model(menu.target).weights.installed}


# --- routes -----------------------------------------------------------------------------------

# A bad field is a 422 with Laravel's field errors; a body that is not JSON at all a 400.
_READ_ERRORS = contract.errors(wire.Error, (400, 401, 404, 409, 422, 500))
_AUTH = contract.security()
_ESTIMATE_QUERY = {"parameters": [
    {"name": "model", "in": "query", "required": True, "schema": {"type": "string"}, "description": "A model slug."},
    *({"name": name, "in": "query", "required": False, "schema": schema} for name, schema in (
        ("duration", {"type": "integer"}), ("resolution", {"type": "string"}), ("aspect_ratio", {"type": "string"}),
        ("audio", {"type": "string", "enum": ["off"]}))),
]}


@router.get("/models", summary="List text-to-video models (Syllaby)", openapi_extra=_AUTH,
            responses={200: contract.ok(wire.ModelsResponse), **_READ_ERRORS})
def list_models(svc: VideoService = Depends(service), _: Account = Depends(reader())):
    return _ok(200, [_model_object(svc, m) for m in menus(svc.catalog).values()])


@router.get("/estimate", summary="Estimate a clip's credits (Syllaby)", openapi_extra=contract.extra(_ESTIMATE_QUERY, _AUTH),
            responses={200: contract.ok(wire.EstimateResponse), **_READ_ERRORS})
def estimate(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    q = request.query_params  # flat keys only; modifiers[duration] is ignored, as documented
    menu = _menu(svc.catalog, q.get("model"))
    # The prompt does not change the price; quote() is what the create will charge this account.
    required = svc.quote(VideoRequest(prompt="estimate", **_plan(menu, _choose(menu, dict(q), prefix=""))), acct)
    available = svc.balance(acct)
    return _ok(200, {"required": required, "available": available,
                     "sufficient": available is None or available >= required})


@router.post("", status_code=202, summary="Create a text-to-video clip (Syllaby)",
             openapi_extra=contract.extra(contract.body(CreateBody, example={
                 "model": "veo-3-fast", "prompt": "a red ball rolls slowly across a green field"}), _AUTH), responses={
                 202: contract.ok(wire.CreatedResponse, "The clip, queued", links=contract.links(
                     "/data/id", "clip_id", "get_clip_text_to_video__clip_id__get")),
                 **contract.errors(wire.Error, (400, 401, 402, 409, 413, 415, 422, 429, 500))})
async def create(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    data = await read_body(request)
    body = parse_create(data)
    menu = _menu(svc.catalog, body.model)
    mods = body.modifiers or Modifiers()
    plan = _plan(menu, _choose(menu, mods.model_dump(), prefix="modifiers."))
    _check_media(menu, mods)
    idem = idempotency(request, "syllaby:create", data)

    def submit() -> tuple[Job, dict[str, str], int | None]:
        done = svc.submit(_to_request(svc, body, mods, plan), account=acct, surface=SURFACE, idempotency=idem)
        return done.job, created_headers(done), svc.balance(acct)

    job, headers, remaining = await run_in_threadpool(submit)
    clip = await run_in_threadpool(render_clip, request, svc, job)
    return _ok(202, clip, meta={"credits": {"cost": job.charge, "remaining": remaining}}, headers=headers)


def _clip(svc: VideoService, clip_id: str, acct: Account) -> Job:
    # Missing, foreign, non-numeric and not-a-Syllaby-clip all read the same (the renderer's uniform 404).
    if not re.fullmatch(r"[0-9]{1,18}", clip_id):
        raise JobNotFound(clip_id)
    job = svc.get_by_seq(int(clip_id), account=acct.id)
    if job.surface != SURFACE:
        raise JobNotFound(clip_id)
    return job


@router.get("/{clip_id}", summary="Get a text-to-video clip (Syllaby)", openapi_extra=_AUTH,
            responses={200: contract.ok(wire.ClipResponse), **_READ_ERRORS})
def get_clip(request: Request, clip_id: str, svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    return _ok(200, render_clip(request, svc, _clip(svc, clip_id, acct)))


# --- the Syllaby error envelopes (API-COMPAT.md §5.3) -------------------------------------------

# Codes from Syllaby's backend (GEN-*, INSUFFICIENT-CREDITS); the others follow their style.
_CODES = {400: "GEN-WRONG-ARGS", 401: "GEN-UNAUTHORIZED", 402: "INSUFFICIENT-CREDITS", 403: "GEN-FORBIDDEN",
          404: "GEN-NOT-FOUND", 405: "METHOD-NOT-ALLOWED", 413: "PAYLOAD-TOO-LARGE", 429: "TOO-MANY-REQUESTS",
          500: "GEN-API-ERROR", 503: "SERVICE-UNAVAILABLE"}


def render_error(request: Request, exc: ReelforgeError, status: int) -> Response:
    if isinstance(exc, InvalidRequest) and exc.param and status in (400, 413, 422):
        # Laravel's validation shape: 422, every failing field with its messages.
        field = exc.param  # already the wire name (VideoRequest.params)
        if request.url.path.endswith("/estimate"):  # flat query keys there
            field = field.removeprefix("modifiers.")
        return JSONResponse({"message": exc.message, "errors": {field: [exc.message]}}, status_code=422)
    error: dict[str, Any] = {"code": _CODES.get(status, exc.code.upper().replace("_", "-")), "status": status}
    message = exc.message
    if isinstance(exc, InsufficientCredits):
        error.update(required=exc.required, available=exc.available)
    if status == 404:
        message = "Not found."
    return JSONResponse({"message": message, "error": error}, status_code=status)
