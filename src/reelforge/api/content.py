"""Serve an artifact: a file response with Range support where the backend is a local folder,
a streamed body otherwise."""

from __future__ import annotations

from fastapi.responses import FileResponse, Response, StreamingResponse

from ..artifacts.base import ArtifactStore
from ..service.videos import Content


def artifact_response(artifacts: ArtifactStore, content: Content) -> Response:
    path = artifacts.local_path(content.key)
    headers = {"Content-Disposition": f'inline; filename="{content.filename}"'}
    if path is not None:
        # Starlette's FileResponse answers Range requests (206, multipart ranges, 416) itself.
        return FileResponse(path, media_type=content.media_type, headers=headers)
    size = artifacts.size(content.key)
    headers["Content-Length"] = str(size)
    return StreamingResponse(
        artifacts.iter_range(content.key, 0, size - 1), media_type=content.media_type, headers=headers
    )
