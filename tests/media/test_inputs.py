from __future__ import annotations

import base64
import io
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from reelforge.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from reelforge.media.inputs import (
    MAX_SHORT_SIDE,
    _PixelBudget,
    decode_base64_image,
    decode_image,
    encode_png,
    fit_image,
    parse_data_url,
    read_input_image,
)

P = "input_reference"
LIMITS = {"max_bytes": 1_000_000, "max_pixels": 4_000_000}


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def halves(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(array)


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds almost no data: a bomb's header."""
    data = bytearray(encoded(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_decodes_allowed_formats(fmt):
    image = decode_image(encoded(halves(), fmt), param=P, **LIMITS)
    assert image.mode == "RGB" and image.size == (40, 20)
    pixels = np.asarray(image).astype(int)
    assert pixels[10, 5, 0] > 200 and pixels[10, 35, 2] > 200


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (encoded(halves(), "GIF"), "GIF"),
        (encoded(halves(), "BMP"), "BMP"),
        (encoded(halves(), "TIFF"), "TIFF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"hello, world" * 3, "not a recognised image"),
    ],
)
def test_other_formats_are_unsupported_and_named(data, what):
    with pytest.raises(UnsupportedMediaType) as info:
        decode_image(data, param=P, **LIMITS)
    assert info.value.param == P
    assert P in info.value.message and what in info.value.message
    assert "PNG, JPEG or WebP" in info.value.message


def test_sniffs_bytes_not_names():
    # A PNG is decoded as a PNG whatever a client claimed; a GIF renamed .png is still a GIF.
    assert decode_image(encoded(halves(), "PNG"), param=P, **LIMITS).size == (40, 20)


def test_too_many_bytes():
    data = encoded(halves(), "PNG")
    with pytest.raises(PayloadTooLarge) as info:
        decode_image(data, param=P, max_bytes=len(data) - 1, max_pixels=10**6)
    assert P in info.value.message and str(len(data) - 1) in info.value.message


def test_empty_data():
    with pytest.raises(InvalidRequest, match=P):
        decode_image(b"", param=P, **LIMITS)


def test_pixel_bomb_is_refused_from_the_header():
    # 5000x5000 claimed, a few bytes of data: refused as too large (not as
    # corrupt), which shows the check runs before pixels are decoded.
    with pytest.raises(PayloadTooLarge) as info:
        decode_image(png_with_size(5000, 5000), param=P, **LIMITS)
    assert "5000x5000" in info.value.message and P in info.value.message


def test_real_image_over_pixel_limit():
    data = encoded(Image.new("RGB", (1200, 1000)), "PNG")
    with pytest.raises(PayloadTooLarge, match="1200x1000"):
        decode_image(data, param=P, max_bytes=10**6, max_pixels=1_000_000)


def test_bomb_past_pillows_own_limit_maps_to_payload_too_large():
    with pytest.raises(PayloadTooLarge, match=P):
        decode_image(png_with_size(60000, 60000), param=P, max_bytes=10**6, max_pixels=10**10)


def test_truncated_image_is_invalid_not_unsupported():
    data = encoded(halves(200, 200), "PNG")[:120]
    with pytest.raises(InvalidRequest) as info:
        decode_image(data, param=P, **LIMITS)
    assert not isinstance(info.value, (UnsupportedMediaType, PayloadTooLarge))
    assert P in info.value.message


def test_exif_orientation_is_applied():
    image = halves(40, 20)
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    data = encoded(image, "JPEG", exif=exif.tobytes(), quality=95)
    upright = decode_image(data, param=P, **LIMITS)
    assert upright.size == (20, 40)
    pixels = np.asarray(upright).astype(int)
    # Rotating clockwise moves the stored left (red) half to the top.
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 60
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 60


def test_transparency_is_composited_on_white():
    array = np.zeros((10, 20, 4), dtype=np.uint8)
    array[:, 10:] = (255, 0, 0, 128)  # right half: half-transparent red; left: fully transparent
    image = decode_image(encoded(Image.fromarray(array), "PNG"), param=P, **LIMITS)
    assert image.mode == "RGB"
    pixels = np.asarray(image).astype(int)
    assert tuple(pixels[5, 2]) == (255, 255, 255)
    assert pixels[5, 15, 0] == 255 and 120 < pixels[5, 15, 1] < 135


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    out = decode_image(encoded(image, "PNG", transparency=0), param=P, **LIMITS)
    assert tuple(np.asarray(out)[0, 0]) == (255, 255, 255)


def test_encode_png_round_trips_losslessly():
    image = halves(33, 17)
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(image))


def test_fit_crop_and_pad():
    image = halves(40, 20)  # 2:1
    cropped = fit_image(image, 20, 20, "crop")
    assert cropped.size == (20, 20)
    # The centre crop keeps the middle: red on the left edge, blue on the right.
    px = np.asarray(cropped).astype(int)
    assert px[10, 1, 0] > 200 and px[10, 18, 2] > 200

    padded = fit_image(image, 20, 20, "pad")
    assert padded.size == (20, 20)
    px = np.asarray(padded).astype(int)
    assert px[1, 10].sum() == 0  # black bar on top
    assert px[18, 10].sum() == 0  # and at the bottom
    assert px[10, 2, 0] > 200  # the image in the middle

    with pytest.raises(ValueError, match="crop"):
        fit_image(image, 20, 20, "stretch")


PNG = encoded(halves(), "PNG")
B64 = base64.b64encode(PNG).decode()


def test_parse_data_url():
    assert parse_data_url(f"data:image/png;base64,{B64}", param=P, max_bytes=10**6) == PNG
    assert parse_data_url(f"DATA:Image/JPEG;BASE64,{B64}", param=P, max_bytes=10**6) == PNG
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    assert parse_data_url(f"data:image/webp;base64,\n{wrapped}\n", param=P, max_bytes=10**6) == PNG


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        (B64, InvalidRequest, "data URL"),
        ("https://example.com/a.png", InvalidRequest, "data URL"),
        (f"data:text/plain;base64,{B64}", UnsupportedMediaType, "text/plain"),
        (f"data:,{B64}", UnsupportedMediaType, "image/png"),
        (f"data:image/png,{B64}", InvalidRequest, "base64"),
        ("data:image/png;base64,!!!!", InvalidRequest, "not valid base64"),
        ("data:image/png;base64,", InvalidRequest, "no image data"),
        ("data:image/png;base64", InvalidRequest, "data URL"),
    ],
)
def test_parse_data_url_rejections(value, error, fragment):
    with pytest.raises(error) as info:
        parse_data_url(value, param=P, max_bytes=10**6)
    assert fragment in info.value.message and P in info.value.message
    assert info.value.param == P


