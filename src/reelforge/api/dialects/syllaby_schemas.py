"""Wire schemas of Syllaby's v2 text-to-video API (seed 002, API-COMPAT.md §5): the create body, and
its validation errors as Laravel words them (one message per dotted field path, e.g. ``modifiers.image.0``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from ..adjustments import AdjustmentOut

from ..forms import WireModel, parse_fields
from ...errors import InvalidRequest

MIN_WORDS, MAX_WORDS = 5, 1500
MAX_TITLE = 255


class Modifiers(WireModel):
    # Unknown names are kept (not dropped) so the menu check can refuse them by name: a misspelt
    # modifier that silently fell back to a default would still cost the caller credits.
    model_config = ConfigDict(extra="allow")

    duration: int | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    audio: str | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    image: list[str] | None = None
    video: list[str] | None = None


class CreateBody(WireModel):
    """POST /text-to-video."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str
    title: str | None = Field(None, max_length=MAX_TITLE)
    modifiers: Modifiers | None = None


_MESSAGES = {
    "missing": "The {param} field is required.",
    "string_type": "The {param} field must be a string.",
    "int_type": "The {param} field must be an integer.",
    "int_parsing": "The {param} field must be an integer.",
    "int_from_float": "The {param} field must be an integer.",
    "list_type": "The {param} field must be an array.",
    "model_type": "The {param} field must be an object.",
    "model_attributes_type": "The {param} field must be an object.",
    "string_too_long": "The {param} field must not be greater than " + str(MAX_TITLE) + " characters.",
}


def parse_create(data: dict[str, Any]) -> CreateBody:
    body = parse_fields(CreateBody, data, missing=None, by_type=_MESSAGES, invalid="The {param} field is invalid: {msg}.")
    words = len(body.prompt.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise InvalidRequest(f"The prompt field must be between {MIN_WORDS} and {MAX_WORDS:,} words; it has {words}.",
                             param="prompt")
    return body


# --- what the dialect answers (syllaby.render_clip, _model_object, _ok, render_error), for OpenAPI ---


class _Envelope(BaseModel):
    message: Literal["Success."]
    status: int


class Asset(BaseModel):
    status: Literal["draft", "processing", "success", "failed"]
    url: str | None = Field(description="A signed, expiring link to the mp4 once the clip completed.")
    failure: str | None


class Generation(BaseModel):
    """Extension: what is really rendered (a stand-in model may map the requested values)."""

    model: str
    size: str
    duration: int
    fps: int
    frames: int
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class Clip(BaseModel):
    id: int
    title: str
    type: Literal["text_to_video"]
    status: Literal["rendering", "completed", "failed"]
    asset: Asset
    created_at: str
    updated_at: str
    generation: Generation


class ClipResponse(_Envelope):
    data: Clip


class Credits(BaseModel):
    cost: int
    remaining: int | None = Field(description="None for an unmetered key.")


class CreatedMeta(BaseModel):
    credits: Credits


class CreatedResponse(_Envelope):
    data: Clip
    meta: CreatedMeta


class Modifier(BaseModel):
    type: Literal["select", "toggle", "media"]
    default: int | str | None = None
    options: list[int | str] | None = None
    accept: list[str] | None = None
    max_count: int | None = None
    required: bool | None = None


class Pricing(BaseModel):
    resolution: str
    credits_per_second: float


class Model(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    modifiers: dict[str, Modifier]
    pricing: list[Pricing]
    installed: bool = Field(description="Extension: whether the slug's model has its weights on this server; "
                                         "until it does, its requests run on a stand-in model.")


class ModelsResponse(_Envelope):
    data: list[Model]


class Estimate(BaseModel):
    required: int
    available: int | None = Field(description="None for an unmetered key.")
    sufficient: bool


class EstimateResponse(_Envelope):
    data: Estimate


class FieldErrors(BaseModel):
    """Laravel's validation shape (a 422): every failing field with its messages."""

    message: str
    errors: dict[str, list[str]]


class ErrorInfo(BaseModel):
    code: str
    status: int
    required: int | None = None
    available: int | None = None


class Failure(BaseModel):
    message: str
    error: ErrorInfo


class Error(RootModel[FieldErrors | Failure]):
    """Syllaby's error envelopes: field validation errors, or a coded error."""
