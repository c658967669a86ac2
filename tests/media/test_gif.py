"""mp4 -> GIF: streamed, within the size, rate and frame caps, keeping the video's duration."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from reelforge.media.gif import MAX_FPS, MAX_FRAMES, MAX_SIDE, gif_from_mp4
from reelforge.media.video import encode_mp4
from tests.media.test_video import gradient_frames


def frames_and_delays(data: bytes) -> tuple[tuple[int, int], list[int]]:
    with Image.open(io.BytesIO(data)) as image:
        delays = []
        for index in range(image.n_frames):
            image.seek(index)
            delays.append(image.info["duration"])
        return image.size, delays


def test_a_large_video_is_scaled_to_the_side_cap(tmp_path):
    path = tmp_path / "v.mp4"
    encode_mp4(gradient_frames(4, 30, 50), 8, path, size=(1000, 600))
    size, delays = frames_and_delays(gif_from_mp4(path))
    assert size == (MAX_SIDE, 288) and len(delays) == 4
    assert sum(delays) == 500  # 4 frames at 8 fps


def test_fast_and_long_videos_are_thinned_within_the_caps_and_keep_their_duration(tmp_path):
    path = tmp_path / "v.mp4"
    encode_mp4(gradient_frames(600, 32, 48), 60, path)  # 10 s at 60 fps
    size, delays = frames_and_delays(gif_from_mp4(path.read_bytes()))
    assert size == (48, 32)  # never enlarged
    assert len(delays) <= MAX_FRAMES and len(delays) / 10 <= MAX_FPS
    assert sum(delays) == 10_000


def test_data_that_is_not_a_video_is_a_value_error_without_heap_addresses():
    with pytest.raises(ValueError, match="could not be decoded") as info:
        gif_from_mp4(b"\x00\x00\x00\x18ftypisom-not-a-movie")
    assert "0x" not in str(info.value)
