"""Which torch device and dtype a worker runs on."""

from __future__ import annotations

import torch

from ..errors import Unavailable

PREFERENCES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def _dtype_for(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        # bf16 has fp32's range, so T5 encoders and video VAEs don't overflow; pre-Ampere
        # cards lack it and get fp16, which is what those cards were used with anyway.
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        # Not float16: the T5 text encoders of LTX, Wan and CogVideoX overflow to inf in
        # fp16 (a long-known T5 issue) and the video comes out NaN/black. bf16 keeps the
        # memory saving where the MPS backend has it (macOS 14+); otherwise float32.
        try:
            torch.zeros(1, dtype=torch.bfloat16, device=device)
            return torch.bfloat16
        except (RuntimeError, TypeError):
            return torch.float32
    # CPU: float32 is the fast, exact path for the tiny model; CPU bf16 matmuls are slow
    # on most hosts.
    return torch.float32


def select_device(preference: str = "auto") -> tuple[torch.device, torch.dtype]:
    """The device for ``preference`` (auto, cuda, mps or cpu) and the dtype to load weights in.

    "auto" picks cuda, then mps, then cpu. Naming a device that is not there raises
    ``Unavailable`` rather than silently running on the CPU.
    """
    pref = (preference or "auto").lower()
    if pref not in PREFERENCES and not pref.startswith("cuda:"):
        raise ValueError(f"unknown device {preference!r}; expected one of {', '.join(PREFERENCES)} (or cuda:N)")
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise Unavailable(f"device {preference!r} was requested but CUDA is not available to torch {torch.__version__}")
    if pref == "mps" and not _mps_available():
        raise Unavailable(f"device {preference!r} was requested but MPS is not available to torch {torch.__version__}")
    device = torch.device(pref)
    return device, _dtype_for(device)


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads for torch ops (0 or less: leave torch's default, one per core)."""
    if n > 0:
        torch.set_num_threads(n)
