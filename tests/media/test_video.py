"""Real encode -> decode round trips through PyAV/libx264."""

from __future__ import annotations

import av
import numpy as np
import pytest

from reelforge.media.video import decode_mp4, encode_mp4, frame_picks, probe_mp4, resize_frames


def gradient_frames(t: int, height: int, width: int) -> np.ndarray:
    """Smooth, moving content: what H.264 at a sane CRF reproduces closely (noise would not)."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(t):
        r = (x * 255 // max(width - 1, 1) + i * 7) % 256
        g = y * 255 // max(height - 1, 1)
        b = np.full_like(x, (40 + i * 13) % 256)
        frames.append(np.stack([r, g, b], axis=-1))
    return np.asarray(frames, dtype=np.uint8)


def decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("t", [1, 9, 33])
def test_frame_count_is_preserved(tmp_path, t):
    path = tmp_path / "v.mp4"
    encode_mp4(gradient_frames(t, 64, 96), 8, path)
    info = probe_mp4(path)
    assert info.frames == t
    assert (info.width, info.height) == (96, 64)
    assert info.codec == "h264"
    assert info.fps == pytest.approx(8.0)


def test_upscales_to_requested_size(tmp_path):
    frames = gradient_frames(9, 128, 64)  # (T, H=128, W=64): portrait, like 720x1280
    path = tmp_path / "up.mp4"
    encode_mp4(frames, 16, path, size=(720, 1280))
    info = probe_mp4(path)
    assert (info.width, info.height, info.frames, info.codec) == (720, 1280, 9, "h264")
    # The upscaled content still matches the source when shrunk back.
    decoded = decode_all(path)
    back = resize_frames(decoded, 64, 128)
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 6


def test_pixel_fidelity_without_resize(tmp_path):
    frames = gradient_frames(9, 64, 96)
    path = tmp_path / "v.mp4"
    encode_mp4(frames, 8, path)
    decoded = decode_all(path)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 4


def test_stream_is_yuv420p_bt709_and_faststart(tmp_path):
    path = tmp_path / "v.mp4"
    encode_mp4(gradient_frames(3, 64, 64), 8, path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.colorspace == 1  # AVCOL_SPC_BT709
    head = path.read_bytes()[:4096]
    # faststart puts the moov atom before mdat so browsers can start playing at once.
    assert head.index(b"moov") < path.read_bytes().index(b"mdat")


def test_no_temp_file_left_and_existing_file_replaced(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"old")
    encode_mp4(gradient_frames(2, 32, 32), 8, path)
    assert probe_mp4(path).frames == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_odd_size_is_refused_and_nothing_written(tmp_path):
    path = tmp_path / "v.mp4"
    with pytest.raises(ValueError, match="even"):
        encode_mp4(gradient_frames(2, 32, 32), 8, path, size=(33, 32))
    with pytest.raises(ValueError, match="even"):
        encode_mp4(gradient_frames(2, 31, 32), 8, path)
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_leaves_no_file(tmp_path):
    # A directory in the way makes the final rename fail after a full encode.
    path = tmp_path / "v.mp4"
    path.mkdir()
    with pytest.raises(OSError):
        encode_mp4(gradient_frames(2, 32, 32), 8, path)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((2, 32, 32, 3), dtype=np.float32),
        np.zeros((2, 32, 32), dtype=np.uint8),
        np.zeros((0, 32, 32, 3), dtype=np.uint8),
    ],
)
def test_bad_frames_are_refused(tmp_path, frames):
    with pytest.raises(ValueError):
        encode_mp4(frames, 8, tmp_path / "v.mp4")


def test_bad_fps_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        encode_mp4(gradient_frames(2, 32, 32), 0, tmp_path / "v.mp4")


def test_resize_frames():
    frames = gradient_frames(3, 16, 24)
    assert resize_frames(frames, 24, 16) is frames
    out = resize_frames(frames, 48, 32)
    assert out.shape == (3, 32, 48, 3) and out.dtype == np.uint8


def numbered_frames(count: int, h: int, w: int) -> np.ndarray:
    """Frame i is flat grey 8 * i, so a decoded frame tells which source frame it was."""
    return np.stack([np.full((h, w, 3), 8 * i, np.uint8) for i in range(count)])


@pytest.mark.parametrize("picks", [5, 30, 40])
def test_decoding_only_the_picked_frames(tmp_path, picks):
    path = tmp_path / "v.mp4"
    encode_mp4(numbered_frames(30, 64, 96), 8, path)
    clip = decode_mp4(path, picks=picks)
    assert clip.shape == (picks, 64, 96, 3)
    # Which frames came back, read from their grey level: the picks rule, first and last included.
    seen = np.rint(clip.reshape(picks, -1).mean(axis=1) / 8).astype(int)
    assert seen.tolist() == frame_picks(30, picks).tolist()
    assert seen[0] == 0 and seen[-1] == 29
    with open(path, "rb") as f:  # a file object is rewound for the second pass
        assert np.array_equal(decode_mp4(f, picks=picks), clip)


def test_frames_larger_than_the_cover_size_are_scaled_down_aspect_kept(tmp_path):
    path = tmp_path / "v.mp4"
    encode_mp4(gradient_frames(2, 128, 256), 8, path)
    assert decode_mp4(path, cover=(64, 64)).shape == (2, 64, 128, 3)  # covers 64x64, 2:1 kept
    assert decode_mp4(path, cover=(512, 512)).shape == (2, 128, 256, 3)  # never scaled up
    assert decode_mp4(path, cover=(256, 32)).shape == (2, 128, 256, 3)  # already the smallest cover
