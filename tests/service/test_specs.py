from __future__ import annotations

import pytest

from reelforge.catalog import Catalog
from reelforge.errors import InvalidRequest
from reelforge.jobs import Task
from reelforge.service.specs import VideoRequest, build_spec

# Spec rules are tested against the tiny LTX entry: its 8k+1 frame rule exercises more of them than the
# built-in default model, which takes any frame count.
CAT = Catalog(default="ltx-tiny-random")


def test_the_builtin_default_model_fills_its_own_defaults():
    s = build_spec(Catalog(), VideoRequest(prompt="a red ball rolling left"))
    assert (s.model, s.task, s.width, s.height, s.seconds, s.fps, s.num_frames) == ("reelforge-tiny", Task.T2V, 720, 1280, 4, 8, 32)
    assert s.num_inference_steps == 20 and s.guidance_scale == 4.0
    assert build_spec(Catalog(), VideoRequest(prompt="x", num_frames=7)).num_frames == 7  # any count is legal


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


IMG = b"image bytes are decoded later; the rules only need to know one was sent"


@pytest.mark.parametrize(
    "kw, param, fragment",
    [
        ({"model": "wan2.1-t2v-1.3b", "num_frames": 80}, "num_frames", "4k+1"),
        ({"model": "ltx-video", "size": "1216x704", "seconds": 8}, "seconds", "At 720p it offers: 2, 4, 6"),
        ({"model": "wan2.1-t2v-1.3b", "image": IMG}, "input_reference", "does not support image-to-video"),
        ({"model": "svd-xt"}, "model", "does not support text-to-video"),
        ({"model": "wan2.1-t2v-14b", "loras": [("detail", 0.8)]}, "loras", "does not support LoRAs"),
        ({"model": "animatediff-v1-5-2", "loras": [("detail", 5.0)]}, "loras[0].strength", "between -2.0 and 2.0"),
        ({"model": "wan2.1-i2v-14b-480p", "image": IMG, "last_image": IMG}, "last_frame", "last frame"),
        ({"model": "wan2.1-t2v-1.3b", "options": {"motion_bucket_id": 100}}, "motion_bucket_id", "Its options: "),
        ({"model": "svd-xt", "image": IMG, "options": {"motion_bucket_id": 300}}, "motion_bucket_id", "between 1 and 255"),
        ({"model": "svd-xt", "image": IMG, "options": {"motion_bucket_id": 1.5}}, "motion_bucket_id", "integer"),
        ({"style": "watercolour"}, "style", "anime, 3d_animation, clay, comic, cyberpunk"),
        ({"model": "wan2.1-t2v-1.3b", "segments": [("a", 41), ("b", 40)]}, "prompts", "neither prompt travel"),
        ({"model": "wan2.2-ti2v-5b", "segments": [("a", 41), ("b", 40)]}, "prompts[1].frames", "4k+1"),
        ({"model": "animatediff-v1-5-2", "segments": [("a", 8), ("b", 8)], "num_frames": 24}, "prompts", "add up to 16"),
        ({"model": "animatediff-v1-5-2", "segments": [("a", 8), ("", 8)]}, "prompts[1].prompt", "non-empty"),
        ({"model": "cogvideox-5b", "size": "1280x720"}, "size", "720x480"),
        ({"model": "svd", "image": IMG, "seconds": 3}, "seconds", "Allowed: 2"),
        ({"model": "wan2.1-flf2v-14b-720p", "image": IMG}, "last_frame", "send both"),
        ({"model": "svd", "image": IMG, "resize_method": "stretch"}, "resize_method",
         "crop, maintain_aspect_ratio, crop_to_16_9"),
        ({"model": "svd", "image": IMG, "resize_method": "crop_to_16_9", "size": "576x1024"}, "size", "1024x576"),
    ],
    ids=["wan-frame-rule", "duration-at-resolution", "i2v-on-t2v-model", "t2v-on-i2v-model", "lora-unsupported",
         "lora-strength", "last-frame-unsupported", "unknown-option", "option-range", "option-integer", "style",
         "segments-unsupported", "segment-frame-rule", "segments-sum", "segment-prompt", "size-menu", "duration-menu",
         "flf2v-needs-last-frame", "resize-method", "crop-to-16-9-size"],
)
def test_each_invalid_combination_is_rejected_with_what_is_allowed(kw, param, fragment):
    with pytest.raises(InvalidRequest) as info:
        build_spec(CAT, VideoRequest(prompt="x", **kw))
    assert info.value.param == param
    assert fragment in info.value.message