def test_data_url_size_is_checked_before_decoding():
    # Invalid base64, but too long: the size error wins, so nothing was decoded.
    with pytest.raises(PayloadTooLarge, match=P):
        parse_data_url("data:image/png;base64," + "!" * 2000, param=P, max_bytes=1000)
    # Exactly at the limit passes; one byte over fails after decoding.
    assert parse_data_url(f"data:image/png;base64,{B64}", param=P, max_bytes=len(PNG)) == PNG
    with pytest.raises(PayloadTooLarge):
        parse_data_url(f"data:image/png;base64,{B64}", param=P, max_bytes=len(PNG) - 1)


def test_decode_base64_image_tolerates_prefix_whitespace_urlsafe_and_padding():
    assert decode_base64_image(B64, param=P, max_bytes=10**6) == PNG
    assert decode_base64_image(f"  data:image/png;base64,{B64} ", param=P, max_bytes=10**6) == PNG
    assert decode_base64_image(" " + B64[:50] + "\n" + B64[50:], param=P, max_bytes=10**6) == PNG
    urlsafe = base64.urlsafe_b64encode(PNG).decode().rstrip("=")
    assert decode_base64_image(urlsafe, param=P, max_bytes=10**6) == PNG
    with pytest.raises(InvalidRequest, match="image.base64"):
        decode_base64_image("not base64 at all?", param="image.base64", max_bytes=10**6)
    with pytest.raises(PayloadTooLarge):
        decode_base64_image(B64, param=P, max_bytes=len(PNG) - 1)


BIG = {"max_bytes": 20_000_000, "max_pixels": 4096 * 4096}


def test_a_large_transparent_png_is_scaled_to_the_short_side_cap_on_white():
    pixels = np.zeros((2400, 3600, 4), np.uint8)
    pixels[:, :1800] = (200, 30, 30, 255)  # left half opaque red, right half transparent
    stored = read_input_image(encoded(Image.fromarray(pixels, "RGBA"), "PNG"), param=P, **BIG)
    assert stored.size == (3600, 2400)  # as sent: it decides the video's shape
    with Image.open(io.BytesIO(stored.png)) as image:
        assert image.mode == "RGB" and image.size == (2688, MAX_SHORT_SIDE)
        assert image.getpixel((100, 900)) == (200, 30, 30) and image.getpixel((2600, 900)) == (255, 255, 255)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_but_never_below_the_cap():
    data = encoded(halves(4000, 3800), "JPEG", quality=95)
    image = decode_image(data, param=P, **BIG)
    assert image.size == (1886, MAX_SHORT_SIDE)  # 4000x3800 decoded at 1/2 (2000x1900), then scaled
    assert image.getpixel((10, 10))[0] > 240 and image.getpixel((1870, 10))[2] > 240


def test_the_decode_budget_queues_a_decode_that_would_pass_it():
    budget, entered = _PixelBudget(), threading.Event()

    def second():
        with budget.hold(2, limit=3):
            entered.set()

    with budget.hold(2, limit=3):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.5)  # 2 + 2 pixels would pass the limit of 3: it waits
    thread.join(10)
    assert entered.is_set()
    with budget.hold(10, limit=3):  # alone, even an image over the budget is decoded
        pass
