"""Frames -> H.264 mp4, and reading an mp4 back: for checks, and as the source of an edit or extension.

Frames are uint8 arrays shaped (T, H, W, 3) in RGB. Models generate small and
we upscale to the size the user asked for while encoding, one frame at a time,
so a long high-resolution video never sits fully resized in memory.

Torch-free on purpose: the API process imports this module too.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image

# Bicubic for both directions: Pillow's resize is a proper convolution, so it also
# antialiases when shrinking, and at the large upscale factors we use (64 -> 720)
# it rings less than Lanczos.
_RESAMPLE = Image.Resampling.BICUBIC

# "veryfast" keeps a CPU-only box from spending longer on encoding than on tiny
# models; CRF 20 is visually lossless for generated content at these sizes.
_X264_OPTIONS = {"preset": "veryfast", "crf": "20"}

# AVCOL_* value 1 is BT.709 for colorspace, primaries and transfer; range 1 is
# limited ("tv") range. Tagging the stream makes players (browsers assume 709
# for HD anyway) convert back with the same matrix we converted with.
_AVCOL_BT709 = 1
_AVCOL_RANGE_MPEG = 1


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    width: int
    height: int
    fps: float
    codec: str


def check_frames(frames: np.ndarray) -> None:
    """Raise ValueError unless ``frames`` is a non-empty uint8 (T, H, W, 3) array."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError("frames must be a uint8 numpy array")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3); got {frames.shape}")
    if frames.shape[0] < 1:
        raise ValueError("frames must contain at least one frame")


def resize_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize one (H, W, 3) uint8 frame; returned unchanged when it already has that size."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    image = Image.fromarray(frame)
    return np.asarray(image.resize((width, height), _RESAMPLE))


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return frames resized to (width, height); the input is returned as is when it already fits."""
    check_frames(frames)
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive; got {width}x{height}")
    if frames.shape[2] == width and frames.shape[1] == height:
        return frames
    return np.stack([resize_frame(f, width, height) for f in frames])


def encode_mp4(
    frames: np.ndarray,
    fps: int,
    path: Path,
    *,
    size: tuple[int, int] | None = None,
) -> None:
    """Write ``frames`` to ``path`` as H.264/yuv420p mp4 with the moov atom up front.

    ``size`` is (width, height); when it differs from the frame size every frame
    is resized first. yuv420p subsamples chroma 2x2, so both output dimensions
    must be even (ValueError otherwise). Exactly T frames are written.

    The file appears under ``path`` only when complete: we encode into a temp
    file in the same folder and rename it, so a crash never leaves half an mp4
    under the final name.
    """
    check_frames(frames)
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer; got {fps!r}")
    height, width = frames.shape[1], frames.shape[2]
    if size is not None:
        width, height = size
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even width and height; got {width}x{height}")

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        # The format is named explicitly because the temp name has no .mp4
        # suffix; "+faststart" needs a real file because it rewrites it at close.
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.options = dict(_X264_OPTIONS)
            ctx = stream.codec_context
            ctx.colorspace = _AVCOL_BT709
            ctx.color_primaries = _AVCOL_BT709
            ctx.color_trc = _AVCOL_BT709
            ctx.color_range = _AVCOL_RANGE_MPEG
            for index, frame in enumerate(frames):
                # One swscale pass resizes and converts (bicubic, as resize_frame: ~60 dB apart),
                # in a third of the time of resizing with PIL and converting after.
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
                    width=width,
                    height=height,
                    interpolation="BICUBIC",
                    format="yuv420p",
                    dst_colorspace=Colorspace.ITU709,
                    dst_color_range=ColorRange.MPEG,
                    dst_color_trc=ColorTrc.BT709,
                    dst_color_primaries=ColorPrimaries.BT709,
                )
                # Explicit pts keep exactly one output frame per input frame.
                video_frame.pts = index
                for packet in stream.encode(video_frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def probe_mp4(path: Path) -> VideoInfo:
    """Decode every frame of the first video stream and report what is really there.

    The frame count comes from decoding, not from container metadata, because a
    truncated or mis-muxed file can claim frames it does not have.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = 0
        width = height = 0
        for frame in container.decode(stream):
            count += 1
            width, height = frame.width, frame.height
        rate = stream.average_rate or stream.guessed_rate or 0
        return VideoInfo(
            frames=count,
            width=width or stream.codec_context.width,
            height=height or stream.codec_context.height,
            fps=float(rate),
            codec=stream.codec_context.name,
        )


def decode_mp4(source: "Path | str | IO[bytes]", *, picks: int | None = None,
               cover: tuple[int, int] | None = None) -> np.ndarray:
    """Every frame of the first video stream as uint8 RGB (T, H, W, 3).

    ``source`` is a path or a binary file object of any container PyAV reads (the service also
    stores WebM uploads). Frames come in presentation order, converted with the stream's own colour
    tags. Every failure is a ValueError: a file FFmpeg cannot read, no video stream, no frame, or
    frames of changing size (a stitched stream no single array can hold).

    ``picks``: only that many frames, evenly spread with the first and last kept (``frame_picks``);
    the stream is then decoded twice, once to count, so memory holds the picks and never the whole
    clip. ``cover``: frames larger than (width, height) both ways are scaled down, aspect kept, to
    the smallest size that still covers it. Together they bound a worker's memory by what the job
    makes, not by what was uploaded (a 60 s 1080p clip is 22 GB of RGB).
    """
    seekable = source if not isinstance(source, Path) else str(source)
    try:
        order = None  # the frame indices to return, in order (repeats allowed)
        if picks is not None:
            with av.open(seekable) as container:
                if not container.streams.video:
                    raise ValueError("the file has no video stream")
                total = sum(1 for _ in container.decode(video=0))
            if total == 0:
                raise ValueError("the video decoded to no frames")
            order = frame_picks(total, picks).tolist()
            if hasattr(source, "seek"):
                source.seek(0)
        kept: dict[int, np.ndarray] = {}
        with av.open(seekable) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            wanted = set(order) if order is not None else None
            for i, frame in enumerate(container.decode(video=0)):
                if wanted is None or i in wanted:
                    kept[i] = _rgb(frame, cover)
    except av.error.FFmpegError as e:
        raise ValueError(f"the video could not be decoded: {e}") from e
    if not kept:
        raise ValueError("the video decoded to no frames")
    if order is not None and not set(order) <= kept.keys():
        raise ValueError("the video decoded to fewer frames the second time")
    frames = [kept[i] for i in order] if order is not None else list(kept.values())
    if len({f.shape for f in frames}) > 1:
        raise ValueError("the video's frame size changes mid-stream")
    return np.stack(frames)


def frame_picks(total: int, count: int) -> np.ndarray:
    """``count`` indices into ``total`` frames, evenly spread, the first and the last always among
    them (an extension's seam is the last); with count > total some repeat."""
    return np.rint(np.linspace(0, total - 1, count)).astype(int)


def _rgb(frame: "av.VideoFrame", cover: tuple[int, int] | None) -> np.ndarray:
    if cover is not None:
        scale = max(cover[0] / frame.width, cover[1] / frame.height)
        if scale < 1:
            size = max(cover[0], round(frame.width * scale)), max(cover[1], round(frame.height * scale))
            return frame.to_ndarray(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
    return frame.to_ndarray(format="rgb24")
