"""Speed tiers on the tiny random families, through the production loader and adapters: the exact tier
is plain diffusers bit for bit on a CPU, the fast tier really skips transformer work through diffusers'
First Block Cache, and its hooks come off after the call so the next job runs exact again."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reelforge.catalog import Catalog
from reelforge.catalog.entry import CACHE_FAMILIES
from reelforge.cli import main
from reelforge.engine import speed
from reelforge.engine.bench import psnr
from reelforge.engine.bench.plain import plain_call
from reelforge.engine.bench.subjects import bench_request, tiny_adapter
from reelforge.errors import GenerationFailed
from reelforge.engine.adapters.base import to_uint8_frames

CPU = torch.device("cpu")
# One model per family that has a fast tier, as `reelforge bench --tier` runs them.
DIT_MODELS = ("wan2.1-t2v-1.3b", "ltx-video", "cogvideox-2b", "hunyuanvideo")
STEPS = 6


def _adapter(model: str, tmp_path):
    entry = Catalog().resolve(model)
    return entry, tiny_adapter(entry, tmp_path, CPU, torch.float32)


def _run(adapter, req, tier: str, **kw) -> np.ndarray:
    with speed.applied(adapter, tier, CPU, **kw):
        return adapter.generate(req, lambda done, total: None)


def _block_calls(adapter) -> tuple[list[int], list]:
    """A counter of the Linear layers run inside the transformer blocks (the repeated blocks a cache
    skips). The blocks' own calls would not do: the cache swaps a skipped block's forward for one that
    returns the cached output, and the block's forward hooks still fire."""
    calls = [0]

    def count(*_):
        calls[0] += 1

    hooks = []
    for module in speed.transformers_of(adapter):
        blocks = [m for name, m in module.named_children() if isinstance(m, torch.nn.ModuleList)]
        for block in (b for blocks_ in blocks for b in blocks_):
            hooks += [m.register_forward_hook(count) for m in block.modules() if isinstance(m, torch.nn.Linear)]
    return calls, hooks


def test_the_catalog_and_the_engine_agree_on_which_families_have_a_fast_tier():
    assert {Catalog().resolve(m).family for m in DIT_MODELS} == CACHE_FAMILIES
    for entry in Catalog():
        assert entry.speeds == (("exact", "fast") if entry.family in CACHE_FAMILIES else ("exact",))
        assert entry.default_speed in entry.speeds


@pytest.mark.parametrize("model", DIT_MODELS)
def test_exact_is_plain_diffusers_and_fast_skips_blocks_then_comes_off(model, tmp_path):
    entry, adapter = _adapter(model, tmp_path)
    req = bench_request(entry, tiny=True, steps=STEPS)
    plain = to_uint8_frames(plain_call(adapter, req)(lambda pipe, i, t, kw: kw).frames, req)
    exact = _run(adapter, req, "exact")
    assert psnr(exact, plain) == float("inf")  # bit-identical on CPU

    calls, hooks = _block_calls(adapter)
    _run(adapter, req, "exact")
    full = calls[0]
    calls[0] = 0
    # A threshold no residual change reaches: every step after the first reuses the cache.
    fast = _run(adapter, req, "fast", threshold=1e9)
    skipped = calls[0]
    for h in hooks:
        h.remove()
    # The first block always runs (it decides); on these two-block tiny models the rest is what is saved.
    assert full > 0 and skipped < full * 0.8, (full, skipped)
    assert fast.shape == exact.shape and fast.dtype == np.uint8
    assert psnr(fast, exact) < float("inf")  # lossy: it did change the result
    # The hooks came off with the call: the next exact job is plain diffusers again.
    assert all(not getattr(m, "is_cache_enabled", False) for m in speed.transformers_of(adapter))
    assert psnr(_run(adapter, req, "exact"), plain) == float("inf")


def test_a_failing_fast_call_still_takes_its_hooks_off(tmp_path):
    entry, adapter = _adapter("ltx-video", tmp_path)
    req = bench_request(entry, tiny=True, steps=STEPS)

    def cancel(done, total):
        raise KeyboardInterrupt  # as a cancel raises out of on_step

    with pytest.raises(KeyboardInterrupt):
        with speed.applied(adapter, "fast", CPU):
            adapter.generate(req, cancel)
    assert all(not m.is_cache_enabled for m in speed.transformers_of(adapter))


def test_a_unet_family_has_no_fast_tier(tmp_path):
    entry, adapter = _adapter("animatediff-v1-5-2", tmp_path)
    assert entry.speeds == ("exact",)
    with pytest.raises(GenerationFailed, match="no fast tier"):
        with speed.applied(adapter, "fast", CPU):
            pass


def test_bench_tier_prints_speed_and_psnr_against_plain_diffusers(capsys):
    assert main(["bench", "--model", "ltx-video", "--tiny", "--tier", "exact", "--repeats", "1", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["tier"] == "exact" and body["bit_identical"] is True and body["psnr_db"] is None
    assert body["ratio"]["seconds_per_video"] > 0
    assert main(["bench", "--model", "ltx-video", "--tiny", "--tier", "fast", "--steps", "8", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "speed tier: fast (cache: FirstBlockCache(threshold=0.1)); PSNR ours vs plain on the same seed:" in out
    assert main(["bench", "--model", "animatediff-v1-5-2", "--tiny", "--tier", "fast"]) == 2
