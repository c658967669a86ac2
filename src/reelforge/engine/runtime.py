"""The worker's engine: keeps loaded models resident and runs requests on them.

Loading a real video model takes tens of seconds and gigabytes, so a worker keeps
the last ``max_resident`` adapters loaded (least recently used goes first) and
loads the next one only after making room.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..catalog import Catalog, ModelEntry
from ..errors import GenerationFailed, ReelforgeError
from .adapters.base import Adapter, GenerateRequest, OnStep
from .device import select_device
from .loader import load_adapter


class Engine:
    """Not thread-safe: a worker runs one job at a time on its device."""

    def __init__(self, models_dir: Path, catalog: Catalog, device_pref: str = "auto", max_resident: int = 1):
        if max_resident < 1:
            raise ValueError(f"max_resident must be >= 1, got {max_resident}")
        self.models_dir = Path(models_dir)
        self.catalog = catalog
        self.device, self.dtype = select_device(device_pref)
        self.max_resident = max_resident
        self._resident: OrderedDict[str, Adapter] = OrderedDict()

    @property
    def resident(self) -> list[str]:
        """Ids of the loaded models, least recently used first."""
        return list(self._resident)

    def adapter(self, model: ModelEntry | str) -> Adapter:
        """The loaded adapter for a catalog entry (or model name), loading it if needed."""
        entry = self.catalog.resolve(model) if isinstance(model, str) else model
        if entry.id in self._resident:
            self._resident.move_to_end(entry.id)
            return self._resident[entry.id]
        # Make room first: two real models rarely fit in memory side by side.
        while len(self._resident) >= self.max_resident:
            self.evict(next(iter(self._resident)))
        try:
            adapter = load_adapter(entry, self.models_dir, self.device, self.dtype)
        except ReelforgeError:
            raise
        except Exception as e:
            raise GenerationFailed(f"could not load model '{entry.id}' on {self.device}: {e}") from e
        self._resident[entry.id] = adapter
        return adapter

    def evict(self, model_id: str) -> None:
        adapter = self._resident.pop(model_id, None)
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
        try:
            return adapter.generate(req, on_step)
        except ReelforgeError:
            raise
        except Exception as e:
            raise GenerationFailed(f"model '{entry.id}' failed: {type(e).__name__}: {e}") from e
