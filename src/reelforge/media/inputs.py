"""Input images for image-to-video, and input videos for edits, extensions and characters:
decode, validate, normalise.

This runs in the API process at submission, on bytes a stranger sent us, so it
trusts nothing: the format is sniffed from the bytes (never from a filename or
Content-Type), the pixel count is checked from the header before any pixel is
decoded, and only Pillow's PNG, JPEG and WebP decoders are allowed to run.

Memory is bounded in pixels x concurrency. Decodes across the process hold a shared budget of
DECODES_AT_LIMIT x max_pixels decoded pixels: past it they wait their turn, so sixteen uploads at the
pixel limit expand two at a time instead of all at once. Inputs whose shorter side exceeds
MAX_SHORT_SIDE are scaled down as they are converted (a JPEG already inside libjpeg, which decodes at
1/2, 1/4 or 1/8 scale), band by band, so one decode holds the decoded image plus a copy scaled in
width only: measured 125 MB for a 4096x4096 RGBA PNG at the default limit, so about 250 MB across
the process. Compositing, re-encoding and storing then touch only the scaled image.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from PIL import ExifTags, Image, ImageOps

from reelforge.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType, describe
from reelforge.heap import release_free_memory

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
_ALLOWED_TEXT = "PNG, JPEG or WebP"
_DATA_URL_TYPES = {"image/png", "image/jpeg", "image/jpg", "image/webp"}

# Formats people commonly send by mistake, only to say what we got.
_OTHER_SIGNATURES = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

# No video frame is larger than 1792 pixels on a side (the largest OpenAI size), so an input scaled
# to this shorter side is never enlarged by cropping or padding it to any frame: nothing is lost.
MAX_SHORT_SIDE = 1792
# How many pixel-limit images may be decoded at once across the process (see the module docstring).
DECODES_AT_LIMIT = 2
# Source rows converted at a time: a band of a 4096-pixel-wide RGBA image is 4 MB.
_BAND_ROWS = 256
_RESAMPLE = Image.Resampling.BICUBIC

_DATA_URL = re.compile(r"data:(?P<type>[^;,]*)(?P<params>(;[^;,]*)*),", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def sniff_format(data: bytes) -> str | None:
    """Pillow's format name for PNG, JPEG or WebP bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _describe_other(data: bytes) -> str:
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return f"a {name} image"
    if data[4:8] == b"ftyp":
        return "an HEIF/AVIF/MP4 file"
    if data.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or data.lstrip()[:4].lower() == b"<svg":
        return "an SVG/XML document"
    return "not a recognised image"


class _PixelBudget:
    """Decoded pixels in flight across the process. A decode waits while admitting it would pass
    ``limit``; one is always admitted when none is in flight, so an image that passed the pixel
    check never waits forever."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0

    @contextmanager
    def hold(self, pixels: int, limit: int) -> Iterator[None]:
        with self._changed:
            while self._in_flight and self._in_flight + pixels > limit:
                self._changed.wait()
            self._in_flight += pixels
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= pixels
                idle = self._in_flight == 0
                self._changed.notify_all()
            if idle:  # a burst of decodes is over: give its memory back
                release_free_memory()


_BUDGET = _PixelBudget()

T = TypeVar("T")


@dataclass(frozen=True)
class InputImage:
    png: bytes  # what the worker gets: upright RGB, shorter side at most MAX_SHORT_SIDE, lossless
    size: tuple[int, int]  # (width, height) of the upright image as sent, which can decide the video's shape


def decode_image(data: bytes, *, param: str, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes into an upright RGB image, scaled down so that its shorter side
    is at most MAX_SHORT_SIDE.

    Raises PayloadTooLarge over ``max_bytes`` or ``max_pixels`` (checked from the
    header, before decoding: a 50 kB PNG can expand to gigabytes),
    UnsupportedMediaType for any other format and InvalidRequest for corrupt data.
    EXIF orientation is applied. Transparency is composited onto white, because
    that is how the image looked to its author in a browser or an editor's
    default export; black would turn dark logos on transparent backgrounds
    into black rectangles.
    """
    return _decode(data, param, max_bytes, max_pixels, lambda image: image)[0]


