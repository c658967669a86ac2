"""/redoc, from the ReDoc build that fastapi-offline ships, with its one request to the internet taken out.

ReDoc's sidebar footer ("API docs by Redocly") always loads its vendor's logo from cdn.redoc.ly, and
ReDoc has no option to turn it off. Offline that request fails and the console logs the failure, so the
page would not be self-contained. With an empty ``src`` the image fails at once, without a request,
and ReDoc drops it as it does when the CDN is unreachable. Swagger UI needs no such change: /docs is
fastapi-offline's own.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

# fastapi-offline's default mount for its files (the favicon is used from there as is).
_STATIC_URL = "/static-offline-docs"
_CDN_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


def install(app: FastAPI) -> None:
    """Serve ReDoc at /redoc; the app is built with ``FastAPIOffline(redoc_url=None)``."""
    js = (files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    # A ReDoc that fetches its logo some other way would slip past this replace; the browser test
    # (tests/api/test_docs_offline.py) refuses every request off the server and would fail.
    js = js.replace(_CDN_LOGO, b'src:""')
    js_url = "/redoc/redoc.standalone.js"

    @app.get(js_url, include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(js, media_type="text/javascript")

    @app.get("/redoc", include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=app.title + " - ReDoc",
            redoc_js_url=f"{root}{js_url}",
            redoc_favicon_url=f"{root}{_STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
