from __future__ import annotations

import pytest

from reelforge.catalog import Catalog
from reelforge.errors import InvalidRequest
from reelforge.jobs import Task
from reelforge.service.specs import VideoRequest, build_spec

CAT = Catalog()


def test_defaults_are_filled_and_echoable():
    s = build_spec(CAT, VideoRequest(prompt="a cat"))
    assert (s.model, s.task, s.width, s.height, s.seconds, s.fps, s.num_frames) == ("ltx-tiny-random", Task.T2V, 720, 1280, 4, 8, 33)
    assert 0 <= s.seed < 2**32 and s.num_inference_steps == 8


def test_seconds_map_to_legal_frame_counts():
    assert build_spec(CAT, VideoRequest(prompt="x", seconds=8)).num_frames == 65
    assert build_spec(CAT, VideoRequest(prompt="x", seconds=12)).num_frames == 97


def test_explicit_frames_win_and_must_follow_the_rule():
    s = build_spec(CAT, VideoRequest(prompt="x", num_frames=17))
    assert s.num_frames == 17 and s.seconds == 2
    with pytest.raises(InvalidRequest, match="8k\\+1") as info:
        build_spec(CAT, VideoRequest(prompt="x", num_frames=16))
    assert info.value.param == "num_frames"


@pytest.mark.parametrize(
    "kw, param",
    [({"prompt": "  "}, "prompt"), ({"prompt": "x" * 32001}, "prompt"), ({"size": "1x1"}, "size"),
     ({"seconds": 5}, "seconds"), ({"fps": 0}, "fps"), ({"num_inference_steps": 101}, "num_inference_steps"),
     ({"guidance_scale": -1}, "guidance_scale"), ({"seed": 2**32}, "seed"), ({"seconds": 12, "fps": 30}, "seconds"),
     ({"model": "unknown"}, "model")],
)
def test_each_rule_names_its_param(kw, param):
    kw = {"prompt": "x", **kw}
    with pytest.raises(InvalidRequest) as info:
        build_spec(CAT, VideoRequest(**kw))
    assert info.value.param == param
    assert info.value.message
