"""Video use cases: submit, look up, list, cancel, delete, remix, open content.

Every surface calls these; none of them knows HTTP or imports torch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ..accounts import Account, RateState
from ..artifacts import open_artifacts
from ..artifacts.base import ArtifactStore
from ..catalog import Catalog, ModelEntry
from ..errors import Conflict, GenerationFailed, InvalidRequest, Unavailable, WaitTimeout, describe, shown
from ..jobs import Job, JobSpec, JobStatus
from ..media.inputs import read_input_image
from ..settings import Settings
from ..store import AccountStore, EventLog, Histogram, JobStats, JobStore, Page, WorkerInfo, WorkerRegistry
from .characters import Characters
from .edits import Edits
from .fitting import fit
from .images import read_image
from .models import Installed, check_loras, installed, serving
from .pricing import credits_per_second, price
from .specs import VideoRequest, build_spec
from .webhooks import WebhookService

VARIANTS = {
    "video": ("video.mp4", "video/mp4"),
    "thumbnail": ("thumbnail.webp", "image/webp"),
    "spritesheet": ("spritesheet.jpg", "image/jpeg"),
    "gif": ("video.gif", "image/gif"),
}


@dataclass(frozen=True)
class Content:
    key: str
    media_type: str
    filename: str
    size: int
    path: Path | None  # the file itself where the artifact store is a local folder


@dataclass(frozen=True)
class QueueMetrics:
    """The queue as /metrics shows it, read from the store (so the same from every API replica)."""

    jobs: dict[str, int]  # by status
    queued_by_model: dict[str, int]
    live_workers: int
    queue_wait: Histogram
    run_time: Histogram
    step_time: dict[str, Histogram]  # per model


@dataclass(frozen=True)
class Plan:
    """What a create would make: the model that runs, the fitted spec (with its adjustments) and its price."""

    entry: ModelEntry
    spec: JobSpec
    price: int

    @property
    def credits_per_second(self) -> float:
        return credits_per_second(self.entry, self.spec.size)


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key on a create: scoped to the account and the route, bound to the payload."""

    route: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool = False  # an earlier request with the same Idempotency-Key made this job


