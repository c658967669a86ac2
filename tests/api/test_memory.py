"""Issue 10: the API process's memory stays bounded under the loads that once blew it up.

Peak RSS is the API process's VmHWM (``reelforge serve --workers 0`` runs the API alone). The bound is
on growth over the process's peak before the load; on HEAD 7e39c6c the same load grew it by 3.8 GB
(16 uploads, 3.3 GB of it still held afterwards). GIFs, the other load that once did (10 GB for 3), are
no longer made by the API at all: workers make them.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from reelforge.api.app import create_app
from reelforge.media.inputs import MAX_SHORT_SIDE
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.live import LiveServer
from tests.store.test_contract import SPEC

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")

UPLOAD_GROWTH_MB = 400  # measured: +254 MB


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@pytest.fixture
def api(tmp_path):
    srv = LiveServer(tmp_path / "serve", workers=0).start()
    yield srv
    srv.stop()


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


def test_a_job_finished_without_a_gif_says_so_in_a_409(tmp_path):
    """Workers make the GIF beside the mp4; a job finished before they did has none, and the API, which
    never writes artifacts, says so instead of making one."""
    settings = Settings(overrides={"data_dir": str(tmp_path)})
    store = JobStore(settings.database_url)
    store.migrate()
    app = create_app(service=VideoService.open(settings, store=store))
    job = store.create(SPEC, account="local")
    store.claim("w", 30)
    app.state.service.artifacts.put_bytes(f"jobs/{job.id}/video.mp4", b"an mp4")
    assert store.complete(job.id, "w", {"artifacts": {"video": f"jobs/{job.id}/video.mp4"}})
    with TestClient(app, base_url="http://localhost") as client:  # open mode answers loopback names only
        r = client.get(f"/v1/videos/video_{job.id}/content", params={"variant": "gif"})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "variant_unavailable" and error["param"] == "variant", error
        assert "has no gif" in error["message"] and "Allowed for it: video" in error["message"], error
        assert client.get(f"/v1/videos/video_{job.id}/content").status_code == 200  # the mp4 is still there
    assert not app.state.service.artifacts.exists(f"jobs/{job.id}/video.gif")
    store.close()
