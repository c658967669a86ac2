"""Serve an artifact: a file response where the backend is a local folder, a streamed body otherwise
(S3). Both answer a single-range ``Range`` request with 206, so players can seek either way."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from ..service.videos import Content, VideoService

_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class RangeUnsatisfiable(Exception):
    """The range starts at or past the end of the body: HTTP 416."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive range a ``Range`` header asks of ``size`` bytes; None where the whole body is the answer.

    The whole body answers a missing, malformed or multi-range header (RFC 9110 lets a server ignore
    those); a range that starts past the end raises ``RangeUnsatisfiable``.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
    elif last:
        start, end = max(size - int(last), 0), size - 1  # a suffix: the last n bytes
        if int(last) == 0:
            raise RangeUnsatisfiable
    else:
        return None
    if start >= size:
        raise RangeUnsatisfiable
    return start, min(end, size - 1)


def artifact_response(request: Request, svc: VideoService, content: Content) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{content.filename}"', "Accept-Ranges": "bytes"}
    if content.path is not None:
        # Starlette's FileResponse answers Range requests (206, multipart ranges, 416) itself.
        return FileResponse(content.path, media_type=content.media_type, headers=headers)
    # A conditional range would need a validator we do not send; the whole body is always right for it.
    header = None if "if-range" in request.headers else request.headers.get("range")
    try:
        wanted = byte_range(header, content.size)
    except RangeUnsatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{content.size}"})
    if wanted is None:
        headers["Content-Length"] = str(content.size)
        return StreamingResponse(svc.iter_content(content), media_type=content.media_type, headers=headers)
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{content.size}"
    return StreamingResponse(svc.iter_content(content, start, end), status_code=206,
                             media_type=content.media_type, headers=headers)
