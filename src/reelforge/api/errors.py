"""The one place where typed errors become HTTP statuses.

Each surface registers a renderer for its own envelope under its path prefix;
the status is decided here, from the exception class, for every surface alike.
Anything unmapped is a 500 that carries a request id, never a 400.
"""

from __future__ import annotations

import logging
import uuid
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import errors as e

log = logging.getLogger("reelforge.api")

# Most specific class first.
STATUS: tuple[tuple[type[e.ReelforgeError], int], ...] = (
    (e.PayloadTooLarge, 413),
    (e.UnsupportedContentType, 415),
    (e.MethodNotAllowed, 405),
    (e.IdempotencyMismatch, 422),
    (e.InvalidRequest, 400),
    (e.Unauthenticated, 401),
    # 421 Misdirected Request (RFC 9110 15.5.20): this server is not the one the Host names; a 403
    # would suggest that another key could help.
    (e.UnknownHost, 421),
    (e.Forbidden, 403),
    (e.InsufficientCredits, 402),
    (e.RateLimited, 429),
    (e.LinkExpired, 410),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Unavailable, 503),
    (e.WaitTimeout, 504),
)

Renderer = Callable[[Request, e.ReelforgeError, int], Response]
_renderers: list[tuple[str, Renderer]] = []


def status_for(exc: e.ReelforgeError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def register_renderer(prefix: str, renderer: Renderer) -> None:
    if (prefix, renderer) in _renderers:  # every app instance registers the same surfaces
        return
    _renderers.append((prefix, renderer))
    _renderers.sort(key=lambda pr: -len(pr[0]))


def generic_renderer(request: Request, exc: e.ReelforgeError, status: int) -> Response:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message, "param": exc.param}}, status_code=status)


# A last guard on what an error may say: every message is built to be short, and this keeps a
# message that quotes more than it should (a 10 MB value) from becoming a 10 MB response.
MAX_MESSAGE_CHARS = 2000


def render(request: Request, exc: e.ReelforgeError, status: int | None = None) -> Response:
    status = status_for(exc) if status is None else status
    if not isinstance(exc, e.RateLimited):
        request.state.refused = True  # read by auth.RateLimitHeaders
    if len(exc.message) > MAX_MESSAGE_CHARS:
        exc.message = exc.message[:MAX_MESSAGE_CHARS] + "... (message truncated)"
    response = next((renderer for prefix, renderer in _renderers if request.url.path.startswith(prefix)), generic_renderer)(
        request, exc, status)
    if isinstance(exc, e.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, e.IdempotencyInFlight):
        response.headers["Retry-After"] = "1"
    return response


def _validation_message(err: dict) -> tuple[str, str | None]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    return f"Invalid value {e.shown(err.get('input'))} for '{param}': {err.get('msg', 'invalid')}.", param


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """The Allow header a 405 must carry (RFC 9110 15.5.6): every method some route takes on this path.
    Starlette names only the first matching route's, and FastAPI makes one route per method."""
    routes = request.app.router.routes
    return ", ".join(m for m in _METHODS
                     if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes))


def install(app: FastAPI) -> None:
    @app.exception_handler(e.ReelforgeError)
    async def _typed(request: Request, exc: e.ReelforgeError) -> Response:
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        message, param = _validation_message(exc.errors()[0])
        return render(request, e.InvalidRequest(message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        cls = {404: e.NotFound, 405: e.MethodNotAllowed}.get(exc.status_code, e.ReelforgeError)
        err = cls(f"{request.method} {e.shown(request.url.path)[1:-1]}: {exc.detail}")
        response = render(request, err, exc.status_code)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        rid = uuid.uuid4().hex
        log.exception("unhandled error, request id %s", rid)
        err = e.ReelforgeError(f"Internal server error (request id {rid}).", code="server_error")
        return render(request, err, 500)
