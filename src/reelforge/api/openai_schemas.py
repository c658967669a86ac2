"""The OpenAI Videos dialect's wire schemas (API-COMPAT.md §2): the create body, and as pydantic models for the OpenAPI
document: the Video object and its list, the model objects, the multipart create form and the error
envelope. ``openai.render_video`` and ``openai._model_object`` build exactly these shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from .adjustments import AdjustmentOut
from .forms import WireModel


class VideoError(BaseModel):
    code: str
    message: str
    # Newer SDKs (3.57) read these too: the error's class and, where one input was at fault, its name.
    # Optional: the event streams' error (api/events.py) carries code and message only.
    type: str | None = None
    param: str | None = None


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
    speed: str = Field(description="The speed tier the video ran at (exact or fast).")
    resize_method: str | None
    strength: float | None = Field(description="An edit's strength: how much of the source was re-noised.")
    source_frames: int | None = Field(description="An extension's frames taken from the source clip; num_frames "
                                                  "and seconds count the stitched whole.")
    character_id: str | None = Field(description="The character whose reference frame the video starts from.")
    adjustments: list[AdjustmentOut]


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
    speeds: list[str] = Field(description="Speed tiers the model runs: exact, and fast for transformer families.")
    default_speed: str
    options: list[ModelOption]
    installed: bool = Field(description="Whether the weights are on this server: a job runs without a download.")
    weights: ModelWeights
    pricing: list[ModelPrice]
    menus: ModelMenus


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelObject]


class PromptSegment(WireModel):
    prompt: str
    frames: int


class LoraRef(WireModel):
    name: str
    strength: float = 1.0


# The JSON forms of an input image; a multipart upload is the third (CreateVideoForm).
_IMAGE_REFERENCE = WithJsonSchema({"anyOf": [
    {"type": "object", "properties": {"image_url": {"type": "string", "description": "An http(s) or data: URL."},
                                      "file_id": {"type": "string", "description": "Not supported here."}}},
    {"type": "string", "description": "An image URL or data URL."},
    {"type": "null"},
]})


class CreateVideoBody(WireModel):
    """POST /v1/videos. Multipart sends every value as a string, so numbers are parsed leniently."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    prompt: str
    # Names and menu values are short; the caps keep a huge value out of the service and its errors.
    model: str | None = Field(None, max_length=200)
    seconds: int | None = None
    size: str | None = Field(None, max_length=32)
    input_reference: Annotated[Any, _IMAGE_REFERENCE] = None
    # Extensions (not in OpenAI's API): echoed back on the Video object with the values used.
    negative_prompt: str | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    fps: int | None = None
    num_frames: int | None = None
    style: str | None = Field(None, max_length=64)
    prompts: list[PromptSegment] | None = None
    loras: list[LoraRef] | None = None
    last_frame: Annotated[Any, _IMAGE_REFERENCE] = None
    options: dict[str, float] = {}
    speed: str | None = Field(None, max_length=16, description="Speed tier: exact (the result plain diffusers "
                              "gives) or fast (a lossy step cache, transformer families only); default: the model's.")
    resize_method: str | None = Field(None, max_length=64)
    # A character of this account (POST /v1/videos/characters): the video starts from its reference frame.
    character_id: str | None = Field(None, max_length=64)


# POST /v1/videos as multipart/form-data, the way the OpenAI SDKs send it when an image is uploaded:
# CreateVideoBody's fields, with the images as files. Nested extensions (prompts, loras, options)
# travel as bracket keys, or in JSON.
CreateVideoForm = create_model(
    "CreateVideoForm",
    **{name: (f.annotation, f) for name, f in CreateVideoBody.model_fields.items()
       if name not in ("input_reference", "last_frame", "prompts", "loras", "options")},
    input_reference=(bytes | None, Field(None, description="The first frame, as an image file.")),
    last_frame=(bytes | None, Field(None, description="The last frame, for models that take keyframes.")),
)


# The source of an edit or extension in JSON; a multipart upload is the other form (EditVideoForm).
_VIDEO_REFERENCE = WithJsonSchema({"type": "object", "required": ["id"], "properties": {
    "id": {"type": "string", "description": "A completed video of this account (video_...)."}}})


class _SourceBody(WireModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    prompt: str
    video: Annotated[Any, _VIDEO_REFERENCE]
    # Extensions (not in OpenAI's API). The model defaults to the source's (a video made here) or the default.
    model: str | None = Field(None, max_length=200)
    size: str | None = Field(None, max_length=32)
    negative_prompt: str | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None


class EditVideoBody(_SourceBody):
    """POST /v1/videos/edits: ``video`` is an uploaded clip or ``{"id": "video_..."}``."""

    strength: float | None = None


class ExtendVideoBody(_SourceBody):
    """POST /v1/videos/extensions: ``seconds`` more of ``video``, stitched after it."""

    seconds: int


def _form(name: str, body: type[BaseModel]) -> type[BaseModel]:
    return create_model(name, **{n: (f.annotation, f) for n, f in body.model_fields.items() if n != "video"},
                        video=(bytes | None, Field(None, description="The source clip (MP4/MOV or WebM/MKV); or "
                                                   "send the field video[id] with a completed video's id.")))


# As the OpenAI SDKs send them: multipart, the clip as a file or ``video[id]``.
EditVideoForm = _form("EditVideoForm", EditVideoBody)
ExtendVideoForm = _form("ExtendVideoForm", ExtendVideoBody)


class CharacterForm(BaseModel):
    """POST /v1/videos/characters (multipart)."""

    name: str = Field(min_length=1, max_length=80, description="The character's display name.")
    video: bytes = Field(description="A short clip of the character (MP4/MOV or WebM/MKV).")


class CharacterBody(WireModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    name: str  # its length is the service's rule (service.characters)
    video: Any


class CharacterObject(BaseModel):
    id: str = Field(pattern=r"^char_")
    created_at: int
    name: str


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    """OpenAI's error envelope."""

    error: ErrorDetail
