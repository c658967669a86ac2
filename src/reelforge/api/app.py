"""The FastAPI app factory. Importing this never imports torch (a test checks)."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator, Protocol

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import __version__
from ..service.events import EventStreams
from ..service.videos import VideoService
from ..settings import Settings
from . import browsers, contract, docs, errors, events, metrics, openai, playground, signed, webhook_bodies, webhooks
from .dialects import DIALECTS
from .auth import OpenMode, RateLimitHeaders, identify
from .limits import BodyLimit


class Background(Protocol):
    """Work the API process does besides answering requests (webhook delivery, event wake-ups)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    started: list[Background] = []
    try:
        for task in app.state.background:
            task.start()
            started.append(task)
        yield
    finally:
        for task in reversed(started):
            await run_in_threadpool(task.stop)


def create_app(settings: Settings | None = None, *, service: VideoService | None = None) -> FastAPI:
    """The app over ``service``, by default ``VideoService.open(settings)``; a given service brings its
    own settings. A caller with its own store (one it has just migrated) opens the service over it,
    so the api never touches a store (the import contract in pyproject.toml)."""
    service = service or VideoService.open(settings or Settings())
    settings = service.settings

    # /docs and /redoc serve Swagger UI's and ReDoc's files from the installed package: no CDN, so
    # they work offline. /redoc is docs.py's: fastapi-offline's would still fetch ReDoc's logo online.
    app = FastAPIOffline(
        title="reelforge",
        version=__version__,
        description="Self-hosted text-to-video and image-to-video: the OpenAI Videos API and vendor dialects.",
        lifespan=_lifespan,
        redoc_url=None,
    )
    docs.install(app)
    app.state.settings = settings
    app.state.service = service
    app.state.open_mode = OpenMode(service, settings.host)
    app.state.background = []  # Background tasks, started and stopped with the server
    app.state.event_streams = EventStreams(service)  # wakes the SSE streams (api/events.py)
    app.state.background.append(app.state.event_streams)
    # The webhook outbox is worked here: its bodies are the dialects' (see service/delivery.py).
    service.webhooks.deliverer.renderers.update(webhook_bodies.renderers(app))
    app.state.background.append(service.webhooks.deliverer)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(RateLimitHeaders)
    browsers.install(app, settings)  # outermost: a refused Host or Origin reaches nothing
    errors.install(app)
    errors.register_renderer("/v1/", openai.render_error)
    app.include_router(openai.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(signed.router)
    for dialect in DIALECTS:
        for prefix in dialect.PREFIXES:
            errors.register_renderer(prefix, dialect.render_error)
        app.include_router(dialect.router)

    contract.install(app)
    metrics.install(app, service)
    playground.install(app)  # the web page at / (paths / and /web/... only)

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
        state = await run_in_threadpool(lambda: service.ready(detail=insider))
        return JSONResponse({"status": "ready", **state} if insider else {"status": "ready"})

    return app
