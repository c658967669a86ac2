"""The domain vocabulary: a job, its status and its validated generation spec.

Torch-free and wire-free: dialects turn their requests into a ``JobSpec`` and
render a ``Job`` back; the store persists both; workers run the spec.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Task(str, enum.Enum):
    T2V = "t2v"
    I2V = "i2v"
    # Video-to-video: re-render ``input_video`` with the prompt, keeping its motion to ``strength``.
    EDIT = "edit"
    # Continue ``input_video`` from its last frame (image-to-video) and return the stitched clip.
    EXTEND = "extend"


@dataclass(frozen=True)
class Adjustment:
    """A value the service changed to fit the model that runs (``service.fitting``): the wire field
    the caller used, what it asked, what is used (None: dropped) and why. Every one is reported."""

    field: str
    asked: Any
    used: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class JobSpec:
    """A generation request after validation against the catalog: every value is the one that will be used."""

    model: str
    task: Task
    prompt: str
    seed: int
    num_inference_steps: int
    guidance_scale: float
    fps: int
    num_frames: int
    width: int
    height: int
    seconds: int
    negative_prompt: str | None = None
    # Artifact keys of the stored input images (PNG), kept so a retry after a crash still has them:
    # the first frame (image-to-video) and, for keyframe models, the last frame.
    input_image: str | None = None
    last_image: str | None = None
    # The source clip (an artifact key of an mp4 this job owns) of an edit or an extension.
    input_video: str | None = None
    # Edit strength in (0, 1]: how much of the source is re-noised (1: only its motion hint survives).
    strength: float | None = None
    # Extension: frames of the source clip that come before the generated ones in the output; the
    # spec's num_frames and seconds are the generated part's, and the stitched total is reported.
    source_frames: int = 0
    # Multi-prompt: (prompt, num_frames) segments in order; their frames sum to num_frames.
    segments: tuple[tuple[str, int], ...] = ()
    # (LoRA name as the catalog knows it, strength).
    loras: tuple[tuple[str, float], ...] = ()
    # A named prompt template (catalog.STYLES) applied when the job runs.
    style: str | None = None
    # The speed tier (catalog.SPEEDS): "exact" changes nothing in the result, "fast" adds the
    # family's lossy step cache (engine/speed.py).
    speed: str = "exact"
    # Family-specific knobs, already validated against the catalog (e.g. motion_bucket_id).
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    # How the input image was fitted to the frame (service.specs.RESIZE_METHODS); the size already reflects it.
    resize_method: str = "crop"
    # A name the client gave the video (Syllaby's title); shown back, never used for generation.
    title: str | None = None
    # Settings only the submitting surface reads back (Novita's response_video_type and webhook).
    extras: dict[str, Any] = field(default_factory=dict, hash=False)
    # What fitting changed from the request, the stand-in model first when one runs (never silent).
    adjustments: tuple[Adjustment, ...] = field(default=(), hash=False)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["task"] = self.task.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["task"] = Task(kw["task"])
        # JSON has no tuples; the spec is frozen and compared, so restore them.
        kw["segments"] = tuple((p, int(n)) for p, n in kw.get("segments", ()))
        kw["loras"] = tuple((name, float(w)) for name, w in kw.get("loras", ()))
        kw["adjustments"] = tuple(Adjustment(**a) for a in kw.get("adjustments", ()))
        return cls(**kw)

    def replace(self, **changes: Any) -> "JobSpec":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Job:
    id: str
    account: str
    surface: str
    status: JobStatus
    spec: JobSpec
    progress: int = 0
    # When the running attempt expects to finish (epoch seconds), from measured step times.
    eta_at: float | None = None
    error: JobError | None = None
    created_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    updated_at: float | None = None
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False
    deleted: bool = False
    remixed_from: str | None = None
    # Filled on completion: artifact keys, the frame count and fps actually encoded, timings.
    result: dict[str, Any] = field(default_factory=dict)
    # Credits taken at creation; given back once if the job fails or is cancelled.
    charge: int = 0
    refunded: bool = False
    # The store's insertion order: an integer id for surfaces that need one (Syllaby).
    seq: int = 0

    @property
    def finished(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True)
class Attempt:
    """One execution of a job by one worker (the audit trail the durability test reads)."""

    job_id: str
    number: int
    worker_id: str
    started_at: float
    ended_at: float | None
    outcome: str | None  # completed | failed | cancelled | expired | None while running
    # Jobs claimed together run in one pipeline call: they share the batch id (None: ran alone).
    batch_id: str | None = None
    batch_size: int = 1
