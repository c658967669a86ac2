"""Where a loaded model's weights live, and how much device memory a model takes.

A catalog entry's ``MemoryPolicy`` is applied here, once, after its adapter loads, to every
pipeline the adapter holds. The Engine uses the sizes measured and estimated here to keep
its loaded models within a memory budget.
"""

from __future__ import annotations

import itertools
import json
import logging
import struct
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from ..catalog import MemoryPolicy
from .adapters.base import Adapter

log = logging.getLogger("reelforge.engine")

_OFFLOAD_DEVICES = ("cuda", "mps")


def placement(memory: MemoryPolicy, device: torch.device) -> str:
    """The policy that actually runs on ``device``.

    Offloading moves weights to host memory between uses, so it only saves anything when the
    device has memory of its own. On a CPU the weights already live in host memory (diffusers
    refuses with "requires accelerator"), so every policy runs resident there.
    """
    return memory.policy if device.type in _OFFLOAD_DEVICES else "resident"


def load_device(memory: MemoryPolicy, device: torch.device) -> torch.device:
    """Where an adapter should load its weights: the CPU when they will be offloaded.

    Loading a 14B model onto a 24 GB card first and offloading it afterwards would run out of
    memory before the offload hooks exist; the hooks move each component onto ``device`` when it runs.
    """
    return torch.device("cpu") if placement(memory, device) != "resident" else device


def pipelines(adapter: Adapter) -> list[DiffusionPipeline]:
    """Every pipeline ``adapter`` holds, including those of adapters it wraps (fast-svd wraps svd).

    Found by looking at its attributes, so the policy reaches every variant an adapter builds
    from shared components (LTX's t2v, i2v and keyframe pipelines) without each adapter listing them.
    """
    found: list[DiffusionPipeline] = []
    for value in vars(adapter).values():
        if isinstance(value, DiffusionPipeline):
            found.append(value)
        elif isinstance(value, Adapter):
            found.extend(pipelines(value))
    return _unique(found)


def apply_memory_policy(adapter: Adapter, memory: MemoryPolicy, device: torch.device, model_id: str) -> None:
    """Install ``memory`` on every pipeline of a freshly loaded ``adapter``."""
    pipes = pipelines(adapter)
    policy = placement(memory, device)
    if policy != memory.policy:
        log.info("model %s: memory policy %s runs resident on %s (its weights are in host memory already)",
                 model_id, memory.policy, device)
    # Offload hooks sit on the shared modules, but each pipeline re-arms them (and moves everything
    # back to the host) at the end of its own call, so every pipeline built from the components needs
    # the policy, not just the one that was loaded.
    for pipe in pipes:
        if policy == "model_offload":
            pipe.enable_model_cpu_offload(device=device)
        elif policy == "sequential_offload":
            pipe.enable_sequential_cpu_offload(device=device)
    if memory.vae_tiling:
        for vae in _unique(getattr(p, "vae", None) for p in pipes):
            # diffusers' own test for tiling support: SVD's AutoencoderKLTemporalDecoder has none and
            # raises NotImplementedError (it bounds decode memory with decode_chunk_size instead).
            if hasattr(vae, "use_tiling"):
                vae.enable_tiling()
            else:
                log.info("model %s: %s has no tiled decoding; vae_tiling is ignored", model_id, type(vae).__name__)


def device_bytes(adapter: Adapter, device: torch.device) -> int:
    """Bytes of ``adapter``'s parameters and buffers that live on ``device``'s kind of memory.

    Offloaded weights sit in host memory between uses (model offload) or only ever visit the
    device a layer at a time (sequential offload, which leaves them on the meta device), so on an
    accelerator they count as host memory, not here. On a CPU worker everything is host memory
    and everything counts.
    """
    seen: set[int] = set()
    total = 0
    for module in _unique(m for p in pipelines(adapter) for m in p.components.values()):
        if not isinstance(module, torch.nn.Module):
            continue
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            if id(tensor) in seen or tensor.device.type != device.type:
                continue
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


def estimated_device_bytes(path: Path, memory: MemoryPolicy, device: torch.device, dtype: torch.dtype) -> int:
    """What loading the diffusers folder ``path`` will put on ``device``, before loading it.

    Read from the safetensors headers (tensor shapes and dtypes, a few KB per file), with
    floating-point weights at ``dtype`` as ``from_pretrained(dtype=...)`` casts them; other weight
    files count by their size. It is an estimate: weights an adapter loads from elsewhere (a motion
    adapter, a second pipeline) are missing, and a folder holding the same weights in several
    variants counts them all; the size measured after loading is what the budget keeps.
    """
    if placement(memory, device) != "resident":
        return 0
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, ValueError):
        return 0
    total = 0
    for name, spec in index.items():
        folder = path / name
        if name.startswith("_") or not isinstance(spec, list) or not folder.is_dir():
            continue
        files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
        for f in files:
            total += _safetensors_bytes(f, dtype) if f.suffix == ".safetensors" else f.stat().st_size
    return total


# safetensors dtype names -> bytes per element.
_ELEMENT = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
            "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_FLOATS = {"F64", "F32", "F16", "BF16"}


def _safetensors_bytes(path: Path, dtype: torch.dtype) -> int:
    # The format: an 8-byte little-endian header length, then a JSON header of
    # {name: {"dtype", "shape", "data_offsets"}}; reading it costs nothing next to loading.
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error):
        return path.stat().st_size
    size = torch.empty((), dtype=dtype).element_size()
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        numel = 1
        for d in info["shape"]:
            numel *= d
        total += numel * (size if info["dtype"] in _FLOATS else _ELEMENT.get(info["dtype"], 4))
    return total


def _unique(items) -> list:
    out: list = []
    for item in items:
        if item is not None and all(item is not o for o in out):
            out.append(item)
    return out
