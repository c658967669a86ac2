"""AI/ML API's wire schema for the PixVerse v5 video models (API-COMPAT.md §7.2), checked the way
its gateway reports it: "Invalid enum value. Expected 'a' | 'b', received 'c'" for the named field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ..adjustments import AdjustmentOut

from ..forms import WireModel, parse_fields
from ...errors import InvalidRequest, shown

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
RESOLUTIONS = {"360p": 360, "540p": 540, "720p": 720, "1080p": 1080}  # the short side, in pixels
DURATIONS = (5, 8)
STYLES = ("anime", "3d_animation", "clay", "comic", "cyberpunk")
SPEAKERS = ("Harper", "Ava", "Isabella", "Sophia", "Emily", "Chloe", "Julia", "Mason", "Jack", "Liam", "James",
            "Oliver", "Adrian", "Ethan", "Auto")


class GenerationBody(WireModel):
    # Fields of other models on the same endpoint (and future ones) are ignored, as the gateway does.
    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str = Field(min_length=1)
    # The enums are checked in parse_generation (in the gateway's words); the schema shows them.
    aspect_ratio: str = Field("16:9", json_schema_extra={"enum": list(ASPECT_RATIOS)})
    resolution: str = Field("720p", json_schema_extra={"enum": list(RESOLUTIONS)})
    # the schema's default is written "5"; both forms are accepted
    duration: int = Field(5, json_schema_extra={"enum": list(DURATIONS)})
    negative_prompt: str | None = None
    style: str | None = Field(None, json_schema_extra={"enum": [*STYLES, None]})
    seed: int | None = None
    image_url: str | None = None
    tail_image_url: str | None = None
    lip_sync_tts_content: str | None = None
    lip_sync_tts_speaker: str | None = Field(None, json_schema_extra={"enum": [*SPEAKERS, None]})


def enum_error(param: str, value: Any, allowed: tuple[Any, ...]) -> InvalidRequest:
    expected = " | ".join(repr(a) for a in allowed)
    return InvalidRequest(f"Invalid enum value for '{param}'. Expected {expected}, received {shown(value)}.", param=param)


def _check(param: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value is not None and value not in allowed:
        raise enum_error(param, value, allowed)


def parse_generation(data: dict[str, Any]) -> GenerationBody:
    body = parse_fields(GenerationBody, data, invalid="Invalid value {value} for '{param}': {msg}.")
    _check("aspect_ratio", body.aspect_ratio, ASPECT_RATIOS)
    _check("resolution", body.resolution, tuple(RESOLUTIONS))
    _check("duration", body.duration, DURATIONS)
    _check("style", body.style, STYLES)
    _check("lip_sync_tts_speaker", body.lip_sync_tts_speaker, SPEAKERS)
    if body.resolution == "1080p" and body.duration == 8:
        raise InvalidRequest("The 1080p quality option does not support 8-second videos; use duration 5 or a lower "
                             "resolution.", param="duration")
    return body


# --- what the dialect answers (aimlapi.render_generation, render_error), for OpenAPI ---------------


class VideoFile(BaseModel):
    url: str = Field(description="A signed, expiring link to the mp4.")
    content_type: str
    file_name: str
    file_size: int


class GenerationError(BaseModel):
    name: str
    message: str


class Usage(BaseModel):
    credits_used: int


class Meta(BaseModel):
    usage: Usage


class Generation(BaseModel):
    id: str = Field(description="<uuid>:<model>")
    status: Literal["queued", "generating", "completed", "error"]
    video: VideoFile | None
    error: GenerationError | None
    meta: Meta
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class Error(BaseModel):
    """AI/ML API's gateway (NestJS) error envelope."""

    message: str
    path: str
    requestId: str
    statusCode: int
    timestamp: str
