"""Peak RSS of the API process under the two loads that once blew it up (issue 10).

    python bench/api_memory.py [--src PATH] [--gif-requests 3] [--uploads 16]

- gif: one completed job of the largest legal size (1792x1024, 12 s at 30 fps, a real H.264 mp4 made by
  reelforge.media.video.encode_mp4 and completed through the store's claim/complete), then N concurrent
  ``GET /v1/videos/{id}/content?variant=gif``.
- uploads: N concurrent multipart ``POST /v1/videos`` with a 4096x4096 RGBA, mostly-zero PNG
  (~65 kB, the pixel limit) as ``input_reference``.

Each load runs against a fresh ``reelforge serve --workers 0`` (the API process alone) and reports the
process's VmHWM (peak RSS) before and after, and VmRSS once the load is over. ``--src`` runs the server
from another checkout's ``src`` (e.g. a ``git worktree`` of an older commit) to compare the same way.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from reelforge.artifacts import open_artifacts
from reelforge.media.video import encode_mp4
from reelforge.settings import Settings
from reelforge.store import JobStore

from latency import serve, stop  # bench/ is this script's folder, first on sys.path


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def moving_frames(count: int, width: int, height: int) -> np.ndarray:
    """A bright square sliding over a gradient: small frames, upscaled by encode_mp4 to the job's size."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    base = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 96, np.float32)], axis=2).astype(np.uint8)
    frames = np.repeat(base[None], count, axis=0)
    side = height // 4
    for t in range(count):
        left = (t * 2) % (width - side)
        frames[t, side:2 * side, left:left + side] = (255, 240, 40)
    return frames


def complete_largest_job(url: str, data_dir: Path) -> str:
    """Create the largest legal job over HTTP, then finish it the way a worker would, with a real mp4."""
    r = httpx.post(url + "/v1/videos", json={"prompt": "a yellow square moves right", "model": "sora-2-pro",
                                              "size": "1792x1024", "seconds": "12", "fps": 30}, timeout=30)
    r.raise_for_status()
    settings = Settings(overrides={"data_dir": str(data_dir)})
    store = JobStore(settings.database_url)
    try:
        job = store.claim("bench-worker", 600)
        assert job is not None and job.spec.width == 1792 and job.spec.height == 1024, job
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "video.mp4"
            encode_mp4(moving_frames(job.spec.num_frames, 224, 128), job.spec.fps, path, size=(1792, 1024))
            key = f"jobs/{job.id}/a{job.attempts}/video.mp4"
            open_artifacts(settings.artifacts_path).put_file(key, path)
        assert store.complete(job.id, "bench-worker", {"artifacts": {"video": key}, "num_frames": job.spec.num_frames,
                                                        "fps": job.spec.fps, "width": 1792, "height": 1024})
        return r.json()["id"]
    finally:
        store.close()


def pixel_limit_png() -> bytes:
    pixels = np.zeros((4096, 4096, 4), np.uint8)
    pixels[1000:1064, 1000:1064] = (200, 30, 30, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def measure(name: str, src: Path | None, load) -> None:
    with tempfile.TemporaryDirectory(prefix="reelforge-mem-") as tmp:
        # The server runs HEAD's code, or the other checkout's src when one is given.
        proc, url = serve(Path(tmp), workers=0, env={"PYTHONPATH": str(src)} if src is not None else None)
        try:
            statuses = load(url, Path(tmp), proc.pid)
            time.sleep(1.0)
            peak = status_kb(proc.pid, "VmHWM") / 1024
            held = status_kb(proc.pid, "VmRSS") / 1024
            print(f"{name}: peak RSS {peak:.0f} MB, RSS after {held:.0f} MB, statuses {statuses}", flush=True)
        finally:
            stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="a checkout's src folder to run the server from")
    parser.add_argument("--gif-requests", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=16)
    args = parser.parse_args()

    def gif_load(url, data_dir, pid):
        video_id = complete_largest_job(url, data_dir)
        print(f"gif: before the requests peak RSS {status_kb(pid, 'VmHWM') / 1024:.0f} MB", flush=True)
        with ThreadPoolExecutor(args.gif_requests) as pool:
            rs = list(pool.map(lambda _: httpx.get(f"{url}/v1/videos/{video_id}/content", params={"variant": "gif"},
                                                   timeout=900), range(args.gif_requests)))
        for r in rs:
            if r.status_code == 200:
                with Image.open(io.BytesIO(r.content)) as gif:
                    print(f"  gif {gif.size[0]}x{gif.size[1]}, {gif.n_frames} frames, {len(r.content)} bytes")
        return [r.status_code for r in rs]

    png = pixel_limit_png()

    def upload_load(url, data_dir, pid):
        print(f"uploads: before the requests peak RSS {status_kb(pid, 'VmHWM') / 1024:.0f} MB, PNG {len(png)} bytes",
              flush=True)
        with ThreadPoolExecutor(args.uploads) as pool:
            rs = list(pool.map(lambda _: httpx.post(
                url + "/v1/videos", data={"prompt": "a red square", "size": "1792x1024"},
                files={"input_reference": ("ref.png", png, "image/png")}, timeout=900), range(args.uploads)))
        return sorted(r.status_code for r in rs)

    measure(f"gif x{args.gif_requests}", args.src, gif_load)
    measure(f"uploads x{args.uploads}", args.src, upload_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
