"""What the Segmind dialect answers (API-COMPAT.md §4), as pydantic models for the OpenAPI document:
``segmind.render_status``, ``render_result``, ``svd_async`` and ``render_error`` build these shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from ..adjustments import AdjustmentOut

from ..ids import PATTERN

_UUID = f"^{PATTERN}$"
Status = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]


class Base64Video(BaseModel):
    """POST /v1/svd with ``base64: true``: the mp4, base64-encoded, under Segmind's image key."""

    image: str


class Queued(BaseModel):
    request_id: str = Field(pattern=_UUID)
    status: Status
    poll_url: str
    status_url: str
    response_url: str
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class Metrics(BaseModel):
    inference_time: float | None = Field(None, description="Seconds, once the request finished.")


class RequestStatus(BaseModel):
    status: Status
    request_id: str = Field(pattern=_UUID)
    metrics: Metrics
    adjustments: list[AdjustmentOut] = Field(description="Extension: each value fitted to the model that runs.")


class RequestResult(RequestStatus):
    output: str | None = Field(description="A signed, expiring link to the mp4 once COMPLETED.")
    error: str | None = Field(None, description="Why it failed (FAILED only).")


class Error(BaseModel):
    """Segmind's error envelope."""

    error: str
