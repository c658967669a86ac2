"""The aimlapi dialect (API-COMPAT.md). Being written: no routes yet."""

from __future__ import annotations

from fastapi import APIRouter

from ..errors import generic_renderer as render_error

router = APIRouter(tags=["aimlapi"])
PREFIXES: tuple[str, ...] = ()
__all__ = ["PREFIXES", "render_error", "router"]