def read_input_image(data: bytes, *, param: str, max_bytes: int, max_pixels: int) -> InputImage:
    """``decode_image``, then ``encode_png``, inside the same decode budget (so the RGB image awaiting
    its encoding counts too): what the service stores for a job."""
    return InputImage(*_decode(data, param, max_bytes, max_pixels, encode_png))


def _decode(data: bytes, param: str, max_bytes: int, max_pixels: int,
            finish: Callable[[Image.Image], T]) -> tuple[T, tuple[int, int]]:
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{param} is {len(data)} bytes; images may be at most {max_bytes} bytes.", param=param
        )
    if not data:
        raise InvalidRequest(f"{param} is empty; send a {_ALLOWED_TEXT} image.", param=param)
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"{param} is {_describe_other(data)}; allowed formats are {_ALLOWED_TEXT}.", param=param
        )
    with _decoding_errors(param, fmt, max_pixels):
        # formats=[fmt] stops Pillow from trying any other (less hardened) decoder.
        image = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"{param} is {width}x{height} ({width * height} pixels); "
                f"images may have at most {max_pixels} pixels.",
                param=param,
            )
        if fmt == "JPEG" and min(width, height) > MAX_SHORT_SIDE:
            image.draft(None, _shrunk_size(image.size))  # the smallest libjpeg scale still >= that
    with _BUDGET.hold(image.width * image.height, DECODES_AT_LIMIT * max_pixels):
        with _decoding_errors(param, fmt, max_pixels):
            image.load()
            # The orientation of a PNG's eXIf chunk is only known once the image is loaded.
            turned = image.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
            ImageOps.exif_transpose(image, in_place=True)
        # Rebinding ``image`` lets the full-size image go before the scaled one is encoded.
        image = _to_rgb(image)
        return finish(image), ((height, width) if turned else (width, height))


@contextmanager
def _decoding_errors(param: str, fmt: str, max_pixels: int) -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            # Pillow warns on large images; we enforce our own, lower limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(
            f"{param} has too many pixels ({describe(exc)}); images may have at most {max_pixels} pixels.",
            param=param,
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or malformed data as OSError/SyntaxError.
        raise InvalidRequest(
            f"{param} could not be decoded as {fmt.replace('WEBP', 'WebP')} ({describe(exc)}); "
            f"send a valid {_ALLOWED_TEXT} image.",
            param=param,
        ) from None


