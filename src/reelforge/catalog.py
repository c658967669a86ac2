"""The torch-free model catalog: what each model can do, its limits and defaults.

The API validates every request against an entry before queueing it, so an
impossible request never reaches a GPU. Workers read the same entry to load
and run the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ModelNotFound, shown
from .jobs import Task

OPENAI_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
OPENAI_MODEL_NAMES = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")


@dataclass(frozen=True)
class FrameRule:
    """Legal frame counts are ``step * k + offset`` (e.g. 8k+1 for LTX)."""

    step: int = 1
    offset: int = 0

    def allows(self, n: int) -> bool:
        return n >= max(self.offset, 1) and (n - self.offset) % self.step == 0

    def at_least(self, n: int) -> int:
        """The smallest legal count that is >= n."""
        k = max(0, math.ceil((n - self.offset) / self.step))
        while self.step * k + self.offset < 1:
            k += 1
        return self.step * k + self.offset

    def __str__(self) -> str:
        if self.step == 1:
            return "any count"
        return f"{self.step}k+{self.offset}" if self.offset else f"a multiple of {self.step}"


# Named prompt templates (AI/ML API's `style` values); "{prompt}" is the user's prompt.
STYLES: dict[str, str] = {
    "anime": "anime style, {prompt}, vibrant colors, clean cel shading, expressive characters",
    "3d_animation": "3D animated film still, {prompt}, soft global illumination, stylised characters",
    "clay": "claymation, {prompt}, handmade clay figures, stop-motion texture, fingerprints in clay",
    "comic": "comic book panel, {prompt}, bold ink outlines, halftone shading, flat colors",
    "cyberpunk": "cyberpunk, {prompt}, neon lights, rain-soaked streets, high contrast, futuristic city",
}


@dataclass(frozen=True)
class OptionSpec:
    """A family-specific knob a request may set (e.g. SVD's motion_bucket_id), with its legal range."""

    name: str
    kind: type  # int or float
    lo: float
    hi: float
    default: float
    help: str = ""


# Where a worker keeps a model's weights between and during jobs (see engine/memory.py):
#   resident            everything on the device: fastest, needs room for all of it;
#   model_offload       whole components (text encoder, transformer, VAE) visit the device one at a
#                       time: about the largest component's size on the device, a little slower;
#   sequential_offload  layer by layer: the least device memory and by far the slowest.
MEMORY_POLICIES = ("resident", "model_offload", "sequential_offload")


@dataclass(frozen=True)
class MemoryPolicy:
    """How a model's weights use device memory. Offloading only means something on an accelerator;
    a CPU worker runs every policy as ``resident``."""

    policy: str = "resident"
    # Decode the video in overlapping spatial tiles: peak VAE memory at 720p drops from tens of GB to a
    # few, at a small cost in time. VAEs without tiling (SVD's temporal decoder) ignore it.
    vae_tiling: bool = False

    def __post_init__(self):
        if self.policy not in MEMORY_POLICIES:
            raise ValueError(f"unknown memory policy {self.policy!r}; allowed: {', '.join(MEMORY_POLICIES)}")


def parse_size(size: str) -> tuple[int, int]:
    w, _, h = size.partition("x")
    return int(w), int(h)


@dataclass(frozen=True)
class ModelEntry:
    id: str
    family: str
    # Where the weights come from: a local folder, a hub repo id, or "builtin:<name>" (built in code).
    source: str
    tasks: frozenset[Task]
    description: str
    sizes: tuple[str, ...]
    default_size: str
    durations: tuple[int, ...]
    default_seconds: int
    fps: int
    fps_range: tuple[int, int]
    frame_rule: FrameRule
    max_frames: int
    default_steps: int
    max_steps: int
    default_guidance: float
    guidance_range: tuple[float, float] = (0.0, 30.0)
    # The model generates at most this many pixels per frame, at a multiple of ``native_multiple``;
    # larger requested sizes are generated smaller and upscaled when encoding.
    native_max_pixels: int = 1280 * 720
    native_multiple: int = 32
    aliases: tuple[str, ...] = ()
    random_weights: bool = False
    owned_by: str = "reelforge"
    # Capabilities the request validator checks before anything is queued.
    keyframes: bool = False  # accepts a last frame as well as a first frame
    last_frame_required: bool = False  # first-last-frame models (Wan FLF2V) need both frames
    loras: bool = False
    prompt_travel: bool = False  # multi-prompt natively; otherwise segments chain through image-to-video
    options: tuple[OptionSpec, ...] = ()
    memory: MemoryPolicy = MemoryPolicy()
    # Menus for the vendor surfaces: resolution label -> aspect ratio -> "WxH", and the durations a
    # resolution allows (a label missing here allows every entry of ``durations``).
    resolutions: dict = field(default_factory=dict, hash=False, compare=False)
    durations_by_resolution: dict = field(default_factory=dict, hash=False, compare=False)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    def resolution_of(self, size: str) -> str | None:
        """The menu label ("480p", "720p", ...) that offers ``size``, if any."""
        for label, by_aspect in self.resolutions.items():
            if size in by_aspect.values():
                return label
        return None

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """Generation size for a requested output size: same aspect, within the pixel budget, on the grid."""
        scale = min(1.0, math.sqrt(self.native_max_pixels / (width * height)))
        m = self.native_multiple

        def snap(v: float) -> int:
            return max(m, int(round(v / m)) * m)

        return snap(width * scale), snap(height * scale)

    def frames_for(self, seconds: int, fps: int) -> int:
        return self.frame_rule.at_least(seconds * fps)


_TINY_RANDOM = ModelEntry(
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
)

_BUILTIN = ModelEntry(
    id="reelforge-tiny",
    family="tiny",
    source="builtin:reelforge-tiny",
    tasks=frozenset({Task.T2V, Task.I2V}),
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
    extra={"native": {"width": 32, "height": 32, "frames": 8}},
)


def builtin_entries() -> tuple[ModelEntry, ...]:
    from .catalog_entries import PUBLISHED

    return (_BUILTIN, _TINY_RANDOM) + PUBLISHED


class Catalog:
    def __init__(
        self, entries: tuple[ModelEntry, ...] | None = None, default: str | None = None, user_file: str | None = None
    ):
        entries = builtin_entries() if entries is None else entries
        self.entries = {e.id: e for e in entries}
        self.aliases = {a: e.id for e in entries for a in e.aliases}
        if user_file:
            from .catalog_file import load_catalog_file

            added, aliases = load_catalog_file(user_file, self.entries)
            # A user's model or alias wins over a built-in one of the same name.
            for e in added:
                self.entries[e.id] = e
                self.aliases.update({a: e.id for a in e.aliases})
            self.aliases.update(aliases)
        self.default = default or entries[0].id
        if self.default not in self.entries:
            raise ModelNotFound(f"default model '{self.default}' is not in the catalog; known: {', '.join(self.entries)}")

    def resolve(self, name: str | None, *, param: str = "model") -> ModelEntry:
        if not name:
            return self.entries[self.default]
        key = self.aliases.get(name, name)
        try:
            return self.entries[key]
        except KeyError:
            known = sorted(self.entries) + sorted(self.aliases)
            raise ModelNotFound(f"Unknown model {shown(name)}. Available models: {', '.join(known)}.", param=param) from None

    def __iter__(self):
        return iter(self.entries.values())

    @classmethod
    def from_settings(cls, settings) -> "Catalog":
        return cls(default=settings.default_model, user_file=settings.catalog or None)
