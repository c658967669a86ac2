"""The worker loop: claim a job, run it, store its artifacts, complete it; forever.

One job at a time per worker (a pipeline instance keeps per-call state). A
failure in one job fails that job with a clear error and the loop goes on.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from ..artifacts import open_artifacts
from ..catalog import Catalog
from ..errors import GenerationFailed, JobCancelled, LeaseLost, ReelforgeError, WorkerStopping
from ..jobs import Job, JobSpec, Task
from ..settings import Settings
from ..store import JobStore, Wakeups, WorkerRegistry
from .control import JobControl
from .render import OUTPUTS, generate_frames, source_picks, write_outputs

log = logging.getLogger("reelforge.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, settings: Settings, *, stopping: threading.Event | None = None,
                 draining: threading.Event | None = None, store: JobStore | None = None):
        self.settings = settings
        self.id = new_worker_id()
        self.store = store or JobStore(settings.database_url)
        self.artifacts = open_artifacts(settings)
        self.catalog = Catalog.from_settings(settings)
        self.stopping = stopping or threading.Event()
        # Set: claim no new job (the one running goes on until ``stopping``).
        self.draining = draining or threading.Event()
        self._engine = None
        self._last_sweep = 0.0
        self.registry = WorkerRegistry(self.store)
        self.started_at = time.time()
        self.current_job: str | None = None
        # Set while serve_forever runs: pushes new jobs and cancels of the running one (PostgreSQL).
        self.wakeups: Wakeups | None = None

    @property
    def engine(self):
        if self._engine is None:
            from ..engine.device import set_threads
            from ..engine.runtime import GIB, Engine  # torch arrives here, in the worker process only

            set_threads(self.settings.torch_threads)
            self._engine = Engine(
                self.settings.models_path, self.catalog, device_pref=self.settings.device,
                max_resident=self.settings.max_resident_models,
                max_resident_bytes=int(self.settings.max_resident_memory_gb * GIB),
            )
        return self._engine

    def serve_forever(self) -> None:
        log.info("worker %s ready", self.id)
        done = threading.Event()
        beats = threading.Thread(target=self._beat_until, args=(done,), name="worker-heartbeat", daemon=True)
        self.beat()
        beats.start()
        wakeups = self.wakeups = Wakeups(self.store.engine)
        idle = self.settings.notify_poll_seconds if wakeups.pushed else self.settings.poll_interval
        try:
            while not self.stopping.is_set() and not self.draining.is_set():
                if not self.run_once():
                    wakeups.wait(idle)
        finally:
            self.wakeups = None
            wakeups.close()
            done.set()
            beats.join(5)
            self.registry.stopped(self.id)
        log.info("worker %s stopped", self.id)

    def beat(self) -> None:
        """Tell the registry this worker lives: where, on what device, with which models, on which job."""
        engine = self._engine
        self.registry.beat(
            self.id, host=socket.gethostname(), pid=os.getpid(),
            device=str(engine.device) if engine is not None else f"{self.settings.device} (not loaded yet)",
            models=engine.resident if engine is not None else [], current_job=self.current_job,
            started_at=self.started_at)

    def _beat_until(self, done: threading.Event) -> None:
        # Three beats a lease: a worker counts as dead once a whole lease passes without one.
        while not done.wait(self.settings.lease_seconds / 3):
            try:
                self.beat()
            except Exception:  # a store blip must not stop the worker; the next beat retries
                log.warning("worker heartbeat failed:\n%s", traceback.format_exc())

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue was empty."""
        self._sweep()
        if not self.store.has_queued():
            return False
        job = self.store.claim(self.id, self.settings.lease_seconds)
        if job is None:
            return False
        self.run(job)
        return True

    def _sweep(self) -> None:
        # Any worker may requeue jobs whose worker died; doing it every half lease bounds the delay.
        now = time.time()
        if now - self._last_sweep >= self.settings.lease_seconds / 2:
            self._last_sweep = now
            swept = self.store.requeue_expired(now)
            if swept.requeued or swept.failed or swept.cancelled:
                log.warning("expired leases: requeued %s, failed %s, cancelled %s", swept.requeued, swept.failed, swept.cancelled)

    def run(self, job: Job) -> None:
        prefix = f"jobs/{job.id}/a{job.attempts}/"
        ctl = JobControl(
            self.store, job.id, self.id,
            lease_seconds=self.settings.lease_seconds, interval=self.settings.progress_interval, stopping=self.stopping,
            steps=job.spec.num_inference_steps,
        )
        log.info("job %s attempt %d: %s", job.id, job.attempts, job.spec.model)
        self.current_job = job.id
        if self.wakeups is not None:
            # A cancel then stops the job at its next step, not at the next heartbeat (which still checks).
            self.wakeups.watch_cancel(job.id, ctl.cancelled)
        try:
            with ctl:
                result = self._execute(job, ctl, prefix)
                ctl.check()
            if self.store.complete(job.id, self.id, result):
                log.info("job %s completed", job.id)
                return
            # Refused: the job was cancelled (or deleted) at the last moment, or our lease lapsed.
            self.artifacts.delete_prefix(prefix)
            if self.store.mark_cancelled(job.id, self.id):
                log.info("job %s cancelled just before completion", job.id)
        except JobCancelled:
            self.artifacts.delete_prefix(prefix)
            self.store.mark_cancelled(job.id, self.id)
            log.info("job %s cancelled", job.id)
        except LeaseLost:
            self.artifacts.delete_prefix(prefix)
            log.warning("job %s: lease lost, dropping this attempt", job.id)
        except WorkerStopping:
            self.artifacts.delete_prefix(prefix)
            self.store.release(job.id, self.id)
            log.info("job %s handed back to the queue (worker stopping)", job.id)
        except ReelforgeError as exc:
            self.artifacts.delete_prefix(prefix)
            self.store.fail(job.id, self.id, exc.code, exc.message)
            log.warning("job %s failed: %s", job.id, exc.message)
        except Exception as exc:
            self.artifacts.delete_prefix(prefix)
            self.store.fail(job.id, self.id, "generation_failed", f"{type(exc).__name__}: {exc}")
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
        finally:
            if self.wakeups is not None:
                self.wakeups.unwatch_cancel(job.id)
            self.current_job = None

    def _image(self, key: str | None) -> Image.Image | None:
        if key is None:
            return None
        return Image.open(io.BytesIO(self.artifacts.get_bytes(key))).convert("RGB")

    def _video(self, spec: JobSpec):
        """The decoded source clip of an edit or extension (uint8 (T, H, W, 3)), or None: only the
        frames the job uses, no larger than its output, so an upload's length and resolution do not
        decide the worker's memory."""
        if spec.input_video is None:
            return None
        from ..media.video import decode_mp4

        try:
            return decode_mp4(io.BytesIO(self.artifacts.get_bytes(spec.input_video)), picks=source_picks(spec),
                              cover=(spec.width, spec.height))
        except ValueError as e:  # the service validated the upload; a stored copy can still be damaged
            raise GenerationFailed(f"the source video could not be decoded: {e}") from e

    def _execute(self, job: Job, ctl: JobControl, prefix: str) -> dict:
        spec = job.spec
        entry = self.catalog.resolve(spec.model)
        image, last = (self._image(k) for k in (spec.input_image, spec.last_image))
        video = self._video(spec) if spec.task in (Task.EDIT, Task.EXTEND) else None
        t0 = time.perf_counter()
        frames = generate_frames(self.engine, entry, spec, image, ctl.on_step, last_image=last, video=video)
        t1 = time.perf_counter()
        ctl.check()
        ctl.set_progress(92)
        with tempfile.TemporaryDirectory(prefix="reelforge-") as tmp:
            paths = write_outputs(frames, spec, Path(tmp))
            ctl.check()
            ctl.set_progress(97)
            keys = {variant: prefix + OUTPUTS[variant] for variant in paths}
            # Side by side: against a remote S3 a job then waits for one round trip, not one per variant.
            with ThreadPoolExecutor(len(paths), thread_name_prefix="upload") as pool:
                list(pool.map(lambda variant: self.artifacts.put_file(keys[variant], paths[variant]), paths))
        t2 = time.perf_counter()
        total = int(frames.shape[0])
        extra = {}
        if spec.task is Task.EXTEND:
            # The video is the stitched clip: the source, then the new frames after the seam frame.
            source = total - (spec.num_frames - 1)
            extra["extension"] = {"source_frames": source, "generated_frames": spec.num_frames,
                                  "new_frames": spec.num_frames - 1, "total_frames": total}
        return {
            "artifacts": keys,
            # Frames and seconds of the video as stored (an extension's stitched totals).
            "num_frames": total,
            "seconds": round(total / spec.fps, 3),
            **extra,
            "fps": spec.fps,
            "width": spec.width,
            "height": spec.height,
            "native_size": f"{frames.shape[2]}x{frames.shape[1]}",
            "attempt": job.attempts,
            "worker": self.id,
            "timings": {"generate_s": round(t1 - t0, 3), "encode_s": round(t2 - t1, 3), "step_s": ctl.step_seconds},
        }