def _shrunk_size(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, MAX_SHORT_SIDE / min(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as RGB on white, its shorter side scaled to at most MAX_SHORT_SIDE.

    Converted band by band, so no second full-size copy of a large image ever exists: each band is
    converted (premultiplied where there is alpha, so that scaling mixes in no colour hidden under
    transparent pixels) and scaled horizontally, then the narrower result is scaled vertically in one
    go: Pillow's own two-pass bicubic resize (which takes the passes in either order, whichever is
    cheaper; either is right).
    """
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    width, height = _shrunk_size(image.size)
    if image.mode == "RGB" and (width, height) == image.size:
        return image
    wide = Image.new("RGBa" if has_alpha else "RGB", (width, image.height))
    for band, top in _bands(image):
        band = band.convert("RGBA").convert("RGBa") if has_alpha else band.convert("RGB")
        wide.paste(band if band.width == width else band.resize((width, band.height), _RESAMPLE), (0, top))
    image = wide if wide.height == height else wide.resize((width, height), _RESAMPLE)
    if not has_alpha:
        return image
    out = Image.new("RGB", image.size)
    for band, top in _bands(image):
        white = Image.new("RGBA", band.size, (255, 255, 255, 255))
        out.paste(Image.alpha_composite(white, band.convert("RGBA")).convert("RGB"), (0, top))
    return out


def _bands(image: Image.Image) -> Iterator[tuple[Image.Image, int]]:
    for top in range(0, image.height, _BAND_ROWS):
        yield image.crop((0, top, image.width, min(image.height, top + _BAND_ROWS))), top


def _max_encoded_length(max_bytes: int) -> int:
    return 4 * math.ceil(max_bytes / 3)


def _b64decode(payload: str, *, param: str, max_bytes: int) -> bytes:
    payload = _WHITESPACE.sub("", payload)
    if len(payload) > _max_encoded_length(max_bytes):
        raise PayloadTooLarge(
            f"{param} encodes more than {max_bytes} bytes; images may be at most {max_bytes} bytes.",
            param=param,
        )
    if not payload:
        raise InvalidRequest(f"{param} contains no image data.", param=param)
    # Some clients use the URL-safe alphabet or drop the padding; both are unambiguous.
    payload = payload.replace("-", "+").replace("_", "/")
    payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param} is not valid base64.", param=param) from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{param} is {len(data)} bytes; images may be at most {max_bytes} bytes.", param=param
        )
    return data


def parse_data_url(value: str, *, param: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:image/(png|jpeg|webp);base64,...`` URL.

    Only base64 data URLs with an image type are accepted; the declared type is
    not trusted (``decode_image`` sniffs the bytes) but a non-image type is
    rejected early. The encoded length is checked before decoding.
    """
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, str) or not value[:5].lower() == "data:":
        raise InvalidRequest(
            f"{param} must be a data URL like 'data:image/png;base64,...'.", param=param
        )
    match = _DATA_URL.match(value)
    if match is None:
        raise InvalidRequest(
            f"{param} is not a valid data URL; expected 'data:image/png;base64,...'.", param=param
        )
    media_type = match["type"].strip().lower()
    if media_type not in _DATA_URL_TYPES:
        raise UnsupportedMediaType(
            f"{param} has media type '{media_type or 'text/plain'}'; "
            "allowed are image/png, image/jpeg and image/webp.",
            param=param,
        )
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    if "base64" not in params:
        raise InvalidRequest(f"{param} must be a base64 data URL (';base64,').", param=param)
    return _b64decode(value[match.end() :], param=param, max_bytes=max_bytes)


def decode_base64_image(value: str, *, param: str, max_bytes: int) -> bytes:
    """Bytes from bare base64 (vendor dialects), tolerating a data-URL prefix and whitespace."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a base64 string.", param=param)
    if value.lstrip()[:5].lower() == "data:":
        return parse_data_url(value, param=param, max_bytes=max_bytes)
    return _b64decode(value, param=param, max_bytes=max_bytes)


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG, the form in which input images are stored as artifacts."""
    buffer = io.BytesIO()
    # compress_level 6 is zlib's default balance; 9 costs seconds on big images for ~2%.
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def fit_image(image: Image.Image, width: int, height: int, method: str = "crop") -> Image.Image:
    """Make ``image`` exactly width x height without distorting it.

    ``crop``: scale to cover the box, then cut the overflow equally from both
    sides. ``pad``: scale to fit inside, then letterbox on black (black bars
    match how players show a video of another aspect ratio).
    """
    if method == "crop":
        return ImageOps.fit(image, (width, height), method=Image.Resampling.BICUBIC)
    if method == "pad":
        return ImageOps.pad(image, (width, height), method=Image.Resampling.BICUBIC, color=(0, 0, 0))
    raise ValueError(f"fit method must be 'crop' or 'pad'; got {method!r}")


# --- input videos (edits, extensions, characters) ----------------------------------------------------
# Containers are sniffed from the bytes and only their own demuxer runs (as with images): ISO BMFF
# (MP4/MOV) and Matroska (WebM/MKV). Codecs are allow-listed before any frame is decoded.
VIDEO_CONTAINERS = {"mp4": "mp4", "webm": "matroska"}
ALLOWED_VIDEO_CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4")
_ALLOWED_VIDEO_TEXT = "an MP4/MOV or WebM/MKV file with H.264, HEVC, VP8, VP9, AV1 or MPEG-4 video"
# Longer than any model here makes in one clip; the model's own limit is checked by the service.
MAX_INPUT_VIDEO_SECONDS = 60.0
# Decoded frames are counted too, whatever the timestamps claim (60 s at 60 fps).
MAX_INPUT_VIDEO_FRAMES = 3600


