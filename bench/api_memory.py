"""Peak RSS of the API process under the load that once blew it up (issue 10).

    python bench/api_memory.py [--src PATH] [--uploads 16]

(GIFs, the other such load, are made by workers now: the API process no longer decodes videos.)

- uploads: N concurrent multipart ``POST /v1/videos`` with a 4096x4096 RGBA, mostly-zero PNG
  (~65 kB, the pixel limit) as ``input_reference``.

The load runs against a fresh ``reelforge serve --workers 0`` (the API process alone) and reports the
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


from latency import serve, stop  # bench/ is this script's folder, first on sys.path


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


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
    parser.add_argument("--uploads", type=int, default=16)
    args = parser.parse_args()

    png = pixel_limit_png()

    def upload_load(url, data_dir, pid):
        print(f"uploads: before the requests peak RSS {status_kb(pid, 'VmHWM') / 1024:.0f} MB, PNG {len(png)} bytes",
              flush=True)
        with ThreadPoolExecutor(args.uploads) as pool:
            rs = list(pool.map(lambda _: httpx.post(
                url + "/v1/videos", data={"prompt": "a red square", "size": "1792x1024"},
                files={"input_reference": ("ref.png", png, "image/png")}, timeout=900), range(args.uploads)))
        return sorted(r.status_code for r in rs)

    measure(f"uploads x{args.uploads}", args.src, upload_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
