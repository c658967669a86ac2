"""Edits and extensions through a real worker with the shipped built-in model: the source is a clip
the worker made, stored as the job's input video the way the service stores one, and every result is
judged from the decoded mp4.

An extension's video is one stitched clip: the source's ``source_frames`` frames, then the
``num_frames`` generated from its last frame minus the generated first frame (it repeats the seam),
so ``source_frames + num_frames - 1`` frames; ``result["num_frames"]`` and ``result["seconds"]`` are
those totals and ``result["extension"]`` breaks them down.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from reelforge.engine.builtin.evaluate import psnr
from reelforge.engine.builtin.judge import judge
from reelforge.jobs import JobSpec, JobStatus, Task
from reelforge.media.video import decode_mp4
from reelforge.settings import Settings
from reelforge.store import JobStore
from reelforge.worker.render import continuation, extension_source
from reelforge.worker.runner import Worker

SIZE = 64


def spec(**kw) -> JobSpec:
    base = dict(model="reelforge-tiny", task=Task.T2V, prompt="a red circle moving right on a black background",
                seed=2, num_inference_steps=20, guidance_scale=4.0, fps=8, num_frames=8, width=SIZE, height=SIZE,
                seconds=1)
    base.update(kw)
    return JobSpec(**base)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edit-extend")
    settings = Settings(overrides={"data_dir": str(tmp), "models_dir": str(tmp / "models"), "lease_seconds": 30.0})
    store = JobStore(settings.database_url)
    store.migrate()
    return Worker(settings, store=store)


def run(worker: Worker, job_spec: JobSpec):
    job = worker.store.create(job_spec)
    assert worker.run_once()
    done = worker.store.get(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    return done, decode_mp4(io.BytesIO(worker.artifacts.get_bytes(done.result["artifacts"]["video"])))


@pytest.fixture(scope="module")
def source(worker):
    """A red circle moving right, made by the worker; stored again as an input video of later jobs."""
    done, frames = run(worker, spec())
    v = judge(frames)
    assert (v.colour, v.motion) == ("red", "right"), v
    key = "inputs/source.mp4"
    worker.artifacts.put_bytes(key, worker.artifacts.get_bytes(done.result["artifacts"]["video"]))
    return key, frames


def centroid(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    fg = np.linalg.norm(frame.astype(np.float32) / 255 - background, axis=-1) > 0.3
    ys, xs = np.nonzero(fg)
    return np.array([xs.mean(), ys.mean()])


def test_an_extension_continues_the_source_and_reports_the_stitched_totals(worker, source):
    key, src = source
    done, out = run(worker, spec(task=Task.EXTEND, input_video=key, source_frames=len(src), num_frames=8,
                                 prompt="a red circle moving down on a black background", seed=5))
    s = len(src)
    assert out.shape == (s + 8 - 1, SIZE, SIZE, 3)
    r = done.result
    assert r["num_frames"] == s + 7 and r["seconds"] == pytest.approx((s + 7) / 8)
    assert r["extension"] == {"source_frames": s, "generated_frames": 8, "new_frames": 7, "total_frames": s + 7}
    # The source comes first, as it was (up to one more H.264 round trip).
    assert min(psnr(out[i] / 255, src[i] / 255) for i in range(s)) >= 30
    # The new frames are the tail of one image-to-video clip from the source's last frame (the worker
    # ran exactly this), whose first frame, the one dropped, redraws the seam.
    job_spec = worker.store.get(done.id).spec
    entry = worker.catalog.resolve(job_spec.model)
    part = continuation(worker.engine, entry, job_spec, extension_source(job_spec, src), lambda d, t: None)
    seam = psnr(part[0] / 255, src[-1] / 255)
    print(f"seam PSNR {seam:.1f} dB")
    assert seam >= 25
    # (H.264 at 64x64 costs ~30 dB; a clip one motion step off scores ~17.)
    assert min(psnr(out[s - 1 + i] / 255, part[i] / 255) for i in range(1, 8)) >= 27
    # Across the junction the video moves one motion step, like between the source's own frames.
    steps = [psnr(src[i + 1] / 255, src[i] / 255) for i in range(s - 1)]
    assert psnr(out[s] / 255, out[s - 1] / 255) >= min(steps) - 3
    bg = np.median(src.reshape(-1, 3), axis=0) / 255
    assert np.abs(centroid(out[s], bg) - centroid(src[-1], bg)).max() < SIZE / 8
    # ... and then moves as the new prompt says.
    new = judge(out[s - 1:])
    assert (new.colour, new.motion) == ("red", "down"), new


def test_an_edit_recolours_the_source_and_keeps_its_motion(worker, source):
    key, src = source
    done, out = run(worker, spec(task=Task.EDIT, input_video=key, strength=0.6, seed=102,
                                 prompt="a blue circle moving right on a black background"))
    assert out.shape == src.shape and done.result["num_frames"] == len(src)
    v = judge(out)
    assert (v.colour, v.motion, v.background) == ("blue", "right", "black"), v
    bg = np.median(src.reshape(-1, 3), axis=0) / 255
    drift = max(np.abs(centroid(o, bg) - centroid(f, bg)).max() for o, f in zip(out, src))
    assert drift < SIZE / 8, drift


def test_an_extension_runs_through_a_diffusers_family(worker, source):
    """The same stitching on ltx-tiny-random, the built-in LTX-Video with random weights (built in
    code, loaded through the production loader): its image-to-video pipeline continues the source. The
    weights draw noise, so the checks are structural: the stitched shape and totals, the source kept
    as it was, and the tail being exactly the image-to-video clip from the source's last frame."""
    key, src = source
    s = len(src)
    done, out = run(worker, spec(model="ltx-tiny-random", task=Task.EXTEND, input_video=key, source_frames=s,
                                 num_frames=9, num_inference_steps=2, guidance_scale=3.0, seed=7))
    assert out.shape == (s + 9 - 1, SIZE, SIZE, 3)
    assert done.result["extension"] == {"source_frames": s, "generated_frames": 9, "new_frames": 8, "total_frames": s + 8}
    assert min(psnr(out[i] / 255, src[i] / 255) for i in range(s)) >= 30
    job_spec = worker.store.get(done.id).spec
    entry = worker.catalog.resolve(job_spec.model)
    assert entry.family == "ltx"
    part = continuation(worker.engine, entry, job_spec, extension_source(job_spec, src), lambda d, t: None)
    assert part.shape == (9, SIZE, SIZE, 3)

    def tail_psnr(clip: np.ndarray) -> float:
        # On 8x8 block means: H.264 keeps those of a noise clip (~42 dB here) but not its pixels (~18).
        def blocks(f: np.ndarray) -> np.ndarray:
            return f.reshape(SIZE // 8, 8, SIZE // 8, 8, 3).mean(axis=(1, 3)) / 255
        return min(psnr(blocks(out[s - 1 + i]), blocks(clip[i])) for i in range(1, 9))

    # Seeded, so the worker's tail is this clip up to one H.264 round trip ...
    same = tail_psnr(part)
    # ... and not just any clip from this model: another seed's is much further away (~35 dB).
    other = tail_psnr(continuation(worker.engine, entry, job_spec.replace(seed=8), extension_source(job_spec, src),
                                   lambda d, t: None))
    print(f"tail block PSNR {same:.1f} dB (other seed {other:.1f} dB)")
    assert same >= 38 and other < same - 4
