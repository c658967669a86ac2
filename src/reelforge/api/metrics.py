"""Prometheus metrics at /metrics (prometheus-client's text format).

Two kinds, so the numbers stay right with several API and worker processes:
  * the queue (jobs by status, queue depth per model, live workers, queue-wait and run-time
    histograms) is read from the store at each scrape (``VideoService.metrics``): every replica
    reports the same values, whichever worker did the work;
  * HTTP latency per route is this process's own, as any per-replica server metric is: Prometheus
    scrapes each replica and sums across them.
Like /readyz's detail, it is for callers with a key (or the open local account): a scraper sends
one as a bearer token.
"""

from __future__ import annotations

import re

import time

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import Histogram as HttpHistogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Unauthenticated
from ..service.videos import Histogram, VideoService
from .auth import identify


class QueueCollector:
    """Collects the store's view of the queue on each scrape."""

    def __init__(self, service: VideoService):
        self.service = service

    def collect(self):
        m = self.service.metrics()
        by_status = GaugeMetricFamily("reelforge_jobs", "Jobs by status.", labels=["status"])
        for status, n in m.jobs.items():
            by_status.add_metric([status], n)
        yield by_status
        depth = GaugeMetricFamily("reelforge_queue_depth", "Queued jobs per model.", labels=["model"])
        for model, n in sorted(m.queued_by_model.items()):
            depth.add_metric([model], n)
        yield depth
        yield GaugeMetricFamily("reelforge_workers_live", "Workers with a heartbeat within one lease.",
                                value=m.live_workers)
        yield _histogram("reelforge_queue_wait_seconds", "From creation to a job's first start.", m.queue_wait)
        yield _histogram("reelforge_run_seconds", "From start to completion, completed jobs.", m.run_time)
        steps = HistogramMetricFamily("reelforge_denoising_step_seconds",
                                      "Mean seconds per denoising step of each completed job, per model.",
                                      labels=["model"])
        for model, h in sorted(m.step_time.items()):
            steps.add_metric([model], _buckets(h), sum_value=h.total)
        yield steps


_CONVERTOR = re.compile(r":[a-z_]+\}")

def _buckets(h: Histogram) -> list[tuple[str, int]]:
    return [(str(bound), n) for bound, n in h.buckets] + [("+Inf", h.count)]


def _histogram(name: str, documentation: str, h: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, documentation, buckets=_buckets(h), sum_value=h.total)


class RouteTimer:
    """Times each request under its route's path template (never the raw path: ids would explode the labels)."""

    def __init__(self, app: ASGIApp, histogram: HttpHistogram):
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # "{video_id:openai_video_id}" reads as "{video_id}": the label is the path as documented.
            route = _CONVERTOR.sub("}", getattr(scope.get("route"), "path", None) or "unmatched")
            self.histogram.labels(scope["method"], route, str(status[0])).observe(time.perf_counter() - start)


def install(app: FastAPI, service: VideoService) -> None:
    registry = CollectorRegistry()
    registry.register(QueueCollector(service))
    http = HttpHistogram("reelforge_http_request_duration_seconds", "HTTP request latency by route.",
                         ["method", "route", "status"], registry=registry)
    app.add_middleware(RouteTimer, histogram=http)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response,
             include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if await run_in_threadpool(identify, request) is None:
            raise Unauthenticated("/metrics needs an API key (Authorization: Bearer).")
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
