"""One catalog entry: what a model can do, its limits and defaults, and the vocabulary they use
(frame rules, options, memory policies, styles, sizes)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..jobs import Task

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

# Speed tiers (engine/speed.py). "exact": only changes that leave the result as plain diffusers makes
# it (attention backend, regional compile on CUDA). "fast": diffusers' First Block Cache, which skips
# the rest of the transformer on steps whose first block changed little. It hooks a DiT's repeated
# blocks, so only these transformer families have it; UNet families (AnimateDiff, SVD) and the
# built-in model have the exact tier alone.
SPEEDS = ("exact", "fast")
CACHE_FAMILIES = frozenset({"wan", "ltx", "cogvideox", "hunyuan"})


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
    # Most compatible jobs one pipeline call may run together (the worker's max_batch caps it). 1 unless
    # the family's adapter takes per-sample lists and a test shows a seed gives the same clip batched.
    max_batch: int = 1
    # The tier a request that names none gets; "fast" only where ``speeds`` has it.
    default_speed: str = "exact"
    # Menus for the vendor surfaces: resolution label -> aspect ratio -> "WxH", and the durations a
    # resolution allows (a label missing here allows every entry of ``durations``).
    resolutions: dict = field(default_factory=dict, hash=False, compare=False)
    durations_by_resolution: dict = field(default_factory=dict, hash=False, compare=False)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def speeds(self) -> tuple[str, ...]:
        """The speed tiers this model runs."""
        return SPEEDS if self.family in CACHE_FAMILIES else ("exact",)

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    def resolution_of(self, size: str) -> str | None:
        """The resolution label ("480p", "720p", ...) of ``size``: the menu's that offers it, or, for a
        model without menus (the built-in one), its short side, the name vendor menus use. Pricing tiers
        and the Syllaby menu both name sizes by it, so a catalog file's "720p" tier is the size every
        dialect shows as 720p. None for a size off a model's menus."""
        if not self.resolutions:
            return f"{min(parse_size(size))}p" if size in self.sizes else None
        for label, by_aspect in self.resolutions.items():
            if size in by_aspect.values():
                return label
        return None

    def resolution_labels(self) -> tuple[str, ...]:
        """Every label ``resolution_of`` gives this model's sizes, in menu (or size) order."""
        return tuple(dict.fromkeys(label for s in self.sizes if (label := self.resolution_of(s)) is not None))

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """Generation size for a requested output size: same aspect, within the pixel budget, on the grid."""
        scale = min(1.0, math.sqrt(self.native_max_pixels / (width * height)))
        m = self.native_multiple

        def snap(v: float) -> int:
            return max(m, int(round(v / m)) * m)

        return snap(width * scale), snap(height * scale)

    def frames_for(self, seconds: int, fps: int) -> int:
        return self.frame_rule.at_least(seconds * fps)
