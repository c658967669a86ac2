"""Worker throughput with batching: jobs/s at a batch limit of 1, 2 and 4, side by side in one run.

    python bench/batching.py [--jobs 8] [--rounds 2] [--threads 2] [--size 720x1280]

One in-process worker (SQLite, local artifacts, the built-in model, as `reelforge serve` runs it)
drains a queue of ``--jobs`` compatible jobs at the service default (catalog defaults: 720x1280, 4 s
at 8 fps = 32 frames, 20 steps), each with its own prompt and seed, once per batch limit. The limits
take turns within each of ``--rounds`` rounds, so a machine that gets busier or quieter during the
run weighs on every limit alike. A job's time runs from the queue holding all of them to the last
``completed``: claim, the pipeline call, encoding, storing the files and the store's writes.

Prints jobs/s per limit (the median over rounds), its ratio to a limit of 1, and how the wall time
splits per job: the pipeline calls (what batching shares) and the rest (each job's encode and
uploads, run side by side within a batch, and the store's writes), to tell what batching can win.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reelforge.catalog import Catalog
from reelforge.service.specs import VideoRequest, build_spec
from reelforge.settings import Settings
from reelforge.store import JobStore
from reelforge.worker.runner import Worker

PROMPTS = ("a red circle moving right on a black background", "a blue square moving up on a white background",
           "a yellow star moving left on a navy background", "a green triangle moving down on a gray background")
LIMITS = (1, 2, 4)


def drain(worker: Worker, specs) -> tuple[float, list[dict]]:
    """Seconds from a full queue to the last job completed, and each job's timings."""
    jobs = [worker.store.create(s) for s in specs]
    t0 = time.perf_counter()
    while worker.run_once():
        pass
    elapsed = time.perf_counter() - t0
    done = [worker.store.get(j.id) for j in jobs]
    assert all(d.status.value == "completed" for d in done), [d.error for d in done]
    return elapsed, [d.result for d in done]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=8, help="jobs per drain (a multiple of 4 fills every batch)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the worker")
    ap.add_argument("--size", default=None, help="e.g. 256x256; default: the model's service default")
    a = ap.parse_args()
    catalog = Catalog()
    extra = {"size": a.size} if a.size else {}
    specs = [build_spec(catalog, VideoRequest(prompt=PROMPTS[i % len(PROMPTS)], seed=i, **extra)) for i in range(a.jobs)]
    with tempfile.TemporaryDirectory(prefix="reelforge-batching-") as tmp:
        settings = Settings(overrides={"data_dir": tmp, "models_dir": str(Path(tmp) / "models"),
                                       "torch_threads": a.threads, "max_batch": max(LIMITS)})
        store = JobStore(settings.database_url)
        store.migrate()
        worker = Worker(settings, store=store)
        drain(worker, specs[:1])  # warm-up: loads the model
        rates: dict[int, list[float]] = {b: [] for b in LIMITS}
        split: dict[int, list[tuple[float, float]]] = {b: [] for b in LIMITS}
        for _ in range(a.rounds):
            for b in LIMITS:
                settings._values["max_batch"] = b
                elapsed, results = drain(worker, specs)
                rates[b].append(a.jobs / elapsed)
                # A batch's pipeline call is reported by each of its jobs; count it once per batch. The
                # rest of the wall time (outputs, store writes, claims) is what batching leaves per job.
                pipeline = sum(r["timings"]["generate_s"] / r.get("batch", {"size": 1})["size"] for r in results)
                split[b].append((pipeline, elapsed - pipeline))
        store.close()
    spec = specs[0]
    print(f"built-in model, {spec.width}x{spec.height}, {spec.num_frames} frames, {spec.num_inference_steps} steps, "
          f"{a.jobs} jobs per drain, {a.rounds} rounds, worker threads {a.threads} (medians):")
    base = statistics.median(rates[1])
    for b in LIMITS:
        rate = statistics.median(rates[b])
        pipeline = statistics.median(p for p, _ in split[b]) / a.jobs
        rest = statistics.median(r for _, r in split[b]) / a.jobs
        print(f"  B={b}  {rate:6.3f} jobs/s  {rate / base:5.2f}x B=1   wall time per job: pipeline {pipeline:6.3f} s, "
              f"the rest (outputs, store) {rest:6.3f} s")
    print("goal: >= 2x at B=4")


if __name__ == "__main__":
    main()
