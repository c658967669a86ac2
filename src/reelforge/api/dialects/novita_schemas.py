"""Novita's wire schema for POST /v3/async/txt2video, with the ranges its reference documents
(API-COMPAT.md §6.2). Values are checked against Novita's ranges here; what the model that
really runs can do is the dialect module's business."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ..adjustments import AdjustmentOut

from ..forms import WireModel, parse_fields
from ...errors import InvalidRequest

MAX_TOTAL_FRAMES = 128  # "the total number of frames in prompts must be less than or equal to 128"


class _Wire(WireModel):
    # Novita adds fields over time (e.g. extra.enterprise_plan); a field we do not know is ignored, not refused.
    model_config = ConfigDict(extra="ignore")


class PromptPart(_Wire):
    prompt: str = Field(min_length=1, max_length=1024)
    frames: int = Field(ge=8, le=64)


class LoraRef(_Wire):
    model_name: str = Field(min_length=1)
    strength: float = 1.0  # the official SDK's default; the reference gives no range


class EmbeddingRef(_Wire):
    model_name: str = Field(min_length=1)


class TestMode(_Wire):
    enabled: bool = False
    return_task_status: Literal["TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"] = "TASK_STATUS_SUCCEED"


class Webhook(_Wire):
    url: str = Field(min_length=1)
    test_mode: TestMode | None = None


class Extra(_Wire):
    response_video_type: Literal["mp4", "gif"] = "mp4"
    webhook: Webhook | None = None


class Txt2VideoBody(_Wire):
    model_name: str = Field(min_length=1)
    height: int = Field(ge=256, le=1024)
    width: int = Field(ge=256, le=1024)
    steps: int = Field(ge=1, le=50)
    prompts: list[PromptPart] = Field(min_length=1)
    negative_prompt: str | None = Field(None, max_length=1024)
    guidance_scale: float | None = Field(None, ge=1, le=30)
    seed: int = Field(-1, ge=-1)
    loras: list[LoraRef] = Field(default_factory=list, max_length=5)
    embeddings: list[EmbeddingRef] = Field(default_factory=list, max_length=5)
    closed_loop: bool = False
    clip_skip: int | None = Field(None, ge=1, le=12)
    extra: Extra = Field(default_factory=Extra)


def parse_txt2video(data: dict[str, Any]) -> Txt2VideoBody:
    body = parse_fields(Txt2VideoBody, data, brackets=True, missing="Missing required parameter '{param}'.",
                        invalid="Invalid value {value} for '{param}': {msg}.")
    total = sum(p.frames for p in body.prompts)
    if total > MAX_TOTAL_FRAMES:
        raise InvalidRequest(f"The prompts' frames add up to {total}; at most {MAX_TOTAL_FRAMES} are allowed.",
                             param="prompts")
    return body


# --- what the dialect answers (novita.render_task, txt2video, render_error), for OpenAPI -----------


class Created(BaseModel):
    task_id: str
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class DebugInfo(BaseModel):
    request_info: str
    submit_time_ms: str
    execute_time_ms: str
    complete_time_ms: str


class LoraUsed(BaseModel):
    model_name: str
    strength: float


class Fitted(BaseModel):
    """Not Novita's: what really ran, after fitting the request to the model."""

    model: str
    width: int
    height: int
    frames: list[int]
    fps: int
    steps: int
    guidance_scale: float
    loras: list[LoraUsed]
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")
    test_mode: bool | None = Field(None, description="True only in the simulated result an "
                                   "extra.webhook.test_mode request sends to its webhook; no task ran.")


class ResultExtra(BaseModel):
    seed: str
    enable_nsfw_detection: bool
    debug_info: DebugInfo
    reelforge: Fitted


class TaskInfo(BaseModel):
    task_id: str
    task_type: Literal["TXT_TO_VIDEO"]
    status: Literal["TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING", "TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"]
    reason: str
    eta: int
    progress_percent: int


class VideoOut(BaseModel):
    video_url: str
    video_url_ttl: str
    video_type: Literal["mp4", "gif"]


class TaskResult(BaseModel):
    extra: ResultExtra
    task: TaskInfo
    images: list[Any]
    videos: list[VideoOut]
    audios: list[Any]


class Error(BaseModel):
    """Novita's v3 error envelope."""

    code: int
    reason: str
    message: str
    metadata: dict[str, Any]
