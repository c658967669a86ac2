from __future__ import annotations

import pytest

from reelforge.catalog import Catalog, FrameRule, MemoryPolicy
from reelforge.errors import ModelNotFound


def test_frame_rule():
    r = FrameRule(8, 1)
    assert [n for n in range(1, 30) if r.allows(n)] == [1, 9, 17, 25]
    assert r.at_least(32) == 33 and r.at_least(33) == 33 and str(r) == "8k+1"


def test_aliases_and_unknown_models():
    c = Catalog()
    assert c.resolve("sora-2").id == c.resolve(None).id == "reelforge-tiny"
    with pytest.raises(ModelNotFound, match="Available models: .*reelforge-tiny"):
        c.resolve("nope")


def test_native_size_keeps_aspect_on_the_grid():
    e = Catalog().resolve("ltx-tiny-random")
    assert e.native_size(720, 1280) == (64, 128)
    assert e.native_size(1280, 720) == (128, 64)
    assert e.native_size(256, 256) == (96, 96)


@pytest.mark.parametrize("entry", list(Catalog()), ids=lambda e: e.id)
def test_every_entry_keeps_its_own_promises(entry):
    assert entry.default_size in entry.sizes and entry.default_seconds in entry.durations
    for seconds in entry.durations:
        n = entry.frames_for(seconds, entry.fps)
        assert entry.frame_rule.allows(n) and n <= entry.max_frames, (seconds, n)
    for size in entry.sizes:
        w, h = (int(v) for v in size.split("x"))
        nw, nh = entry.native_size(w, h)
        assert nw % entry.native_multiple == 0 and nh % entry.native_multiple == 0
    for label, allowed in entry.durations_by_resolution.items():
        assert label in entry.resolutions and set(allowed) <= set(entry.durations)
    for by_aspect in entry.resolutions.values():
        assert set(by_aspect.values()) <= set(entry.sizes)


def test_memory_policy_names_the_bad_value_and_the_allowed_ones():
    assert MemoryPolicy().policy == "resident" and not MemoryPolicy().vae_tiling
    with pytest.raises(ValueError, match="unknown memory policy 'cpu_offload'; allowed: resident, model_offload, "
                                         "sequential_offload"):
        MemoryPolicy("cpu_offload")


def test_big_models_offload_and_video_vaes_tile_where_they_can():
    c = Catalog()
    for model in ("wan2.1-t2v-14b", "wan2.2-i2v-a14b", "hunyuanvideo", "cogvideox-5b"):
        assert c.resolve(model).memory == MemoryPolicy("model_offload", vae_tiling=True), model
    for model in ("ltx-video", "ltx-video-0.9.5", "wan2.1-t2v-1.3b", "cogvideox-2b"):
        assert c.resolve(model).memory == MemoryPolicy("resident", vae_tiling=True), model
    # SVD's temporal VAE decoder cannot tile (decode_chunk_size bounds its memory instead).
    assert not c.resolve("svd-xt").memory.vae_tiling
    assert c.resolve("ltx-tiny-random").memory == MemoryPolicy()


def test_only_ltx_checkpoints_from_0_9_5_take_keyframes():
    c = Catalog()
    keyframes = c.resolve("ltx-video-0.9.5")
    assert keyframes.keyframes and keyframes.source == "Lightricks/LTX-Video-0.9.5"
    assert not c.resolve("ltx-video").keyframes
    assert c.resolve("ltx-tiny-random").keyframes
