"""AI/ML API's wire schema for the PixVerse v5 video models (API-COMPAT.md §7.2), checked the way
its gateway reports it: "Invalid enum value. Expected 'a' | 'b', received 'c'" for the named field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import InvalidRequest

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
RESOLUTIONS = {"360p": 360, "540p": 540, "720p": 720, "1080p": 1080}  # the short side, in pixels
DURATIONS = (5, 8)
STYLES = ("anime", "3d_animation", "clay", "comic", "cyberpunk")
SPEAKERS = ("Harper", "Ava", "Isabella", "Sophia", "Emily", "Chloe", "Julia", "Mason", "Jack", "Liam", "James",
            "Oliver", "Adrian", "Ethan", "Auto")


class GenerationBody(BaseModel):
    # Fields of other models on the same endpoint (and future ones) are ignored, as the gateway does.
    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str = Field(min_length=1)
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    duration: int = 5  # the schema's default is written "5"; both forms are accepted
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    image_url: str | None = None
    tail_image_url: str | None = None
    lip_sync_tts_content: str | None = None
    lip_sync_tts_speaker: str | None = None


def enum_error(param: str, value: Any, allowed: tuple[Any, ...]) -> InvalidRequest:
    expected = " | ".join(repr(a) for a in allowed)
    return InvalidRequest(f"Invalid enum value for '{param}'. Expected {expected}, received {value!r}.", param=param)


def _check(param: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value is not None and value not in allowed:
        raise enum_error(param, value, allowed)


def parse_generation(data: dict[str, Any]) -> GenerationBody:
    try:
        body = GenerationBody.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing":
            raise InvalidRequest(f"'{param}' is required.", param=param) from None
        raise InvalidRequest(f"Invalid value {err.get('input')!r} for '{param}': {err['msg']}.", param=param) from None
    _check("aspect_ratio", body.aspect_ratio, ASPECT_RATIOS)
    _check("resolution", body.resolution, tuple(RESOLUTIONS))
    _check("duration", body.duration, DURATIONS)
    _check("style", body.style, STYLES)
    _check("lip_sync_tts_speaker", body.lip_sync_tts_speaker, SPEAKERS)
    if body.resolution == "1080p" and body.duration == 8:
        raise InvalidRequest("The 1080p quality option does not support 8-second videos; use duration 5 or a lower "
                             "resolution.", param="duration")
    return body
