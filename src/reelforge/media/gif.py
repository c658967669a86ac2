"""mp4 -> animated GIF, for surfaces that hand out GIFs (Novita's ``extra.response_video_type: "gif"``).

Workers store one mp4 per job; a GIF is derived from it on demand, so a job never pays for a
format nobody asked for. PyAV decodes, Pillow quantises each frame to its own adaptive
256-colour palette (what GIF allows; fast octree, since median cut is hundreds of times slower on
video frames) and writes a looping animation.

Torch-free on purpose: the API process calls this.
"""

from __future__ import annotations

import io

import av
from PIL import Image

# GIF stores frame delays in centiseconds and browsers clamp delays under 20 ms to ~100 ms, so
# faster videos are thinned to this rate instead of playing in slow motion.
MAX_FPS = 25


def gif_from_mp4(data: bytes, *, max_side: int = 1024) -> bytes:
    """An endlessly looping GIF of every frame of the mp4 ``data`` at its frame rate (thinned
    to at most MAX_FPS), scaled down so its longer side is at most ``max_side``.
    Raises ValueError when ``data`` holds no decodable video frame."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 8)
        frames = [frame.to_image() for frame in container.decode(stream)]
    if not frames:
        raise ValueError("the video has no frames")
    every = max(1, round(fps / MAX_FPS))
    frames = frames[::every]
    width, height = frames[0].size
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames = [f.resize(size, Image.Resampling.BICUBIC) for f in frames]
    frames = [f.quantize(colors=256, method=Image.Quantize.FASTOCTREE) for f in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=round(1000 * every / fps), disposal=1)
    return buffer.getvalue()
