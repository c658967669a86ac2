"""What a video costs. One function serves the estimate and the charge, so they can never differ."""

from __future__ import annotations

import math

from ..catalog import ModelEntry

# A model without a price list costs this much per second of video at every resolution.
DEFAULT_CREDITS_PER_SECOND = 1.0


def credits_per_second(entry: ModelEntry, size: str) -> float:
    """The entry's rate for ``size``: by resolution label ("720p"), else its "default", else 1."""
    table = entry.extra.get("credits_per_second") or {}
    label = entry.resolution_of(size)
    if label is not None and label in table:
        return float(table[label])
    return float(table.get("default", DEFAULT_CREDITS_PER_SECOND))


def price(entry: ModelEntry, size: str, seconds: int) -> int:
    """Credits for ``seconds`` of video at ``size``: rate x duration, rounded up (as Syllaby bills)."""
    return math.ceil(credits_per_second(entry, size) * seconds - 1e-9)
