"""Frames -> animated GIF: the ``gif`` variant (``variant=gif``, Novita's ``extra.response_video_type: "gif"``).

The worker makes it beside the mp4, from the frames it already holds, so the API process never
decodes a video or writes an artifact. Each kept frame is scaled down and quantised at once to its
own adaptive 256-colour palette (what GIF allows; fast octree, since median cut is hundreds of times
slower on video frames).

Caps, whatever the video:
- the longer side is at most MAX_SIDE pixels;
- at most MAX_FPS frames per second (faster videos are thinned, and keep their duration);
- at most MAX_FRAMES frames (longer videos are thinned further, and keep their duration).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from .images import fit_within
from .video import check_frames, resize_frame

MAX_SIDE = 480
# GIF stores frame delays in centiseconds and browsers clamp delays under 20 ms to ~100 ms; 15 fps
# is smooth enough for a preview and halves a 30 fps video.
MAX_FPS = 15
# 12 s at 15 fps, the longest legal job (361 frames at 30 fps) included.
MAX_FRAMES = 200


def gif_from_frames(frames: np.ndarray, fps: int, *, size: tuple[int, int] | None = None) -> bytes:
    """An endlessly looping GIF of uint8 (T, H, W, 3) ``frames`` shown at ``fps``, at the video's ``size``
    (width, height; default the frames' own) within the caps above."""
    check_frames(frames)
    if fps < 1:
        raise ValueError(f"fps must be positive; got {fps}")
    every = max(math.ceil(fps / MAX_FPS), math.ceil(len(frames) / MAX_FRAMES), 1)
    width, height = size if size is not None else (frames.shape[2], frames.shape[1])
    width, height = fit_within(width, height, MAX_SIDE)
    kept = [Image.fromarray(resize_frame(frame, width, height)).quantize(colors=256, method=Image.Quantize.FASTOCTREE)
            for frame in frames[::every][:MAX_FRAMES]]
    # Delays in whole centiseconds that add up to the video's real duration (a constant rounded
    # delay would drift: 30 fps thinned by 2 is 6.67 cs a frame).
    ticks = [round(100 * (i + 1) * every / fps) - round(100 * i * every / fps) for i in range(len(kept))]
    buffer = io.BytesIO()
    kept[0].save(buffer, format="GIF", save_all=True, append_images=kept[1:], loop=0,
                 duration=[10 * t for t in ticks], disposal=1)
    return buffer.getvalue()
