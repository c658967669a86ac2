"""What the Vyro dialect answers (API-COMPAT.md §3), as pydantic models for the OpenAPI document:
``vyro.render_video`` and ``vyro.render_error`` build exactly these shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from ..adjustments import AdjustmentOut

from ..ids import PATTERN

_UUID = f"^{PATTERN}$"
Status = Literal["processing", "finished", "failed"]


class Created(BaseModel):
    id: str = Field(pattern=_UUID)
    status: Status
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class Urls(BaseModel):
    generation: str = Field(description="A signed, expiring link to the mp4; needs no key.")
    thumbnail: str = Field(description="A signed, expiring link to the thumbnail (webp).")


class VideoInfo(BaseModel):
    uuid: str = Field(pattern=_UUID)
    created_at: str
    status: Status
    url: Urls | None
    error: str | None = Field(None, description="Extension: why the video failed (failed videos only).")
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class StatusResponse(BaseModel):
    status: Literal["success"]
    video: VideoInfo


class Deleted(BaseModel):
    message: Literal["video deleted"]
    status: Literal["success"]


class Error(BaseModel):
    """Vyro's error envelope; ``code`` is Vyro's numeric code as a string (1000 missing token, 1100 ...)."""

    status: Literal["error"]
    code: str
    error: str
    message: str
