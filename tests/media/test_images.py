from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from reelforge.media.images import sample_indices, spritesheet_jpeg, thumbnail_webp


def numbered_frames(t: int, height: int, width: int) -> np.ndarray:
    """Frame i is a flat grey of level 10*i, so a tile tells which frame it came from."""
    return np.stack([np.full((height, width, 3), 10 * i, dtype=np.uint8) for i in range(t)])


def test_thumbnail_is_webp_of_middle_frame_at_output_size():
    frames = numbered_frames(9, 64, 128)
    data = thumbnail_webp(frames, size=(256, 128))
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    assert image.size == (256, 128)
    level = np.asarray(image.convert("RGB")).mean()
    assert abs(level - 40) < 3  # frame 4 of 9


def test_thumbnail_is_capped_at_max_side_keeping_aspect():
    frames = numbered_frames(3, 128, 72)
    image = Image.open(io.BytesIO(thumbnail_webp(frames, size=(720, 1280), max_side=512)))
    assert image.size == (288, 512)


def test_thumbnail_defaults_to_frame_size():
    image = Image.open(io.BytesIO(thumbnail_webp(numbered_frames(1, 40, 60), size=None)))
    assert image.size == (60, 40)


def test_sample_indices_are_even_and_include_ends():
    assert sample_indices(33, 5) == [0, 8, 16, 24, 32]
    assert sample_indices(3, 25) == [0, 1, 2]
    assert sample_indices(1, 25) == [0]
    assert sample_indices(100, 1) == [0]


def test_spritesheet_grid_matches_documented_layout():
    frames = numbered_frames(10, 64, 128)  # 2:1 frames
    data = spritesheet_jpeg(frames, tile_max_side=160)
    assert data[:3] == b"\xff\xd8\xff"
    sheet = Image.open(io.BytesIO(data))
    assert sheet.format == "JPEG"
    # n = 10 frames -> ceil(sqrt(10)) = 4 columns, 3 rows of 160x80 tiles.
    assert sheet.size == (4 * 160, 3 * 80)
    pixels = np.asarray(sheet.convert("RGB")).astype(int)
    for k in range(10):
        x, y = (k % 4) * 160 + 80, (k // 4) * 80 + 40
        assert abs(pixels[y, x].mean() - 10 * k) < 4, k
    # Cells after the last tile stay black.
    assert pixels[2 * 80 + 40, 3 * 160 + 80].mean() < 4


def test_spritesheet_samples_at_most_max_tiles_with_fixed_columns():
    frames = numbered_frames(25, 90, 60)  # portrait 2:3
    sheet = Image.open(io.BytesIO(spritesheet_jpeg(frames, columns=3, tile_max_side=60, max_tiles=7)))
    # 7 tiles of 40x60 in 3 columns -> 3 rows.
    assert sheet.size == (3 * 40, 3 * 60)
    pixels = np.asarray(sheet.convert("RGB")).astype(int)
    expected = [0, 4, 8, 12, 16, 20, 24]
    for k, index in enumerate(expected):
        x, y = (k % 3) * 40 + 20, (k // 3) * 60 + 30
        assert abs(pixels[y, x].mean() - 10 * index) < 4, k


def test_spritesheet_columns_capped_at_tile_count():
    sheet = Image.open(io.BytesIO(spritesheet_jpeg(numbered_frames(2, 32, 32), columns=10, tile_max_side=32)))
    assert sheet.size == (64, 32)


def test_bad_arguments():
    with pytest.raises(ValueError):
        spritesheet_jpeg(numbered_frames(2, 8, 8), columns=-1)
    with pytest.raises(ValueError):
        thumbnail_webp(np.zeros((2, 8, 8), dtype=np.uint8), size=None)
