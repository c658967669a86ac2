"""mp4 -> animated GIF, for ``variant=gif`` and surfaces that hand out GIFs (Novita's
``extra.response_video_type: "gif"``).

Workers store one mp4 per job; a GIF is derived from it on demand, so a job never pays for a
format nobody asked for. This runs in the API process, so it streams and its output is capped:
PyAV decodes one frame at a time; frames beyond the rate cap are skipped before they are
converted; each kept frame is scaled down by swscale straight from YUV and quantised at once to
its own adaptive 256-colour palette (what GIF allows; fast octree, since median cut is hundreds of
times slower on video frames). Only those small palette frames are kept until the file is written.

Caps, whatever the video:
- the longer side is at most MAX_SIDE pixels;
- at most MAX_FPS frames per second (faster videos are thinned, and keep their duration);
- at most MAX_FRAMES frames (longer videos are thinned further, and keep their duration).

So a derivation holds at most MAX_FRAMES x MAX_SIDE^2 bytes of palette frames (46 MB; 26 MB for a
1792x1024 video), plus the decoder's few full-size YUV frames and the finished GIF.

Torch-free on purpose: the API process calls this.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import av
from PIL import Image

from .images import fit_within

MAX_SIDE = 480
# GIF stores frame delays in centiseconds and browsers clamp delays under 20 ms to ~100 ms; 15 fps
# is smooth enough for a preview and halves a 30 fps video.
MAX_FPS = 15
# 12 s at 15 fps, the longest legal job (361 frames at 30 fps) included.
MAX_FRAMES = 200


def gif_from_mp4(source: bytes | Path) -> bytes:
    """An endlessly looping GIF of the mp4 ``source`` (its bytes or its file), within the caps above.
    Raises ValueError when ``source`` holds no decodable video frame."""
    try:
        with av.open(str(source) if isinstance(source, Path) else io.BytesIO(source)) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 8)
            total = stream.frames or round(float(container.duration or 0) / av.time_base * fps)
            every = max(math.ceil(fps / MAX_FPS), math.ceil(total / MAX_FRAMES), 1)
            frames = []
            for index, frame in enumerate(container.decode(stream)):
                if index % every:
                    continue
                if len(frames) == MAX_FRAMES:
                    break
                width, height = fit_within(frame.width, frame.height, MAX_SIDE)
                rgb = frame.to_image(width=width, height=height, interpolation="AREA")
                frames.append(rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE))
    except av.FFmpegError as exc:
        # The message only: PyAV appends the file object's repr, a heap address.
        raise ValueError(f"the video could not be decoded ({exc.strerror or type(exc).__name__})") from None
    if not frames:
        raise ValueError("the video has no frames")
    # Delays in whole centiseconds that add up to the video's real duration (a constant rounded
    # delay would drift: 30 fps thinned by 2 is 6.67 cs a frame).
    ticks = [round(100 * (i + 1) * every / fps) - round(100 * i * every / fps) for i in range(len(frames))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=[10 * t for t in ticks], disposal=1)
    return buffer.getvalue()
