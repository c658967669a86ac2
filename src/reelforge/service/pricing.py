"""What a video costs. One function serves the estimate and the charge, so they can never differ.

The price follows the work, which grows with the frames made and the pixels in each:

    credits = ceil(rate x num_frames / native_fps x pixel_factor), at least 1

- ``rate`` is the model's ``credits_per_second`` for the size's resolution tier ("720p") from the
  catalog, else its "default", else 1: the price of one second of video at the model's native
  frame rate. More frames per second cost more. The tier is ``ModelEntry.resolution_of(size)``:
  the model's menu label, or its short side for a model without menus (the built-in one), the
  label its Syllaby menu shows.
- The entry is the model that runs: a vendor dialect whose named model has no weights here prices
  the stand-in it runs on, with the stand-in's tiers.
- ``pixel_factor`` is 1 for a size whose tier has its own rate (the tier already prices its
  pixels), else the size's pixels over the model's default size's pixels.
"""

from __future__ import annotations

import math

from ..catalog import ModelEntry, parse_size
from ..jobs import JobSpec

# A model without a price list costs this much per second of video at every resolution.
DEFAULT_CREDITS_PER_SECOND = 1.0


def _tier_rate(entry: ModelEntry, size: str) -> tuple[float, bool]:
    """(rate, whether the size's own tier set it)."""
    table = entry.extra.get("credits_per_second") or {}
    label = entry.resolution_of(size)
    if label is not None and label in table:
        return float(table[label]), True
    return float(table.get("default", DEFAULT_CREDITS_PER_SECOND)), False


def credits_per_second(entry: ModelEntry, size: str) -> float:
    """What one second of video at ``size`` costs, at the model's native frame rate."""
    rate, tiered = _tier_rate(entry, size)
    width, height = parse_size(size)
    default_w, default_h = parse_size(entry.default_size)
    pixel_factor = 1.0 if tiered else (width * height) / (default_w * default_h)
    return rate * pixel_factor


def price(entry: ModelEntry, spec: JobSpec) -> int:
    """Credits for the job ``spec`` describes, rounded up (as Syllaby bills), never 0. The frames
    count at the native rate, so a higher fps costs more only through the frames it adds."""
    return max(1, math.ceil(credits_per_second(entry, spec.size) * spec.num_frames / entry.fps - 1e-9))
