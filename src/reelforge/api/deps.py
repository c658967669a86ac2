"""Request-scoped dependencies shared by every surface."""

from __future__ import annotations

from fastapi import Request

from ..service.videos import VideoService


async def service(request: Request) -> VideoService:
    # async only so FastAPI calls it on the event loop: a plain def would cost every request a hop
    # through the thread pool to read one attribute.
    return request.app.state.service
