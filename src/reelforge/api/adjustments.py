"""How a create response tells the caller what changed: the ``Reelforge-Adjustments`` header.

Every create response on every dialect carries it, ``[]`` when the request ran exactly as asked.
Its value is a JSON array (ASCII, so any HTTP client can read it) of
``{"field", "asked", "used", "reason"}`` objects, the stand-in model first when one runs: ``field``
is the wire name the caller sent, ``used`` null when the value was dropped. The same list is in
each dialect's own job view (``adjustments``), so a poll shows it too.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ..jobs import Job
from ..service.videos import Submitted
from .idempotency import replay_headers

HEADER = "Reelforge-Adjustments"


class AdjustmentOut(BaseModel):
    """One value fitting changed (the wire schemas' shape for ``jobs.Adjustment``)."""

    field: str = Field(description="The request field, as the caller named it.")
    asked: Any = Field(description="What the request asked for.")
    used: Any = Field(description="What is used instead; null when the value was dropped.")
    reason: str


def adjustments(job: Job) -> list[dict[str, Any]]:
    return [a.to_dict() for a in job.spec.adjustments]


def created_headers(done: Submitted) -> dict[str, str]:
    """The headers of a create response: the adjustments, and whether an earlier request made the job."""
    value = json.dumps(adjustments(done.job), ensure_ascii=True, separators=(",", ":"), default=str)
    return {HEADER: value, **replay_headers(done.replayed)}
