from __future__ import annotations

import pytest

from reelforge.catalog import Catalog, FrameRule
from reelforge.errors import ModelNotFound


def test_frame_rule():
    r = FrameRule(8, 1)
    assert [n for n in range(1, 30) if r.allows(n)] == [1, 9, 17, 25]
    assert r.at_least(32) == 33 and r.at_least(33) == 33 and str(r) == "8k+1"


def test_aliases_and_unknown_models():
    c = Catalog()
    assert c.resolve("sora-2").id == c.resolve(None).id == "ltx-tiny-random"
    with pytest.raises(ModelNotFound, match="Available models: .*ltx-tiny-random"):
        c.resolve("nope")


def test_native_size_keeps_aspect_on_the_grid():
    e = Catalog().resolve(None)
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
