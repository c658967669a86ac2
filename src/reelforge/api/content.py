"""Serve an artifact: a file response with Range support where the backend is a local folder,
a streamed body otherwise."""

from __future__ import annotations

from fastapi.responses import FileResponse, Response, StreamingResponse

from ..service.videos import Content, VideoService


def artifact_response(svc: VideoService, content: Content) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{content.filename}"'}
    if content.path is not None:
        # Starlette's FileResponse answers Range requests (206, multipart ranges, 416) itself.
        return FileResponse(content.path, media_type=content.media_type, headers=headers)
    headers["Content-Length"] = str(content.size)
    return StreamingResponse(svc.iter_content(content), media_type=content.media_type, headers=headers)
