"""Still images derived from a finished video: the thumbnail and the spritesheet.

Both take the same uint8 (T, H, W, 3) frames that ``encode_mp4`` takes, so the
worker produces all artifacts from one array without decoding the mp4 again.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from reelforge.media.video import check_frames, resize_frame


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale (width, height) so the longer side is at most ``max_side``, keeping the aspect ratio."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive; got {max_side}")
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_webp(
    frames: np.ndarray,
    *,
    size: tuple[int, int] | None,
    max_side: int = 512,
) -> bytes:
    """A WebP of the middle frame, at the output ``size`` (width, height) capped at ``max_side``.

    The middle frame, not the first: in image-to-video the first frame is just
    the input image, and text-to-video models often spend their first frames
    settling, so the middle one shows what the video actually is. ``size=None``
    means the frames' own size.
    """
    check_frames(frames)
    frame = frames[len(frames) // 2]
    width, height = size if size is not None else (frame.shape[1], frame.shape[0])
    width, height = fit_within(width, height, max_side)
    image = Image.fromarray(resize_frame(frame, width, height))
    buffer = io.BytesIO()
    # method=4 is Pillow's default speed/size trade-off; 6 is several times slower for a few percent.
    image.save(buffer, format="WEBP", quality=80, method=4)
    return buffer.getvalue()


def sample_indices(total: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``range(total)``, always including the first and last."""
    count = max(1, min(count, total))
    if count == 1:
        return [0]
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


def spritesheet_jpeg(
    frames: np.ndarray,
    *,
    columns: int = 0,
    tile_max_side: int = 160,
    max_tiles: int = 25,
) -> bytes:
    """A JPEG grid of evenly sampled frames.

    Layout:
    - ``n = min(T, max_tiles)`` frames are sampled evenly (``sample_indices``),
      always including the first and the last.
    - Every tile has the frames' aspect ratio, scaled so its longer side is
      exactly ``tile_max_side`` (small model outputs are scaled up so sheets
      look the same whatever the model): ``tile_w, tile_h``.
    - ``columns`` tiles per row; 0 means ``ceil(sqrt(n))``. It is capped at n.
      ``rows = ceil(n / columns)``.
    - Tiles are placed row-major (left to right, then top to bottom) with no
      gutter: sampled frame k sits at ``x = (k % columns) * tile_w``,
      ``y = (k // columns) * tile_h``. Unused cells of the last row are black.
    - The sheet is ``columns * tile_w`` by ``rows * tile_h`` pixels.
    """
    check_frames(frames)
    if columns < 0 or max_tiles < 1 or tile_max_side < 1:
        raise ValueError("columns must be >= 0, max_tiles and tile_max_side >= 1")
    indices = sample_indices(len(frames), max_tiles)
    n = len(indices)
    columns = min(columns or math.ceil(math.sqrt(n)), n)
    rows = math.ceil(n / columns)

    frame_h, frame_w = frames.shape[1], frames.shape[2]
    scale = tile_max_side / max(frame_w, frame_h)
    tile_w, tile_h = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))

    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h), (0, 0, 0))
    for k, index in enumerate(indices):
        tile = Image.fromarray(resize_frame(frames[index], tile_w, tile_h))
        sheet.paste(tile, ((k % columns) * tile_w, (k // columns) * tile_h))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
