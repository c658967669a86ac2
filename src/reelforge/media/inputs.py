"""Input images for image-to-video: decode, validate, normalise.

This runs in the API process at submission, on bytes a stranger sent us, so it
trusts nothing: the format is sniffed from the bytes (never from a filename or
Content-Type), the pixel count is checked from the header before any pixel is
decoded, and only Pillow's PNG, JPEG and WebP decoders are allowed to run.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import warnings

from PIL import Image, ImageOps

from reelforge.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

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


def decode_image(data: bytes, *, param: str, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes into an upright RGB image.

    Raises PayloadTooLarge over ``max_bytes`` or ``max_pixels`` (checked from the
    header, before decoding: a 50 kB PNG can expand to gigabytes),
    UnsupportedMediaType for any other format and InvalidRequest for corrupt data.
    EXIF orientation is applied. Transparency is composited onto white, because
    that is how the image looked to its author in a browser or an editor's
    default export; black would turn dark logos on transparent backgrounds
    into black rectangles.
    """
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
    try:
        with warnings.catch_warnings():
            # Pillow warns on large images; we enforce our own, lower limit below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # formats=[fmt] stops Pillow from trying any other (less hardened) decoder.
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"{param} is {width}x{height} ({width * height} pixels); "
                    f"images may have at most {max_pixels} pixels.",
                    param=param,
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(
            f"{param} has too many pixels ({exc}); images may have at most {max_pixels} pixels.",
            param=param,
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated or malformed data as OSError/SyntaxError.
        raise InvalidRequest(
            f"{param} could not be decoded as {fmt.replace('WEBP', 'WebP')} ({exc}); "
            f"send a valid {_ALLOWED_TEXT} image.",
            param=param,
        ) from None
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


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
