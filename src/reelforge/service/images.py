"""Input images as the dialects send them: a URL (fetched under the SSRF rules), a data URL,
or bare base64. Blocking (it may fetch): call it from a worker thread."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..media.inputs import decode_base64_image, parse_data_url
from ..media.urlfetch import fetch_url
from ..settings import Settings


def read_image(value: Any, settings: Settings, *, param: str, base64_ok: bool = True) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{param}' must be an image URL{' or base64 data' if base64_ok else ''}.", param=param)
    value = value.strip()
    if value[:5].lower() == "data:":
        return parse_data_url(value, param=param, max_bytes=settings.max_upload_bytes)
    if value[:8].lower() == "https://" or value[:7].lower() == "http://":
        return fetch_url(value, param=param, max_bytes=settings.max_upload_bytes, timeout=settings.fetch_timeout,
                         allow_hosts=settings.allow_hosts)
    if not base64_ok:
        raise InvalidRequest(f"'{param}' must be an http(s) URL.", param=param)
    return decode_base64_image(value, param=param, max_bytes=settings.max_upload_bytes)
