"""Request-scoped dependencies shared by every surface."""

from __future__ import annotations

from fastapi import Request

from ..service.videos import VideoService


def service(request: Request) -> VideoService:
    return request.app.state.service
