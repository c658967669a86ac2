"""The models built into reelforge: the shipped tiny model (the default) and a random-weight LTX.

Both run on a CPU with no download: ``reelforge-tiny``'s weights ship inside the package, and
``ltx-tiny-random`` is built in code on first use (see ``catalog.weights``).
"""

from __future__ import annotations

from ...jobs import Task
from ..entry import OPENAI_MODEL_NAMES, OPENAI_SIZES, FrameRule, ModelEntry
from .presets import STRENGTH

LTX_TINY_RANDOM = ModelEntry(
    id="ltx-tiny-random",
    family="ltx",
    source="builtin:ltx-tiny-random",
    tasks=frozenset({Task.T2V, Task.I2V}),
    description=(
        "A tiny LTX-Video pipeline with RANDOM weights, built in code: it produces noise, not a picture of the "
        "prompt. It exists so the whole service runs on a CPU with no downloads; point requests at a real model "
        "for real videos."
    ),
    sizes=OPENAI_SIZES + ("256x256", "512x512"),
    default_size="720x1280",
    durations=(4, 8, 12),
    default_seconds=4,
    fps=8,
    fps_range=(1, 30),
    frame_rule=FrameRule(8, 1),
    max_frames=161,
    default_steps=8,
    max_steps=100,
    default_guidance=3.0,
    native_max_pixels=64 * 64 * 2,
    native_multiple=32,
    random_weights=True,
    # First + last frame through LTXConditionPipeline, like the LTX 0.9.5 entry it stands in for.
    keyframes=True,
    # Text- and image-to-video batch in one call of the same pipelines (tests/worker/test_batching.py).
    max_batch=4,
)

REELFORGE_TINY = ModelEntry(
    id="reelforge-tiny",
    family="tiny",
    source="builtin:reelforge-tiny",
    # Edits by SDEdit on the same weights (engine/builtin/pipeline.py).
    tasks=frozenset({Task.T2V, Task.I2V, Task.EDIT}),
    description=(
        "reelforge's built-in tiny model (2.5M parameters, shipped with the package, runs on a CPU in about a "
        "second). It was trained on a procedural world and can only draw that world: one or two circles, squares, "
        "triangles or stars in red, green, blue, yellow, white, purple, orange or cyan, moving left, right, up or "
        "down or standing still, on a black, gray, white or navy background. Native size 32x32 and 8 frames; larger "
        "sizes are upscaled (non-square ones widened with more background) and frame counts resampled in time."
    ),
    sizes=OPENAI_SIZES + ("256x256", "512x512"),
    default_size="720x1280",
    durations=(4, 8, 12),
    default_seconds=4,
    fps=8,
    fps_range=(1, 30),
    frame_rule=FrameRule(),
    max_frames=361,
    default_steps=20,
    max_steps=100,
    default_guidance=4.0,
    guidance_range=(1.0, 20.0),
    # The pipeline upscales from 32x32 itself; up to 512x512 pixels it hands over finished frames, and
    # the media layer scales those to larger requested sizes.
    native_max_pixels=512 * 512,
    native_multiple=16,
    aliases=OPENAI_MODEL_NAMES,
    options=(STRENGTH,),
    # Per-sample prompts, negative prompts, first frames and seeds in one call (tests/worker/test_batching.py).
    max_batch=8,
    extra={"native": {"width": 32, "height": 32, "frames": 8}},
)
