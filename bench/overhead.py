"""Where a job's time goes between the model and the client, for the built-in model's service default.

    python bench/overhead.py [--runs 5] [--threads 2] [--size 720x1280]

A warm `reelforge serve` (SQLite, local artifacts, one worker) makes ``--runs`` clips one after
another through the official openai SDK (``create_and_poll``, pacing its polls by the server's
``openai-poll-after-ms`` hint, as an unchanged client does). Each job's phases come from the job
store's own timestamps and the worker's timings:

- dispatch: created -> claimed by the idle worker;
- pipeline: the model's call (denoising, decoding and upscaling to the generation size);
- outputs: the mp4 at the requested size, thumbnail, spritesheet and GIF, and storing them;
- finish: the rest of the attempt up to ``completed`` (store writes, events, the outbox);
- seen: ``completed`` -> the client's poll returns it.

Prints the medians, the end-to-end time (the SDK call) and its ratio to the pipeline time; then,
on the last clip's own frames (decoded from its mp4), each output's writer timed alone, to show
which one the outputs phase waits for (the worker runs the mp4 encode beside the images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openai

sys.path.insert(0, str(Path(__file__).parent))
from latency import serve, stop  # noqa: E402  (bench/ is a folder of scripts, not a package)

from reelforge.settings import Settings  # noqa: E402
from reelforge.store import JobStore  # noqa: E402

PROMPT = "a red circle moving right on a black background"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the worker")
    ap.add_argument("--size", default=None, help="e.g. 256x256; default: the model's service default")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelforge-overhead-") as tmp:
        proc, url = serve(Path(tmp), workers=1, env={"REELFORGE_TORCH_THREADS": str(a.threads)})
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key="local", max_retries=0)
            store = JobStore(Settings(overrides={"data_dir": tmp}).database_url)
            extra = {"size": a.size} if a.size else {}
            client.videos.create_and_poll(prompt=PROMPT, **extra)  # warm-up: loads the model
            rows = []
            for i in range(a.runs):
                t0 = time.time()
                video = client.videos.create_and_poll(prompt=PROMPT, extra_body={"seed": i}, **extra)
                seen = time.time()
                assert video.status == "completed", video.error
                job = store.get(video.id.removeprefix("video_"))
                t = job.result["timings"]
                attempt = job.completed_at - job.started_at
                rows.append({
                    "end_to_end": seen - t0,
                    "dispatch": job.started_at - job.created_at,
                    "pipeline": t["generate_s"],
                    "outputs": t["encode_s"],
                    "finish": attempt - t["generate_s"] - t["encode_s"],
                    "seen": seen - job.completed_at,
                })
            store.engine.dispose()
            mp4 = client.videos.download_content(video.id).read()
        finally:
            stop(proc)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"built-in model, {video.size}, {video.seconds} s, {a.runs} runs, worker threads {a.threads} (medians):")
    for k in ("dispatch", "pipeline", "outputs", "finish", "seen"):
        print(f"  {k:<10} {med[k]:7.3f} s")
    print(f"  {'end_to_end':<10} {med['end_to_end']:7.3f} s  = {med['end_to_end'] / med['pipeline']:.2f}x the pipeline"
          f" (goal <= 1.3x)")
    split_outputs(mp4, video)


def split_outputs(mp4: bytes, video) -> None:
    """Each of write_outputs' writers alone on the clip's frames (median of 3), in this process."""
    import io

    import av

    from reelforge.media.gif import gif_from_frames
    from reelforge.media.images import spritesheet_jpeg, thumbnail_webp
    from reelforge.media.video import encode_mp4

    with av.open(io.BytesIO(mp4)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    fps = round(len(frames) / float(video.seconds))
    size = (frames.shape[2], frames.shape[1])
    with tempfile.TemporaryDirectory() as tmp:
        writers = {
            "mp4": lambda: encode_mp4(frames, fps, Path(tmp) / "v.mp4", size=size),
            "thumbnail": lambda: thumbnail_webp(frames, size=size),
            "spritesheet": lambda: spritesheet_jpeg(frames),
            "gif": lambda: gif_from_frames(frames, fps, size=size),
        }
        took = {}
        for name, write in writers.items():
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                write()
                runs.append(time.perf_counter() - t0)
            took[name] = statistics.median(runs)
    print(f"outputs, each writer alone on the {len(frames)} frames of {size[0]}x{size[1]} (the worker runs the mp4 "
          f"beside the three images, one after another):")
    for name, seconds in took.items():
        print(f"  {name:<11} {seconds:7.3f} s")
    images = took["thumbnail"] + took["spritesheet"] + took["gif"]
    print(f"  images     {images:7.3f} s in all, against the mp4's {took['mp4']:.3f} s")


if __name__ == "__main__":
    main()
