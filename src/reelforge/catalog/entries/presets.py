"""What the family files share: task sets, size menus and memory policies."""

from __future__ import annotations

from ...jobs import Task
from ..entry import MemoryPolicy, OptionSpec

T2V = frozenset({Task.T2V})
I2V = frozenset({Task.I2V})
BOTH = frozenset({Task.T2V, Task.I2V})
# Families with a video-to-video path (the built-in model's SDEdit; Wan 2.1 T2V, CogVideoX T2V and
# AnimateDiff through diffusers' *VideoToVideoPipeline) list Task.EDIT and this option. Extensions need
# no entry of their own: every image-to-video model extends (service.specs.can).
T2V_EDIT = frozenset({Task.T2V, Task.EDIT})
STRENGTH = OptionSpec("strength", float, 0.05, 1.0, 0.6,
                      "edits: share of the source video re-noised (low keeps it, 1 keeps only a rough layout)")

P480 = {"16:9": "832x480", "9:16": "480x832"}
P720 = {"16:9": "1280x720", "9:16": "720x1280"}


# Memory policies (weights in bf16 on an accelerator; see entry.MEMORY_POLICIES). Models whose weights,
# text encoder included, fit a 24 GB card with room for activations stay resident; bigger ones offload whole
# components, which diffusers' docs recommend for them on 24-80 GB cards. Every video VAE that can tile
# does: decoding 720p or long clips in one piece takes more memory than the denoiser.
RESIDENT = MemoryPolicy()
RESIDENT_TILED = MemoryPolicy("resident", vae_tiling=True)
OFFLOAD_TILED = MemoryPolicy("model_offload", vae_tiling=True)


def sizes_of(*menus: dict[str, str]) -> tuple[str, ...]:
    return tuple(size for menu in menus for size in menu.values())
