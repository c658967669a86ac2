"""Every family end to end through the worker: a published catalog entry with its weights swapped
for the family's tiny random ones (built in code, saved, loaded through the production loader).

The request is validated by the published entry's own rules, so the frame counts and sizes the
worker produces are the ones the catalog promises."""

from __future__ import annotations

import dataclasses
import io

import av
import numpy as np
import pytest
from PIL import Image

from reelforge.accounts import LOCAL
from reelforge.catalog import Catalog
from reelforge.jobs import JobStatus
from reelforge.service.specs import VideoRequest
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import JobStore
from reelforge.worker.runner import Worker

TINY = {
    "ltx-video": "ltx-tiny-random",
    "ltx-video-0.9.5": "ltx-tiny-random",
    "wan2.1-t2v-1.3b": "wan-tiny-random",
    "wan2.1-i2v-14b-480p": "wan-i2v-tiny-random",
    "wan2.1-flf2v-14b-720p": "wan-flf2v-tiny-random",
    "wan2.2-i2v-a14b": "wan22-i2v-tiny-random",
    "wan2.2-ti2v-5b": "wan22-ti2v-tiny-random",
    "cogvideox-5b": "cogvideox-tiny-random",
    "cogvideox-5b-i2v": "cogvideox-i2v-tiny-random",
    "hunyuanvideo": "hunyuan-tiny-random",
    "animatediff-v1-5-2": "animatediff-tiny-random",
    "svd-xt": "svd-tiny-random",
    "fast-svd": "svd-tiny-random",
}


def tiny_catalog() -> Catalog:
    entries = []
    for e in Catalog():
        if e.id in TINY:
            extra = {k: v for k, v in e.extra.items() if k not in ("motion_adapter", "scheduler")}
            if e.family == "fast-svd":
                extra["t2i_source"] = "builtin:sd-tiny-random"
            e = dataclasses.replace(e, source=f"builtin:{TINY[e.id]}", extra=extra)
        entries.append(e)
    return Catalog(entries=tuple(entries))


def png(color, size=(96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("families")
    settings = Settings(overrides={"data_dir": str(tmp), "lease_seconds": 60.0, "torch_threads": 1})
    store = JobStore(settings.database_url)
    store.migrate()
    catalog = tiny_catalog()
    worker = Worker(settings, store=store)
    worker.catalog = catalog
    service = VideoService(store, worker.artifacts, catalog, settings)
    return service, worker


CASES = [
    # (model, request fields) - the smallest legal clip at a size from the model's own menu.
    ("ltx-video", {"size": "704x480", "num_frames": 9}),
    ("ltx-video", {"size": "704x480", "num_frames": 9, "image": "red"}),
    ("ltx-video-0.9.5", {"size": "704x480", "num_frames": 9, "image": "red", "last_image": "blue"}),
    ("wan2.1-t2v-1.3b", {"size": "832x480", "num_frames": 5}),
    ("wan2.1-t2v-1.3b", {"size": "480x832", "num_frames": 5, "segments": None}),
    ("wan2.1-i2v-14b-480p", {"size": "832x480", "num_frames": 5, "image": "red"}),
    ("wan2.1-flf2v-14b-720p", {"size": "1280x720", "num_frames": 5, "image": "red", "last_image": "blue"}),
    ("wan2.2-i2v-a14b", {"size": "832x480", "num_frames": 5, "image": "red", "last_image": "blue"}),
    ("wan2.2-ti2v-5b", {"size": "1280x704", "segments": [("a red ball", 5), ("a blue ball", 5)]}),
    ("cogvideox-5b", {"size": "720x480", "num_frames": 9}),
    ("cogvideox-5b-i2v", {"size": "720x480", "num_frames": 49, "image": "red", "num_inference_steps": 1}),
    ("hunyuanvideo", {"size": "960x544", "num_frames": 5}),
    ("animatediff-v1-5-2", {"size": "512x512", "segments": [("a cat", 8), ("a dog", 8)]}),
    # SVD's tiny UNet attends over every latent pixel, so these use the menu's smallest size and few frames.
    ("svd-xt", {"size": "576x576", "num_frames": 3, "image": "red", "options": {"motion_bucket_id": 60}}),
    ("fast-svd", {"size": "576x576", "num_frames": 3}),
]


@pytest.mark.parametrize("model, fields", CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CASES)])
def test_family_runs_end_to_end_at_catalog_sizes(rig, model, fields):
    service, worker = rig
    fields = {k: v for k, v in fields.items() if v is not None}
    for key in ("image", "last_image"):
        if key in fields:
            fields[key] = png(fields[key])
    req = VideoRequest(prompt="a ball rolling", model=model, seed=5, num_inference_steps=fields.pop("num_inference_steps", 2),
                       **fields)
    job = service.submit(req, account=LOCAL, surface="test").job
    assert worker.run_once()
    done = service.get(job.id, account="local")
    assert done.status is JobStatus.COMPLETED, done.error
    spec = done.spec
    with av.open(io.BytesIO(worker.artifacts.get_bytes(done.result["artifacts"]["video"]))) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == spec.num_frames == done.result["num_frames"]
    assert frames[0].shape == (spec.height, spec.width, 3)
    assert np.std(np.stack(frames).astype(float)) > 0  # not a blank clip
