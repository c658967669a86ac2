"""The FastAPI app factory. Importing this never imports torch (a test checks)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import __version__
from ..artifacts import open_artifacts
from ..catalog import Catalog
from ..errors import Unavailable, describe
from ..service.videos import VideoService
from ..settings import Settings
from ..store import JobStore
from . import browsers, contract, errors, openai, signed
from .dialects import DIALECTS
from .auth import RateLimitHeaders, identify
from .limits import BodyLimit


def create_app(settings: Settings | None = None, *, store: JobStore | None = None) -> FastAPI:
    settings = settings or Settings()
    store = store or JobStore(settings.database_url)
    catalog = Catalog.from_settings(settings)
    artifacts = open_artifacts(settings.artifacts_path)

    # /docs serves Swagger UI's files from the installed package: no CDN, so it works offline.
    app = FastAPIOffline(
        title="reelforge",
        version=__version__,
        description="Self-hosted text-to-video and image-to-video: the OpenAI Videos API and vendor dialects.",
    )
    app.state.settings = settings
    app.state.service = VideoService(store, artifacts, catalog, settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(RateLimitHeaders)
    browsers.install(app, settings)  # outermost: a refused Host or Origin reaches nothing
    errors.install(app)
    errors.register_renderer("/v1/", openai.render_error)
    app.include_router(openai.router)
    app.include_router(signed.router)
    for dialect in DIALECTS:
        for prefix in dialect.PREFIXES:
            errors.register_renderer(prefix, dialect.render_error)
        app.include_router(dialect.router)

    contract.install(app)

    @app.get("/healthz", tags=["ops"], summary="The process is up",
             responses={200: contract.ok(contract.Health), **contract.errors(contract.GenericError, (500,))})
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="The job store answers and the artifact store is writable",
             responses={200: contract.ok(contract.Ready), **contract.errors(contract.GenericError, (500, 503))})
    async def readyz(request: Request):
        # Job counts and failure reasons are operational detail: only a caller with a key (or the
        # open local account) sees them; anyone else learns ready or not ready.
        insider = await run_in_threadpool(identify, request) is not None
        try:
            counts = await run_in_threadpool(store.counts)
            await run_in_threadpool(artifacts.put_bytes, "readyz/probe", b"ok")
        except Exception as exc:  # any failure of a dependency means "not ready"
            raise Unavailable(f"not ready: {describe(exc)}" if insider else "not ready") from exc
        return JSONResponse({"status": "ready", "jobs": counts} if insider else {"status": "ready"})

    return app
