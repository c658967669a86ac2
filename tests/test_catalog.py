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
