"""Issue 10: the API process's memory stays bounded under the loads that once blew it up.

Peak RSS is the API process's VmHWM (``reelforge serve --workers 0`` runs the API alone). The bounds are
on growth over the process's peak before the load; on HEAD 7e39c6c the same loads grew it by 10 GB
(3 GIFs) and 3.8 GB (16 uploads, 3.3 GB of it still held afterwards).
"""

from __future__ import annotations

import io
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from reelforge.api.app import create_app
from reelforge.artifacts import open_artifacts
from reelforge.media import gif
from reelforge.media.inputs import MAX_SHORT_SIDE
from reelforge.media.video import encode_mp4
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.live import LiveServer
from tests.store.test_contract import SPEC

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")

GIF_GROWTH_MB = 250  # measured: +84 MB
UPLOAD_GROWTH_MB = 400  # measured: +254 MB


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def moving_frames(count: int, width: int, height: int) -> np.ndarray:
    frames = np.zeros((count, height, width, 3), np.uint8)
    frames[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, None, :]
    frames[..., 2] = 96
    side = height // 4
    for t in range(count):
        left = (t * 2) % (width - side)
        frames[t, side:2 * side, left:left + side] = (255, 240, 40)
    return frames


@pytest.fixture
def api(tmp_path):
    srv = LiveServer(tmp_path / "serve", workers=0).start()
    yield srv
    srv.stop()


def complete_largest_job(srv: LiveServer) -> str:
    """The largest legal job, created over HTTP and completed as a worker would: claim, a real mp4, complete."""
    r = httpx.post(srv.base_url + "/v1/videos", json={"prompt": "a yellow square moves right", "model": "sora-2-pro",
                                                       "size": "1792x1024", "seconds": "12", "fps": 30}, timeout=30)
    assert r.status_code == 200, r.text
    settings = Settings(overrides={"data_dir": str(srv.data_dir)})
    store = JobStore(settings.database_url)
    try:
        job = store.claim("test-worker", 600)
        assert (job.spec.width, job.spec.height, job.spec.fps, job.spec.num_frames) == (1792, 1024, 30, 360)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "video.mp4"
            encode_mp4(moving_frames(job.spec.num_frames, 224, 128), job.spec.fps, path, size=(1792, 1024))
            key = f"jobs/{job.id}/a{job.attempts}/video.mp4"
            open_artifacts(settings.artifacts_path).put_file(key, path)
        assert store.complete(job.id, "test-worker", {"artifacts": {"video": key}})
    finally:
        store.close()
    return r.json()["id"]


@pytest.mark.slow
def test_three_concurrent_gifs_of_the_largest_job_stay_within_budget(api):
    video_id = complete_largest_job(api)
    before = status_mb(api.proc.pid, "VmHWM")
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: httpx.get(f"{api.base_url}/v1/videos/{video_id}/content",
                                                      params={"variant": "gif"}, timeout=600), range(3)))
    growth = status_mb(api.proc.pid, "VmHWM") - before
    for r in responses:
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif", r.text[:300]
        with Image.open(io.BytesIO(r.content)) as image:
            assert image.format == "GIF" and image.size == (gif.MAX_SIDE, 274)
            assert image.n_frames == 180 <= gif.MAX_FRAMES  # 12 s at 15 fps
    assert len({r.content for r in responses}) == 1
    assert growth < GIF_GROWTH_MB, f"peak RSS grew by {growth:.0f} MB"


def pixel_limit_png() -> bytes:
    pixels = np.zeros((4096, 4096, 4), np.uint8)
    pixels[1024:2048, 1024:2048] = (200, 30, 30, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_sixteen_concurrent_pixel_limit_uploads_stay_within_budget(api):
    png = pixel_limit_png()
    before = status_mb(api.proc.pid, "VmHWM")
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: httpx.post(
            api.base_url + "/v1/videos", data={"prompt": "a red square", "size": "1792x1024"},
            files={"input_reference": ("ref.png", png, "image/png")}, timeout=600), range(16)))
    growth = status_mb(api.proc.pid, "VmHWM") - before
    assert [r.status_code for r in responses] == [200] * 16, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 16
    stored = sorted((Settings(overrides={"data_dir": str(api.data_dir)}).artifacts_path / "inputs").glob("*.png"))
    assert len(stored) == 16
    with Image.open(stored[0]) as image:
        # Scaled to what a 1792-pixel frame can use, composited on white, the red square in place.
        assert image.mode == "RGB" and image.size == (MAX_SHORT_SIDE, MAX_SHORT_SIDE)
        assert image.getpixel((10, 10)) == (255, 255, 255) and image.getpixel((MAX_SHORT_SIDE * 3 // 8,) * 2) == (200, 30, 30)
    assert growth < UPLOAD_GROWTH_MB, f"peak RSS grew by {growth:.0f} MB"


def test_a_gif_that_cannot_be_made_is_a_clear_409(tmp_path):
    settings = Settings(overrides={"data_dir": str(tmp_path)})
    store = JobStore(settings.database_url)
    store.migrate()
    app = create_app(service=VideoService.open(settings, store=store))
    job = store.create(SPEC, account="local")
    store.claim("w", 30)
    app.state.service.artifacts.put_bytes(f"jobs/{job.id}/video.mp4", b"\x00\x00\x00\x18ftypisom-not-a-movie")
    assert store.complete(job.id, "w", {"artifacts": {"video": f"jobs/{job.id}/video.mp4"}})
    with TestClient(app, base_url="http://localhost") as client:  # open mode answers loopback names only
        r = client.get(f"/v1/videos/video_{job.id}/content", params={"variant": "gif"})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "variant_unavailable" and "could not be converted" in error["message"]
        assert "0x" not in error["message"]  # no heap address from the decoder
        assert client.get(f"/v1/videos/video_{job.id}/content").status_code == 200  # the mp4 is still there
    store.close()
