"""The fitting rules (service.fitting), one test per rule, on real catalog entries."""

from __future__ import annotations

from reelforge.catalog import Catalog
from reelforge.service.fitting import fit, nearest_frames, nearest_seconds, nearest_size
from reelforge.service.specs import MAX_SEED, VideoRequest

CATALOG = Catalog()
LTX = CATALOG.resolve("ltx-tiny-random")  # 8k+1 frames, no options, no LoRAs
WAN = CATALOG.resolve("wan2.2-ti2v-5b")
ANIMATEDIFF = CATALOG.resolve("animatediff-v1-5-2")
TINY = CATALOG.resolve("reelforge-tiny")


def test_nearest_size_is_aspect_first_then_pixel_count():
    assert nearest_size(WAN, 640, 360) == "1280x704" and nearest_size(WAN, 1080, 1920) == "704x1280"
    # 1792x1024 is 7:4, within 0.1 of 16:9 in log space, and nearer 1920x1080's pixel count than 1280x720.
    assert nearest_size(LTX, 1920, 1080) == "1792x1024" and nearest_size(LTX, 1280, 720) == "1280x720"
    assert nearest_size(LTX, 360, 360) == "256x256" and nearest_size(LTX, 300, 300) == "256x256"
    assert nearest_size(ANIMATEDIFF, 600, 400) == "768x512" and nearest_size(ANIMATEDIFF, 1024, 1024) == "512x512"


def test_nearest_frames_and_seconds():
    assert [nearest_frames(LTX, n) for n in (8, 12, 32, 64, 14, 25)] == [9, 9, 33, 65, 17, 25]
    assert nearest_frames(LTX, 10_000) == LTX.max_frames
    assert nearest_seconds(WAN, "1280x704", 8) == 5
    assert nearest_seconds(LTX, "1280x720", 5) == 4 and nearest_seconds(LTX, "1280x720", 6) == 8  # ties go longer


def test_a_strict_request_passes_through_unchanged():
    req = VideoRequest(prompt="p", size="999x999", num_frames=14, fps=500, seed=MAX_SEED + 5)
    fitted, adjustments = fit(LTX, req)
    assert fitted is req and adjustments == []


def test_every_fitted_value_is_reported_under_its_wire_name():
    req = VideoRequest(prompt="p", fit=True, num_frames=14, fps=90, seed=MAX_SEED + 8, num_inference_steps=500,
                       guidance_scale=99.0, options={"motion_bucket_id": 127}, loras=[("x", 1.0)],
                       params={"num_frames": "frames", "options.motion_bucket_id": "motion"})
    fitted, adjustments = fit(LTX, req)
    by_field = {a.field: a for a in adjustments}
    assert (fitted.num_frames, by_field["frames"].asked, by_field["frames"].used) == (17, 14, 17)
    assert fitted.fps == by_field["fps"].used == LTX.fps_range[1]
    assert fitted.seed == by_field["seed"].used == 7
    assert fitted.num_inference_steps == LTX.max_steps and fitted.guidance_scale == LTX.guidance_range[1]
    assert fitted.options == {} and by_field["motion"].asked == 127 and by_field["motion"].used is None
    assert fitted.loras is None and by_field["loras"].used is None and "takes no LoRAs" in by_field["loras"].reason
    assert all(a.reason for a in adjustments)


def test_shapes_fit_to_a_size_and_say_so_only_when_it_changed():
    square, _ = fit(TINY, VideoRequest(prompt="p", fit=True, aspect_ratio="1:1", params={"size": "aspect_ratio"}))
    assert square.size == "512x512"  # the default's pixel count, in the shape asked: nothing to report
    fitted, adjustments = fit(TINY, VideoRequest(prompt="p", fit=True, aspect_ratio="16:9", short_side=1080))
    assert fitted.size == "1792x1024"
    assert [(a.field, a.asked, a.used) for a in adjustments] == [("size", "16:9 at 1080p (1920x1080)", "1792x1024")]
    exact, none = fit(TINY, VideoRequest(prompt="p", fit=True, aspect_ratio="16:9", short_side=720))
    assert exact.size == "1280x720" and none == []
    # A short side with no shape takes the input image's.
    fitted, _ = fit(TINY, VideoRequest(prompt="p", fit=True, short_side=720), image_size=(300, 600))
    assert fitted.size == "720x1280"


def test_segments_without_prompt_travel_each_become_a_legal_clip():
    req = VideoRequest(prompt="p", fit=True, segments=[("a", 8), ("b", 32)], params={"segments": "prompts"})
    fitted, adjustments = fit(LTX, req)
    assert fitted.segments == [("a", 9), ("b", 33)]
    assert [a.field for a in adjustments] == ["prompts[0].frames", "prompts[1].frames"]
    travel, none = fit(ANIMATEDIFF, req)
    assert travel.segments == [("a", 8), ("b", 32)] and none == []


def test_a_stand_in_is_fitted_even_on_a_strict_dialect():
    fitted, adjustments = fit(LTX, VideoRequest(prompt="p", num_frames=14), stand_in=True)
    assert fitted.num_frames == 17 and "stand-in" in adjustments[0].reason


def test_unsupported_vendor_fields_are_reported_as_dropped():
    req = VideoRequest(prompt="p", unsupported={"lip_sync_tts_content": ("hi", "no model here makes sound")})
    _, adjustments = fit(TINY, req)
    assert [(a.field, a.asked, a.used, a.reason) for a in adjustments] == [
        ("lip_sync_tts_content", "hi", None, "no model here makes sound")]