def test_valid_combinations_pass_and_are_recorded():
    s = build_spec(CAT, VideoRequest(prompt="x", model="ltx-video", size="704x480", seconds=8))
    assert s.num_frames == 193
    s = build_spec(CAT, VideoRequest(prompt="x", model="animatediff-v1-5-2", segments=[("a", 8), ("b", 8)],
                                     loras=[("detail", 0.7)], style="anime", options={"clip_skip": 2}))
    assert (s.num_frames, s.segments, s.loras, s.style, s.options) == (16, (("a", 8), ("b", 8)), (("detail", 0.7),),
                                                                       "anime", {"clip_skip": 2})
    s = build_spec(CAT, VideoRequest(prompt="x", model="wan2.1-flf2v-14b-720p", image=IMG, last_image=IMG))
    assert s.task.value == "i2v"
    s = build_spec(CAT, VideoRequest(prompt="x", model="svd-xt", image=IMG, options={"motion_bucket_id": 180}))
    assert s.options == {"motion_bucket_id": 180} and s.num_frames == 14


@pytest.mark.parametrize("image_size, expected", [((1000, 1000), (768, 768)), ((1920, 1080), (1024, 576)),
                                                   ((1080, 1920), (576, 1024)), ((5000, 500), (1152, 448))])
def test_maintain_aspect_ratio_takes_the_frame_from_the_image(image_size, expected):
    """Segmind's default: the video keeps the image's aspect ratio at SVD's pixel count (1024x576),
    on its 64-pixel grid; a panorama is held to 21:9."""
    s = build_spec(CAT, VideoRequest(prompt="x", model="svd", image=IMG, resize_method="maintain_aspect_ratio"),
                   image_size=image_size)
    assert (s.width, s.height) == expected and s.resize_method == "maintain_aspect_ratio"
    assert s.width * s.height <= 1024 * 576


def test_maintain_aspect_ratio_and_an_explicit_size_conflict():
    with pytest.raises(InvalidRequest, match="disagree") as info:
        build_spec(CAT, VideoRequest(prompt="x", model="svd", image=IMG, size="1024x576",
                                     resize_method="maintain_aspect_ratio"), image_size=(10, 10))
    assert info.value.param == "size"


def test_crop_to_16_9_picks_the_wide_size():
    s = build_spec(CAT, VideoRequest(prompt="x", model="svd", image=IMG, resize_method="crop_to_16_9"),
                   image_size=(1000, 1000))
    assert (s.width, s.height, s.resize_method) == (1024, 576, "crop_to_16_9")
    assert build_spec(CAT, VideoRequest(prompt="x", model="svd", image=IMG), image_size=(10, 10)).resize_method == "crop"


@pytest.mark.parametrize("model", ["ltx-video-0.9.5", "ltx-tiny-random"])
def test_a_last_frame_on_a_keyframe_ltx_model_is_accepted(model):
    s = build_spec(CAT, VideoRequest(prompt="x", model=model, image=IMG, last_image=IMG))
    assert s.task is Task.I2V and s.model == model
    # LTX 0.9.0 predates keyframes: its entry still refuses a last frame.
    with pytest.raises(InvalidRequest, match="does not take a last frame") as info:
        build_spec(CAT, VideoRequest(prompt="x", model="ltx-video", image=IMG, last_image=IMG))
    assert info.value.param == "last_frame"


@pytest.mark.parametrize("image", [None, "png"])
def test_an_edit_strength_on_a_job_that_is_not_an_edit_is_refused_not_ignored(image):
    # reelforge-tiny lists 'strength' among its options because it edits; a text- or image-to-video
    # job would not use it.
    img = IMG if image else None
    with pytest.raises(InvalidRequest, match="applies only to edits") as info:
        build_spec(Catalog(), VideoRequest(prompt="x", image=img, options={"strength": 0.5}))
    assert info.value.param == "strength"
    assert build_spec(Catalog(), VideoRequest(prompt="x", task=Task.EDIT, options={"strength": 0.5})).options == {"strength": 0.5}


def test_the_speed_tier_defaults_to_the_models_and_is_checked_against_its_family():
    assert build_spec(CAT, VideoRequest(prompt="x")).speed == "exact"
    assert build_spec(CAT, VideoRequest(prompt="x", speed="fast")).speed == "fast"  # LTX: a transformer
    with pytest.raises(InvalidRequest, match="no 'fast' speed tier.*Allowed: exact") as info:
        build_spec(Catalog(), VideoRequest(prompt="x", speed="fast"))  # the built-in model: no DiT cache
    assert info.value.param == "speed"
    with pytest.raises(InvalidRequest, match="Invalid speed 'turbo'. Allowed for model 'ltx-tiny-random': exact, fast"):
        build_spec(CAT, VideoRequest(prompt="x", speed="turbo"))
