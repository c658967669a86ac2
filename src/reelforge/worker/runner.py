"""The worker loop: claim a job, run it, store its artifacts, complete it; forever.

One pipeline call at a time per worker (a pipeline instance keeps per-call state): one job, or a
batch of compatible ones claimed together (``store.batches``) where the model allows it. A failure
in one job fails that job with a clear error and the loop goes on.
"""

from __future__ import annotations

import contextlib
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
from .render import OUTPUTS, generate_batch, generate_frames, source_picks, write_outputs

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
        """Claim and run one job, or a batch of compatible ones; False when the queue was empty."""
        self._sweep()
        if not self.store.has_queued():
            return False
        self._await_batch()
        jobs = self.store.claim_batch(self.id, self.settings.lease_seconds, self.batch_limit)
        if not jobs:
            return False
        if len(jobs) == 1:
            self.run(jobs[0])
        else:
            self.run_batch(jobs)
        return True

    def batch_limit(self, spec: JobSpec) -> int:
        """How many jobs may share a pipeline call with one of ``spec`` (it included): its model's
        catalog max_batch, within this worker's max_batch. Called inside the claim's transaction, so
        it only looks at the catalog."""
        try:
            entry = self.catalog.resolve(spec.model)
        except ReelforgeError:
            return 1  # a model gone from the catalog: the run fails the job with the catalog's message
        return max(1, min(self.settings.max_batch, entry.max_batch))

    def _await_batch(self) -> None:
        """With a batch window, give compatible jobs until ``batch_window`` after the oldest queued
        job's submission to arrive and fill its batch. Only a read: another worker may claim meanwhile."""
        window = self.settings.batch_window
        if window <= 0 or self.settings.max_batch <= 1:
            return
        while not self.stopping.is_set() and not self.draining.is_set():
            peek = self.store.peek_batch(self.batch_limit)
            if peek is None or peek.ready >= peek.wanted:
                return
            left = peek.created_at + window - time.time()
            if left <= 0:
                return
            self.stopping.wait(min(left, self.settings.poll_interval))

    def _sweep(self) -> None:
        # Any worker may requeue jobs whose worker died; doing it every half lease bounds the delay.
        now = time.time()
        if now - self._last_sweep >= self.settings.lease_seconds / 2:
            self._last_sweep = now
            swept = self.store.requeue_expired(now)
            if swept.requeued or swept.failed or swept.cancelled:
                log.warning("expired leases: requeued %s, failed %s, cancelled %s", swept.requeued, swept.failed, swept.cancelled)

    def _control(self, job: Job) -> JobControl:
        return JobControl(
            self.store, job.id, self.id,
            lease_seconds=self.settings.lease_seconds, interval=self.settings.progress_interval, stopping=self.stopping,
            steps=job.spec.num_inference_steps,
        )

    def _watch(self, job: Job, ctl: JobControl) -> None:
        if self.wakeups is not None:
            # A cancel then stops the job at its next step, not at the next heartbeat (which still checks).
            self.wakeups.watch_cancel(job.id, ctl.cancelled)

    def _unwatch(self, job: Job) -> None:
        if self.wakeups is not None:
            self.wakeups.unwatch_cancel(job.id)

    def run(self, job: Job) -> None:
        ctl = self._control(job)
        log.info("job %s attempt %d: %s", job.id, job.attempts, job.spec.model)
        self.current_job = job.id
        self._watch(job, ctl)
        try:
            with ctl:
                result = self._execute(job, ctl)
                ctl.check()
            self._complete(job, result)
        except Exception as exc:
            self._end(job, exc)
        finally:
            self._unwatch(job)
            self.current_job = None

    def run_batch(self, jobs: list[Job]) -> None:
        """Compatible jobs (``store.batches``) in one pipeline call. Each keeps its own lease, heartbeat,
        progress, artifacts and end: a job cancelled mid-call is ended (and refunded) at once and its
        output discarded while the others go on, and a sample that alone goes wrong fails its job only."""
        log.info("batch of %d on %s: %s", len(jobs), jobs[0].spec.model,
                 ", ".join(f"{j.id} attempt {j.attempts}" for j in jobs))
        ctls = {job.id: self._control(job) for job in jobs}
        live = {job.id: job for job in jobs}  # the jobs still running, in claim order

        def drop(job_id: str, exc: Exception) -> None:
            ctls[job_id].__exit__(None, None, None)  # its heartbeat stops with it
            self._end(live.pop(job_id), exc)

        def on_step(done: int, total: int) -> None:
            for job_id in list(live):
                try:
                    ctls[job_id].on_step(done, total)
                except (JobCancelled, LeaseLost) as exc:  # WorkerStopping goes on up: every job goes back
                    drop(job_id, exc)
            if not live:
                raise JobCancelled("Every job of the batch was cancelled.")

        self.current_job = jobs[0].id  # the registry names one job; the batch's others are in the log
        with contextlib.ExitStack() as stack:
            for job in jobs:
                stack.enter_context(ctls[job.id])
                stack.callback(self._unwatch, job)
                self._watch(job, ctls[job.id])
            stack.callback(setattr, self, "current_job", None)
            images = {}
            for job in jobs:
                try:
                    images[job.id] = self._image(job.spec.input_image)
                except Exception as exc:  # a damaged input fails its own job
                    drop(job.id, exc)
            running = list(live.values())
            if not running:
                return
            t0 = time.perf_counter()
            try:
                entry = self.catalog.resolve(running[0].spec.model)
                outputs = generate_batch(self.engine, entry, [j.spec for j in running],
                                         [images[j.id] for j in running], on_step)
            except Exception as exc:  # the whole call failed, or the worker is stopping
                for job_id in list(live):
                    drop(job_id, exc)
                return
            generate_s = time.perf_counter() - t0
            # Only the size: the other jobs may be other accounts' (the attempts audit has the batch id).
            batch = {"size": len(jobs)}

            def finish(job: Job, frames) -> None:
                if job.id not in live:
                    return  # cancelled (or its lease lost) during the call: its output is discarded
                ctl = ctls[job.id]
                try:
                    if isinstance(frames, Exception):
                        raise frames
                    ctl.check()
                    ctl.set_progress(92)
                    result = self._outputs(job, ctl, frames, generate_s)
                    result["batch"] = batch
                    ctl.check()
                except Exception as exc:
                    drop(job.id, exc)
                    return
                ctl.__exit__(None, None, None)
                self._complete(live.pop(job.id), result)

            # Side by side: x264, swscale and Pillow release the GIL, so the jobs' encodes share the cores
            # (about a tenth faster on 2 cores; the more cores, the more it saves).
            with ThreadPoolExecutor(len(running), thread_name_prefix="outputs") as pool:
                list(pool.map(finish, running, outputs))

    def _complete(self, job: Job, result: dict) -> None:
        if self.store.complete(job.id, self.id, result):
            log.info("job %s completed", job.id)
            return
        # Refused: the job was cancelled (or deleted) at the last moment, or our lease lapsed.
        self.artifacts.delete_prefix(_prefix(job))
        if self.store.mark_cancelled(job.id, self.id):
            log.info("job %s cancelled just before completion", job.id)

    def _end(self, job: Job, exc: Exception) -> None:
        """End a job that did not complete, as ``exc`` says; whatever it stored is removed."""
        self.artifacts.delete_prefix(_prefix(job))
        if isinstance(exc, JobCancelled):
            self.store.mark_cancelled(job.id, self.id)
            log.info("job %s cancelled", job.id)
        elif isinstance(exc, LeaseLost):
            log.warning("job %s: lease lost, dropping this attempt", job.id)
        elif isinstance(exc, WorkerStopping):
            self.store.release(job.id, self.id)
            log.info("job %s handed back to the queue (worker stopping)", job.id)
        elif isinstance(exc, ReelforgeError):
            self.store.fail(job.id, self.id, exc.code, exc.message)
            log.warning("job %s failed: %s", job.id, exc.message)
        else:
            self.store.fail(job.id, self.id, "generation_failed", f"{type(exc).__name__}: {exc}")
            log.error("job %s failed:\n%s", job.id, "".join(traceback.format_exception(exc)))

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

    def _execute(self, job: Job, ctl: JobControl) -> dict:
        spec = job.spec
        entry = self.catalog.resolve(spec.model)
        image, last = (self._image(k) for k in (spec.input_image, spec.last_image))
        video = self._video(spec) if spec.task in (Task.EDIT, Task.EXTEND) else None
        t0 = time.perf_counter()
        frames = generate_frames(self.engine, entry, spec, image, ctl.on_step, last_image=last, video=video)
        generate_s = time.perf_counter() - t0
        ctl.check()
        ctl.set_progress(92)
        return self._outputs(job, ctl, frames, generate_s)

    def _outputs(self, job: Job, ctl: JobControl, frames, generate_s: float) -> dict:
        """Encode and store a job's files; its result."""
        spec = job.spec
        prefix = _prefix(job)
        t1 = time.perf_counter()
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
            # generate_s: the pipeline call, shared by the jobs of a batch.
            "timings": {"generate_s": round(generate_s, 3), "encode_s": round(t2 - t1, 3), "step_s": ctl.step_seconds},
        }


def _prefix(job: Job) -> str:
    """Where an attempt's files go: a retry never mixes with, or deletes, another attempt's."""
    return f"jobs/{job.id}/a{job.attempts}/"
