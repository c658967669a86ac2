"""The playground: the web page at ``/`` and its static files under ``/web/``.

The page is a plain client of the public /v1 API (src/reelforge/web/: HTML, CSS and ES modules, no
build step, nothing from another origin). The files are read once, when the app is built: they are
a few kilobytes, and serving them from memory gives each a stable ETag without a file system call.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..errors import NotFound, shown

PREFIX = "/web/"
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
# Self only. blob: is the page's own object URLs: downloads need the Authorization header, which
# <video> and <img> cannot send, so the page fetches each artifact and shows it from a blob.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# The names carry no content hash (there is no build step), so a browser must revalidate each
# time; the ETag makes that a 304 with no body.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class _File:
    def __init__(self, body: bytes, media_type: str):
        self.body = body
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def response(self, request: Request, extra: dict[str, str] | None = None) -> Response:
        headers = {**_HEADERS, "ETag": self.etag, **(extra or {})}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _load() -> dict[str, _File]:
    web = files("reelforge") / "web"
    out = {}
    for item in web.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _TYPES:
            out[item.name] = _File(item.read_bytes(), _TYPES[suffix])
    return out


def install(app: FastAPI) -> None:
    web = _load()
    page = web.pop("index.html")

    @app.get("/", include_in_schema=False)
    async def playground(request: Request) -> Response:
        return page.response(request, {"Content-Security-Policy": CSP})

    @app.get(PREFIX + "{name}", include_in_schema=False)
    async def asset(request: Request, name: str) -> Response:
        found = web.get(name)
        if found is None:
            raise NotFound(f"No playground file {shown(name)}.")
        return found.response(request)
