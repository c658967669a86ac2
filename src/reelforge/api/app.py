"""The FastAPI app factory. Importing this never imports torch (a test checks)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import __version__
from ..artifacts import open_artifacts
from ..catalog import Catalog
from ..errors import Unavailable
from ..service.videos import VideoService
from ..settings import Settings
from ..store import JobStore
from . import errors, openai, signed
from .dialects import DIALECTS
from .auth import RateLimitHeaders
from .limits import BodyLimit


def create_app(settings: Settings | None = None, *, store: JobStore | None = None) -> FastAPI:
    settings = settings or Settings()
    store = store or JobStore(settings.database_url)
    catalog = Catalog.from_settings(settings)
    artifacts = open_artifacts(settings.artifacts_path)

    app = FastAPI(
        title="reelforge",
        version=__version__,
        description="Self-hosted text-to-video and image-to-video: the OpenAI Videos API and vendor dialects.",
    )
    app.state.settings = settings
    app.state.service = VideoService(store, artifacts, catalog, settings)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(RateLimitHeaders)
    errors.install(app)
    errors.register_renderer("/v1/", openai.render_error)
    app.include_router(openai.router)
    app.include_router(signed.router)
    for dialect in DIALECTS:
        for prefix in dialect.PREFIXES:
            errors.register_renderer(prefix, dialect.render_error)
        app.include_router(dialect.router)

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="The job store answers and the artifact store is writable")
    async def readyz():
        try:
            counts = await run_in_threadpool(store.counts)
            await run_in_threadpool(artifacts.put_bytes, "readyz/probe", b"ok")
        except Exception as exc:  # any failure of a dependency means "not ready", with the reason
            raise Unavailable(f"not ready: {type(exc).__name__}: {exc}") from exc
        return JSONResponse({"status": "ready", "jobs": counts})

    return app
