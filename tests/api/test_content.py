"""Which bytes a Range header asks for, on the streamed (S3) path; the live answers are in test_s3_serve.py."""

from __future__ import annotations

import pytest

from reelforge.api.content import RangeUnsatisfiable, byte_range


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-99", (0, 99)),
    ("bytes=10-10", (10, 10)),
    ("bytes=990-5000", (990, 999)),  # the end is clamped to the last byte
    ("bytes=500-", (500, 999)),
    ("bytes=-100", (900, 999)),  # a suffix: the last 100 bytes
    ("bytes=-5000", (0, 999)),
    ("Bytes=0-1", (0, 1)),  # the unit is case-insensitive
    (None, None),
    ("", None),
    ("bytes=0-9,20-29", None),  # several ranges: the whole body is a fine answer
    ("bytes=9-0", None),  # malformed ranges are ignored, as RFC 9110 allows
    ("bytes=-", None),
    ("bytes=a-b", None),
    ("items=0-9", None),  # a unit we do not know must be ignored
])
def test_byte_range(header, expected):
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header, size", [("bytes=1000-", 1000), ("bytes=1000-2000", 1000), ("bytes=-0", 1000),
                                          ("bytes=0-0", 0), ("bytes=-10", 0)])
def test_unsatisfiable(header, size):
    with pytest.raises(RangeUnsatisfiable):
        byte_range(header, size)
