"""The worker's engine: keeps loaded models resident and runs requests on them.

Loading a real video model takes tens of seconds and gigabytes, so a worker keeps
up to ``max_resident`` adapters loaded, within ``max_resident_bytes`` of device memory
when that is set (0: no budget), unloading the least recently used to make room.
Room is made before a load, from an estimate of the new model's size, so two models
never have to fit side by side; the size measured after loading is what the budget
then keeps. A model bigger than the whole budget still loads, alone.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..catalog import Catalog, ModelEntry
from ..errors import GenerationFailed, ReelforgeError, describe
from .adapters import adapter_class
from .adapters.base import Adapter, GenerateRequest, OnStep
from . import speed
from .device import select_device
from .loader import load_folder, resolve_weights
from .memory import device_bytes, estimated_device_bytes

log = logging.getLogger("reelforge.engine")
GIB = 1024**3


class Engine:
    """Not thread-safe: a worker runs one job at a time on its device."""

    def __init__(self, models_dir: Path, catalog: Catalog, device_pref: str = "auto", max_resident: int = 1,
                 max_resident_bytes: int = 0):
        if max_resident < 1:
            raise ValueError(f"max_resident must be >= 1, got {max_resident}")
        if max_resident_bytes < 0:
            raise ValueError(f"max_resident_bytes must be >= 0 (0: no budget), got {max_resident_bytes}")
        self.models_dir = Path(models_dir)
        self.catalog = catalog
        self.device, self.dtype = select_device(device_pref)
        self.max_resident = max_resident
        self.max_resident_bytes = max_resident_bytes
        self._resident: OrderedDict[str, Adapter] = OrderedDict()
        self._sizes: dict[str, int] = {}  # device bytes of each resident model, measured after loading

    @property
    def resident(self) -> list[str]:
        """Ids of the loaded models, least recently used first."""
        return list(self._resident)

    @property
    def resident_bytes(self) -> int:
        """Device memory the loaded models take together (offloaded weights are host memory and not counted)."""
        return sum(self._sizes.values())

    def adapter(self, model: ModelEntry | str) -> Adapter:
        """The loaded adapter for a catalog entry (or model name), loading it if needed."""
        entry = self.catalog.resolve(model) if isinstance(model, str) else model
        if entry.id in self._resident:
            self._resident.move_to_end(entry.id)
            return self._resident[entry.id]
        adapter_class(entry.family)  # an unknown family fails before any build, download or eviction
        try:
            path = resolve_weights(entry, self.models_dir)
            # Make room first: two real models rarely fit in memory side by side.
            self._make_room(estimated_device_bytes(path, entry.memory, self.device, self.dtype))
            adapter = load_folder(entry, path, self.device, self.dtype)
        except ReelforgeError:
            raise
        except Exception as e:
            raise GenerationFailed(f"could not load model '{entry.id}' on {self.device}: {describe(e)}") from e
        self._resident[entry.id] = adapter
        self._sizes[entry.id] = size = device_bytes(adapter, self.device)
        budget = self.max_resident_bytes
        if budget and size > budget:
            log.warning("model %s takes %.2f GiB of %s memory, more than the whole budget of %.2f GiB "
                        "(max_resident_memory_gb); it runs alone", entry.id, size / GIB, self.device.type, budget / GIB)
        # The estimate can be short (weights loaded from elsewhere); the measurement decides, and
        # the model just loaded is the one that stays.
        while budget and self.resident_bytes > budget and len(self._resident) > 1:
            self.evict(next(iter(self._resident)))
        return adapter

    def _make_room(self, incoming: int) -> None:
        """Evict least recently used models until one more, of ``incoming`` bytes, fits both limits."""
        budget = self.max_resident_bytes
        while self._resident and (
            len(self._resident) >= self.max_resident or (budget and self.resident_bytes + incoming > budget)
        ):
            self.evict(next(iter(self._resident)))

    def evict(self, model_id: str) -> None:
        adapter = self._resident.pop(model_id, None)
        self._sizes.pop(model_id, None)
        if adapter is None:
            return
        del adapter
        # Pipelines hold reference cycles; collect now so the memory is free before the next load.
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()

    def run(self, entry: ModelEntry, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        """Generate ``req`` on ``entry``: uint8 frames (T, H, W, 3).

        Our own errors pass through unchanged (JobCancelled and LeaseLost from ``on_step``,
        ModelUnavailable from loading); anything else the model raises becomes
        GenerationFailed, with the original as ``__cause__``.
        """
        adapter = self.adapter(entry)
        if req.video is not None and not adapter.edits:
            raise GenerationFailed(
                f"model '{entry.id}' ({entry.family}) cannot edit a video: its family has no video-to-video path"
            )
        with self._generating(entry, adapter, req.speed):
            return adapter.generate(req, on_step)

    def run_batch(self, entry: ModelEntry, reqs: list[GenerateRequest], on_step: OnStep) -> list[np.ndarray | GenerationFailed]:
        """Generate compatible requests (``store.batches``) on ``entry`` in one pipeline call where the
        family can: each request's frames, or the GenerationFailed of a sample that alone went wrong.
        A failure of the whole call raises, as ``run`` does."""
        adapter = self.adapter(entry)
        if any(r.video is not None for r in reqs):
            raise GenerationFailed("edits run one at a time, not in a batch")
        with self._generating(entry, adapter, reqs[0].speed):
            return adapter.generate_batch(reqs, on_step)

    @contextlib.contextmanager
    def _generating(self, entry: ModelEntry, adapter: Adapter, tier: str) -> Iterator[None]:
        """One pipeline call at speed ``tier``. Our own errors pass through; anything else the model
        raises becomes GenerationFailed, with the original as ``__cause__``."""
        try:
            with speed.applied(adapter, tier, self.device, threshold=speed.threshold_for(entry)):
                yield
        except ReelforgeError:
            raise
        except Exception as e:
            raise GenerationFailed(f"model '{entry.id}' failed: {type(e).__name__}: {e}") from e
