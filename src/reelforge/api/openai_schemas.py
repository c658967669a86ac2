"""What the OpenAI Videos surface answers (API-COMPAT.md §2), as pydantic models for the OpenAPI
document: the Video object and its list, the model objects, the multipart create form and the error
envelope. ``openai.render_video`` and ``openai._model_object`` build exactly these shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class VideoError(BaseModel):
    code: str
    message: str


class PromptSegmentOut(BaseModel):
    prompt: str
    frames: int


class LoraOut(BaseModel):
    name: str
    strength: float


class Video(BaseModel):
    id: str = Field(pattern=r"^video_")
    object: Literal["video"]
    model: str
    # A cancelled job reads as failed with error.code "cancelled": the SDK's poll loop knows four statuses.
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    eta_seconds: int | None
    created_at: int
    completed_at: int | None
    expires_at: int | None
    prompt: str
    size: str = Field(pattern=r"^[0-9]+x[0-9]+$")
    seconds: str
    remixed_from_video_id: str | None
    error: VideoError | None
    negative_prompt: str | None
    seed: int
    num_inference_steps: int
    guidance_scale: float
    fps: int
    num_frames: int
    style: str | None
    prompts: list[PromptSegmentOut] | None
    loras: list[LoraOut] | None
    options: dict[str, float] | None
    resize_method: str | None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: bool


class ModelOption(BaseModel):
    name: str
    type: str
    min: float
    max: float
    default: float
    help: str


class AudioMenu(BaseModel):
    supported: bool
    default: bool


class ModelMenus(BaseModel):
    resolution: dict[str, dict[str, str]]
    duration: dict[str, list[int]]
    audio: AudioMenu


class ModelWeights(BaseModel):
    """Where the model's weights come from on this server."""

    kind: Literal["builtin", "local", "hub"] = Field(
        description="builtin: shipped with reelforge or built in code; local: a folder on the server; "
                    "hub: the Hugging Face hub cache (filled by `reelforge pull`).")
    source: str = Field(description="The catalog entry's source: builtin:<name>, a folder, or a hub repo id.")
    path: str | None = Field(description="The weights' folder; where they would be when not installed "
                                         "(null for a hub repo not downloaded yet).")


class ModelPrice(BaseModel):
    size: str
    resolution: str | None = Field(description="The size's resolution tier, if the model has a menu.")
    credits_per_second: float = Field(description="Credits for one second of video at this size and the model's "
                                                  "native fps; a job costs ceil(this x frames / native fps), at least 1.")


class ModelObject(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    family: str
    description: str
    tasks: list[str]
    sizes: list[str]
    seconds: list[str]
    aliases: list[str]
    random_weights: bool
    fps: int
    frame_rule: str
    max_frames: int
    default_steps: int
    default_guidance: float
    keyframes: bool
    last_frame_required: bool
    loras: bool
    prompt_travel: bool
    options: list[ModelOption]
    installed: bool = Field(description="Whether the weights are on this server: a job runs without a download.")
    weights: ModelWeights
    pricing: list[ModelPrice]
    menus: ModelMenus


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelObject]


class CreateVideoForm(BaseModel):
    """POST /v1/videos as multipart/form-data, the way the OpenAI SDKs send it when an image is
    uploaded. Nested extensions (prompts, loras, options) travel as bracket keys, or in JSON."""

    prompt: str
    model: str | None = None
    seconds: int | None = None
    size: str | None = None
    input_reference: bytes | None = Field(None, description="The first frame, as an image file.")
    last_frame: bytes | None = Field(None, description="The last frame, for models that take keyframes.")
    negative_prompt: str | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    fps: int | None = None
    num_frames: int | None = None
    style: str | None = None
    resize_method: str | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """OpenAI's error envelope."""

    error: ErrorDetail
