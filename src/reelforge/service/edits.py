"""Videos made from a source clip: edits, extensions and remixes (OpenAI's /v1/videos/edits,
/v1/videos/extensions and /v1/videos/{id}/remix).

The source is an upload, validated and capped at the edge like an input image
(``media.inputs.read_input_video``: container, codec, duration, pixels, bytes), or a completed video
of the same account. Each job stores its own copy of the source clip (``JobSpec.input_video``), so
deleting the source never breaks it. The request then goes through the same plan as a create
(stand-in, fitting, catalog rules) and the same price function, so the estimate is the charge:

  edit    Task.EDIT: the source re-rendered with the new prompt at ``strength`` (how much of it is
          re-noised). The output keeps the source's duration and frame size (or, for an upload of a
          size the model lacks, the model's frame of the same aspect ratio); a video made here also
          passes on its seed, steps, guidance, style and options while the model stays the same.
  extend  Task.EXTEND: ``seconds`` more, continuing from the source's last frame through the
          model's image-to-video path, stitched after the source. The spec's ``num_frames`` and the
          price count the generated frames, ``source_frames`` the source's at the job's fps; the
          Video shows the stitched whole (``output_frames``).
  remix   an edit of a completed video with a new prompt and every other value of the source's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..accounts import Account
from ..catalog import ModelEntry
from ..errors import Conflict, InvalidRequest
from ..jobs import Job, JobSpec, JobStatus, Task
from ..media.inputs import read_input_video
from .specs import VideoRequest, check_prompt

if TYPE_CHECKING:
    from .videos import Idempotency, Plan, Submitted, VideoService

_VERBS = {Task.EDIT: "edited", Task.EXTEND: "extended"}


@dataclass(frozen=True)
class SourceVideo:
    """An edit's source as the caller named it: an upload's bytes, or the id of a video made here."""

    upload: bytes | None = None
    job_id: str | None = None
    param: str = "video"


@dataclass(frozen=True)
class EditRequest:
    """An edit or extension after wire parsing (every optional value an extension of OpenAI's API)."""

    prompt: str
    source: SourceVideo
    seconds: int | None = None  # extensions: the length of the generated part
    model: str | None = None
    strength: float | None = None
    size: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None


@dataclass(frozen=True)
class Clip:
    """A source clip, validated: its bytes and shape, and the job that made it when it was made here."""

    data: bytes
    suffix: str  # the stored copy's: mp4 or webm
    width: int
    height: int
    frames: int
    fps: float
    job: Job | None = None
    first_png: bytes | None = None  # an upload's first frame (uploads are decoded whole anyway)

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def output_frames(spec: JobSpec) -> int:
    """The frames of the video a job makes. An extension is stitched: its source frames, then the
    generated ones after the first, which redraws the source's last frame (the seam, worker.render)."""
    if spec.task is Task.EXTEND:
        return spec.source_frames + spec.num_frames - 1
    return spec.num_frames


def output_seconds(spec: JobSpec) -> int:
    """The video's length in whole seconds: an extension's is the stitched total, as the SDK documents."""
    return max(1, round(output_frames(spec) / spec.fps)) if spec.task is Task.EXTEND else spec.seconds


class Edits:
    def __init__(self, service: VideoService):
        self.svc = service

    def edit(self, req: EditRequest, *, account: Account, surface: str,
             idempotency: Idempotency | None = None) -> Submitted:
        return self._submit(req, Task.EDIT, account, surface, idempotency)

    def extend(self, req: EditRequest, *, account: Account, surface: str,
               idempotency: Idempotency | None = None) -> Submitted:
        return self._submit(req, Task.EXTEND, account, surface, idempotency)

    def remix(self, job_id: str, prompt: str | None, *, account: Account, surface: str,
              idempotency: Idempotency | None = None) -> Submitted:
        """An edit of the completed video ``job_id`` with a new prompt; the new job names its source."""
        req = EditRequest(prompt=prompt or "", source=SourceVideo(job_id=job_id, param="video_id"))
        return self._submit(req, Task.EDIT, account, surface, idempotency, remix=True)

    def plan(self, req: EditRequest, task: Task, account: Account) -> Plan:
        """What the edit or extension would make and charge (the clip is validated, not stored)."""
        return self._plan(req, task, self.source(req.source, task, account))

    def source(self, ref: SourceVideo, task: Task | None, account: Account) -> Clip:
        """The clip ``ref`` names: an upload, decoded and checked, or a completed video of ``account``."""
        settings = self.svc.settings
        if ref.upload is not None:
            v = read_input_video(ref.upload, param=ref.param, max_bytes=settings.max_upload_bytes,
                                 max_pixels=settings.max_input_pixels)
            return Clip(v.data, v.container, v.width, v.height, v.frames, v.fps, first_png=v.first_png)
        if not ref.job_id:
            raise InvalidRequest(f"'{ref.param}' needs a video file or the id of a completed video.", param=ref.param)
        job = self.svc.store.get(ref.job_id, account.id)
        if job.status is not JobStatus.COMPLETED:
            verb = _VERBS.get(task, "used") if task is not None else "used"
            raise Conflict(f"The source video is {job.status.value}; only a completed video can be {verb}.",
                           param=ref.param)
        result = job.result
        return Clip(self.svc.artifacts.get_bytes(result["artifacts"]["video"]), "mp4",
                    int(result.get("width", job.spec.width)), int(result.get("height", job.spec.height)),
                    int(result.get("num_frames", job.spec.num_frames + job.spec.source_frames)),
                    float(result.get("fps", job.spec.fps)), job)

    def _submit(self, req: EditRequest, task: Task, account: Account, surface: str,
                idempotency: Idempotency | None, *, remix: bool = False) -> Submitted:
        def make() -> Job:
            clip = self.source(req.source, task, account)
            plan = self._plan(req, task, clip, remix=remix)
            key = f"inputs/{secrets.token_hex(16)}.{clip.suffix}"
            self.svc.artifacts.put_bytes(key, clip.data)
            spec = plan.spec.replace(input_video=key)
            return self.svc._create(spec, plan.price, account, surface, idempotency,
                                    remixed_from=clip.job.id if remix and clip.job else None)

        return self.svc._once(account, idempotency, make)

    def _plan(self, req: EditRequest, task: Task, clip: Clip, *, remix: bool = False) -> Plan:
        check_prompt(req.prompt, "prompt", required=True)
        src = clip.job.spec if clip.job is not None else None
        name = req.model or (src.model if src is not None else None)
        entry = self.svc.catalog.resolve(name)
        same = src is not None and src.model == entry.id

        def kept(asked, name: str):
            """A value the caller left out: the source's, while the model is the one that made it."""
            return getattr(src, name) if asked is None and same else asked

        fps = src.fps if same else _fps(entry, clip.fps)
        vreq = VideoRequest(
            prompt=req.prompt, model=name, task=task, size=req.size, fps=fps, strength=req.strength,
            negative_prompt=kept(req.negative_prompt, "negative_prompt"), seed=kept(req.seed, "seed"),
            num_inference_steps=kept(req.num_inference_steps, "num_inference_steps"),
            guidance_scale=kept(req.guidance_scale, "guidance_scale"),
        )
        if same:
            vreq.style, vreq.options = src.style, dict(src.options)
            vreq.loras = list(src.loras) or None
        if remix:
            vreq.title, vreq.extras = src.title, dict(src.extras)
        frames = max(1, round(clip.seconds * fps))
        if task is Task.EDIT:
            vreq.num_frames = entry.frame_rule.at_least(frames)
            vreq.seconds = max(1, round(clip.seconds))
            if vreq.num_frames > entry.max_frames:
                raise InvalidRequest(
                    f"The source video is {clip.seconds:.1f} s long; at {fps} fps model '{entry.id}' edits at most "
                    f"{entry.max_frames} frames ({entry.max_frames / fps:.1f} s). Send a shorter clip.",
                    param=req.source.param)
        else:
            if req.seconds is None:
                raise InvalidRequest("Missing required parameter: 'seconds'.", param="seconds",
                                     code="missing_required_parameter")
            vreq.seconds, vreq.source_frames = req.seconds, frames
        image_size = None
        if req.size is None:
            size = f"{clip.width}x{clip.height}"
            if size in entry.sizes:
                vreq.size = size
            else:
                # The frame follows the source's shape, as an input image's does (specs.aspect_size).
                vreq.resize_method, image_size = "maintain_aspect_ratio", (clip.width, clip.height)
        return self.svc.plan(vreq, image_size=image_size)


def _fps(entry: ModelEntry, fps: float) -> int:
    """An upload's frame rate, where the model can make it; otherwise the model's own."""
    lo, hi = entry.fps_range
    return round(fps) if lo <= round(fps) <= hi else entry.fps
