"""Frames -> GIF: within the size, rate and frame caps, at the video's size, keeping the video's duration."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from reelforge.media.gif import MAX_FPS, MAX_FRAMES, MAX_SIDE, gif_from_frames
from tests.media.test_video import gradient_frames


def frames_and_delays(data: bytes) -> tuple[tuple[int, int], list[int]]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "GIF" and image.info["loop"] == 0
        delays = []
        for index in range(image.n_frames):
            image.seek(index)
            delays.append(image.info["duration"])
        return image.size, delays


def test_a_large_video_is_scaled_to_the_side_cap_at_the_video_size_not_the_frames():
    # Frames 50x30 shown as a 1000x600 video: the GIF is the video's shape, capped.
    size, delays = frames_and_delays(gif_from_frames(gradient_frames(4, 30, 50), 8, size=(1000, 600)))
    assert size == (MAX_SIDE, 288) and len(delays) == 4
    assert sum(delays) == 500  # 4 frames at 8 fps


def test_fast_and_long_videos_are_thinned_within_the_caps_and_keep_their_duration():
    size, delays = frames_and_delays(gif_from_frames(gradient_frames(600, 32, 48), 60))  # 10 s at 60 fps
    assert size == (48, 32)  # never enlarged
    assert len(delays) <= MAX_FRAMES and len(delays) / 10 <= MAX_FPS
    assert sum(delays) == 10_000


def test_the_colours_survive():
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    frames[:, :, :8] = (200, 30, 30)
    with Image.open(io.BytesIO(gif_from_frames(frames, 8))) as image:
        rgb = image.convert("RGB")
        assert rgb.getpixel((2, 2)) == (200, 30, 30) and rgb.getpixel((12, 2)) == (0, 0, 0)


@pytest.mark.parametrize("frames, fps", [(np.zeros((0, 8, 8, 3), np.uint8), 8), (np.zeros((2, 8, 8, 3)), 8),
                                         (np.zeros((2, 8, 8, 3), np.uint8), 0)])
def test_bad_frames_or_rate_are_a_value_error(frames, fps):
    with pytest.raises(ValueError):
        gif_from_frames(frames, fps)