@dataclass(frozen=True)
class InputVideo:
    data: bytes  # the upload as sent: stored for the job, which decodes it again
    container: str  # "mp4" or "webm", the stored artifact's suffix
    width: int
    height: int
    frames: int
    fps: float
    seconds: float
    first_png: bytes  # the first frame, upright RGB (a character's reference frame)


def sniff_video(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    return None


def read_input_video(data: bytes, *, param: str, max_bytes: int, max_pixels: int,
                     max_seconds: float = MAX_INPUT_VIDEO_SECONDS) -> InputVideo:
    """Validate an uploaded video by decoding every frame of its first video stream, one at a time.

    PayloadTooLarge over ``max_bytes``, ``max_pixels`` per frame (from the stream header, before
    decoding) or ``max_seconds``; UnsupportedMediaType for another container or codec;
    InvalidRequest for data that does not decode or holds no frame.
    """
    import av  # PyAV is heavy to import and only these routes need it

    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{param} is {len(data)} bytes; videos may be at most {max_bytes} bytes.", param=param)
    if not data:
        raise InvalidRequest(f"{param} is empty; send {_ALLOWED_VIDEO_TEXT}.", param=param)
    kind = sniff_video(data)
    if kind is None:
        image = sniff_format(data)
        what = f"a {image} image" if image else _describe_other(data).replace("recognised image", "recognised video")
        raise UnsupportedMediaType(f"{param} is {what}; send {_ALLOWED_VIDEO_TEXT}.", param=param)
    try:
        with av.open(io.BytesIO(data), format=VIDEO_CONTAINERS[kind]) as container:
            if not container.streams.video:
                raise InvalidRequest(f"{param} has no video stream; send {_ALLOWED_VIDEO_TEXT}.", param=param)
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in ALLOWED_VIDEO_CODECS:
                raise UnsupportedMediaType(f"{param} is {codec} video; send {_ALLOWED_VIDEO_TEXT}.", param=param)
            width, height = stream.codec_context.width, stream.codec_context.height
            _check_video_pixels(param, width, height, max_pixels)
            first, count, last_time = None, 0, 0.0
            for frame in container.decode(stream):
                _check_video_pixels(param, frame.width, frame.height, max_pixels)
                count += 1
                last_time = float(frame.time or 0.0)
                if count > MAX_INPUT_VIDEO_FRAMES or last_time > max_seconds:
                    raise PayloadTooLarge(f"{param} is longer than {max_seconds:g} s (or {MAX_INPUT_VIDEO_FRAMES} "
                                          f"frames); send a shorter clip.", param=param)
                if first is None:
                    first = frame.to_image().convert("RGB")
            rate = stream.average_rate or stream.guessed_rate
    except av.FFmpegError as exc:
        raise InvalidRequest(f"{param} could not be decoded ({describe(exc)}); send {_ALLOWED_VIDEO_TEXT}.",
                             param=param) from None
    if first is None:
        raise InvalidRequest(f"{param} holds no video frames; send {_ALLOWED_VIDEO_TEXT}.", param=param)
    fps = float(rate) if rate else max(1.0, count / max(last_time, 1e-3))
    seconds = count / fps
    if seconds > max_seconds:
        raise PayloadTooLarge(f"{param} is {seconds:.1f} s long; videos may be at most {max_seconds:g} s.", param=param)
    return InputVideo(data, kind, first.width, first.height, count, fps, seconds, encode_png(first))


def _check_video_pixels(param: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PayloadTooLarge(f"{param} is {width}x{height} ({width * height} pixels per frame); videos may have "
                              f"at most {max_pixels} pixels per frame.", param=param)
    if width < 1 or height < 1:
        raise InvalidRequest(f"{param} has frames of {width}x{height}; send {_ALLOWED_VIDEO_TEXT}.", param=param)