class VideoService:
    def __init__(self, store: JobStore, artifacts: ArtifactStore, catalog: Catalog, settings: Settings):
        self.store = store
        self.accounts = AccountStore(store)
        self.workers = WorkerRegistry(store)
        self.stats = JobStats(store)
        self.events = EventLog(store.engine)
        self.webhooks = WebhookService(store, settings)
        self.artifacts = artifacts
        self.catalog = catalog
        self.settings = settings
        self.edits = Edits(self)
        self.characters = Characters(self)

    @classmethod
    def open(cls, settings: Settings, *, store: JobStore | None = None) -> VideoService:
        """The service over the configured store, artifacts and catalog. The API gets its service from
        here, so wiring the store stays below the api layer (the import contract in pyproject.toml)."""
        return cls(store or JobStore(settings.database_url), open_artifacts(settings),
                   Catalog.from_settings(settings), settings)

    def ready(self, *, detail: bool) -> dict[str, Any]:
        """Job counts by status and the live worker count, once the store has answered and the artifact
        store took a write. Any failure of either means not ready: Unavailable, with the reason only
        if ``detail``."""
        try:
            counts = self.store.counts()
            live = self.workers.live_count(self.settings.lease_seconds)
            self.artifacts.put_bytes("readyz/probe", b"ok")
        except Exception as exc:  # whatever a dependency raises, the answer is "not ready"
            raise Unavailable(f"not ready: {describe(exc)}" if detail else "not ready") from exc
        return {"jobs": counts, "workers": live}

    def metrics(self) -> QueueMetrics:
        return QueueMetrics(self.store.counts(), self.stats.queued_by_model(),
                            self.workers.live_count(self.settings.lease_seconds), self.stats.queue_wait(),
                            self.stats.run_time(), self.stats.step_time())

    def worker_list(self) -> list[WorkerInfo]:
        """Every worker that has run against this store, newest first (``reelforge workers``)."""
        return self.workers.list()

    # --- callers: keys, rate limits, balance ---------------------------------------------------

    def keyed(self) -> bool:
        """Whether any API key was ever created (revoked ones count: rows are never deleted)."""
        return self.accounts.any()

    def authenticate(self, key: str) -> Account | None:
        """The account of a valid, unrevoked key; None otherwise."""
        return self.accounts.authenticate(key)

    def rate(self, account: Account) -> RateState:
        """The account's rate-limit window as it stands, without counting a request."""
        return self.accounts.peek(account)

    def count_request(self, account: Account) -> RateState:
        """Counts one create against the account's rate limit; the state says whether it is exceeded."""
        return self.accounts.hit(account)

    def uncount_request(self, account: Account, state: RateState) -> RateState:
        """Takes back a counted create that was refused before it made anything."""
        return self.accounts.unhit(account, state)

    def balance(self, account: Account) -> int | None:
        """The account's credits now; None for an unmetered account (nothing is ever charged to it)."""
        return self.accounts.get(account.id).credits if account.metered else None

    # --- videos -------------------------------------------------------------------------------

    def plan(self, req: VideoRequest, *, image_size: tuple[int, int] | None = None) -> Plan:
        """The one path from a request to a spec: the model that serves it (a stand-in, or a refusal,
        while its weights are absent), the request fitted to that model, then every rule checked.
        ``image_size`` is the decoded first frame's (width, height), when there is one. Errors name
        the wire field the caller sent (``VideoRequest.params``)."""
        models_path = self.settings.models_path  # resolved on each read (a filesystem walk): read it once
        try:
            entry, stand_in = serving(
                self.catalog, req.model, models_path, policy=self.settings.substitute_models,
                param=req.model_param, asked=req.model_asked, image=req.image is not None, keyframes=req.last_image is not None,
                task=req.task)
            fitted, adjustments = fit(entry, req, image_size=image_size, stand_in=stand_in is not None)
            spec = build_spec(self.catalog, dataclasses.replace(fitted, model=entry.id), image_size=image_size)
            check_loras(spec.loras, models_path)
        except InvalidRequest as exc:
            exc.param = req.wire(exc.param)
            raise
        spec = spec.replace(adjustments=(stand_in,) * (stand_in is not None) + tuple(adjustments))
        return Plan(entry, spec, price(entry, spec))

    def quote(self, req: VideoRequest, account: Account) -> int:
        """What creating ``req`` would charge ``account`` (the estimate routes); 0 when unmetered."""
        return self.plan(req).price if account.metered else 0

    def models(self) -> list[Installed]:
        """Every catalog model, with where its weights are and its prices. Looked up on each call, so
        weights installed while the server runs show at once."""
        return [installed(e, self.settings.models_path) for e in self.catalog]

    def model(self, name: str, *, param: str = "model") -> Installed:
        return installed(self.catalog.resolve(name, param=param), self.settings.models_path)

    def submit(
        self, req: VideoRequest, *, account: Account, surface: str, idempotency: Idempotency | None = None,
    ) -> Submitted:
        req = self.characters.apply(req, account)

        def make() -> Job:
            # Decode both images and validate everything before storing anything, so a bad request
            # leaves nothing behind. The first frame's size can decide the video's (resize_method).
            first = self._decode(req.image, req.image_param)
            last = self._decode(req.last_image, req.last_image_param)
            plan = self.plan(req, image_size=first.size if first is not None else None)
            spec = plan.spec
            if first is not None:
                spec = spec.replace(input_image=self._store_image(first.png))
            if last is not None:
                spec = spec.replace(last_image=self._store_image(last.png))
            return self._create(spec, plan.price, account, surface, idempotency)

        return self._once(account, idempotency, make)

    async def asubmit(
        self, req: VideoRequest, *, account: Account, surface: str, idempotency: Idempotency | None = None,
    ) -> Submitted:
        """submit() from the event loop. A request with nothing to block on before its write (no
        image to decode and store, no character to load, no idempotency key to reserve: a plain
        text-to-video create, most of them) is planned here and queued by one awaited statement
        (``JobStore.acreate``); any other runs submit() in a worker thread, as a sync route would."""
        if idempotency is not None or req.image is not None or req.last_image is not None or req.character_id:
            return await anyio.to_thread.run_sync(functools.partial(
                self.submit, req, account=account, surface=surface, idempotency=idempotency))
        plan = self.plan(req)
        return Submitted(await self.store.acreate(
            plan.spec, account=account.id, surface=surface, max_attempts=self.settings.max_attempts,
            charge=plan.price if account.metered else 0))

    def remix(
        self, job_id: str, prompt: str | None, *, account: Account, surface: str, idempotency: Idempotency | None = None,
    ) -> Submitted:
        """An edit of the completed video ``job_id`` with a new prompt (``service.edits``)."""
        return self.edits.remix(job_id, prompt, account=account, surface=surface, idempotency=idempotency)

    def _once(self, account: Account, idempotency: Idempotency | None, make) -> Submitted:
        if idempotency is None:
            return Submitted(make())
        i = idempotency
        earlier = self.accounts.reserve(account.id, i.route, i.key, i.fingerprint)
        if earlier is not None:
            return Submitted(earlier, replayed=True)
        try:
            return Submitted(make())
        except BaseException:
            # Nothing was created (validation, credits): a corrected retry may use the key.
            self.accounts.unreserve(account.id, i.route, i.key)
            raise

    def _create(self, spec: JobSpec, charge: int, account: Account, surface: str, idempotency: Idempotency | None,
                remixed_from: str | None = None) -> Job:
        charge = charge if account.metered else 0
        try:
            return self.store.create(
                spec, account=account.id, surface=surface, max_attempts=self.settings.max_attempts,
                remixed_from=remixed_from, charge=charge,
                idempotency=(idempotency.route, idempotency.key) if idempotency else None,
            )
        except BaseException:
            for key in (spec.input_image, spec.last_image, spec.input_video):
                if key:
                    self.artifacts.delete(key)
            raise

    def fetch_image(self, value: object, *, param: str, base64_ok: bool = True) -> bytes:
        """An input image as a dialect sends it: a URL (fetched under the SSRF rules), a data URL, or
        bare base64 where ``base64_ok``. Blocking (it may fetch): call it from a worker thread."""
        return read_image(value, self.settings, param=param, base64_ok=base64_ok)

    def _decode(self, data: bytes | None, param: str):
        if data is None:
            return None
        return read_input_image(
            data, param=param, max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_input_pixels
        )

    def _store_image(self, png: bytes) -> str:
        key = f"inputs/{secrets.token_hex(16)}.png"
        self.artifacts.put_bytes(key, png)
        return key

    def get(self, job_id: str, *, account: str) -> Job:
        return self.store.get(job_id, account)

    async def aget(self, job_id: str, *, account: str) -> Job:
        """get() on the event loop: what status polls call, since a hop through the thread pool costs
        more than the read (store/loop_queries.py)."""
        return await self.store.aget(job_id, account)

    def get_by_seq(self, seq: int, *, account: str) -> Job:
        """The job with this integer id (what Syllaby shows); missing and foreign read alike."""
        return self.store.get_by_seq(seq, account)

    async def wait(self, job_id: str, *, account: str, timeout: float, poll: float = 0.25) -> Job:
        """The job once it completed, for synchronous creates. A failed job raises GenerationFailed.
        Past ``timeout`` the job is cancelled (which refunds it), since a synchronous caller holds no
        id to collect it with later, and WaitTimeout says so."""
        deadline = time.monotonic() + timeout
        job = await asyncio.to_thread(self.get, job_id, account=account)
        while not job.finished:
            if time.monotonic() > deadline:
                await asyncio.to_thread(self.cancel, job_id, account=account)
                raise WaitTimeout(f"The video was not ready within {timeout:.0f} s; it was cancelled.")
            await asyncio.sleep(poll)
            job = await asyncio.to_thread(self.get, job_id, account=account)
        if job.status is not JobStatus.COMPLETED:
            raise GenerationFailed(job.error.message if job.error else f"The video {job.status.value}.")
        return job

    def list(self, *, account: str, after: str | None, limit: int, order: str) -> Page:
        if not 1 <= limit <= 100:
            raise InvalidRequest(f"Invalid limit {limit}: it must be between 1 and 100.", param="limit")
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid order {shown(order)}. Allowed: asc, desc.", param="order")
        return self.store.list(account, after=after, limit=limit, order=order)

    def cancel(self, job_id: str, *, account: str) -> Job:
        return self.store.request_cancel(job_id, account)

    def delete(self, job_id: str, *, account: str) -> Job:
        job = self.store.delete(job_id, account)
        # A running job holds its input in memory already and its worker removes its own partial
        # outputs when it sees the cancel (the store refuses to complete a cancelled job).
        self.artifacts.delete_prefix(f"jobs/{job.id}/")
        for key in (job.spec.input_image, job.spec.last_image, job.spec.input_video):
            if key:
                self.artifacts.delete(key)
        return job

    def content(self, job_id: str, variant: str, *, account: str | None) -> Content:
        """``account=None`` only for links signed by us, which already prove who may read the file."""
        if variant not in VARIANTS:
            raise InvalidRequest(f"Invalid variant {shown(variant)}. Allowed: {', '.join(VARIANTS)}.", param="variant")
        job = self.store.get(job_id, account)
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(
                f"Video {shown(job_id)} is {job.status.value}; its content is available once it is completed.",
                param="video_id",
            )
        filename, media_type = VARIANTS[variant]
        key = job.result["artifacts"].get(variant)
        if key is None:
            # Workers make every variant; only jobs finished before they made GIFs lack one.
            raise Conflict(f"Video {shown(job_id)} has no {variant}: it was made before reelforge workers made "
                           f"{variant}s. Allowed for it: {', '.join(v for v in VARIANTS if v in job.result['artifacts'])}.",
                           param="variant", code="variant_unavailable")
        return Content(key=key, media_type=media_type, filename=filename, size=self.artifacts.size(key),
                       path=self.artifacts.local_path(key))

    def content_bytes(self, content: Content) -> bytes:
        return self.artifacts.get_bytes(content.key)

    def iter_content(self, content: Content, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` inclusive (default: to the last byte), streamed in chunks."""
        return self.artifacts.iter_range(content.key, start, content.size - 1 if end is None else end)
