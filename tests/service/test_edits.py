"""Edits, extensions, remixes and characters at submission (service.edits, service.characters), on a real
SQLite store and artifact folder, with no worker: the spec each makes, its price (the charge is the
estimate, a cancel refunds it), the refusals, and that each job owns its copy of the source."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reelforge.catalog import Catalog
from reelforge.catalog.entries.builtin import LTX_TINY_RANDOM, REELFORGE_TINY
from reelforge.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from reelforge.jobs import Task
from reelforge.media.video import encode_mp4
from reelforge.service.edits import EditRequest, SourceVideo, output_frames, output_seconds
from reelforge.service.specs import VideoRequest
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import AccountStore, JobStore

STRENGTH = REELFORGE_TINY.option("strength")  # the built-in model edits; the LTX entry cannot
W, H = 720, 1280  # the default size: a price above the minimum of 1 credit


def clip(path, frames=16, size=(W, H), fps=8, color=(200, 30, 30)) -> bytes:
    f = np.zeros((frames, size[1], size[0], 3), np.uint8)
    f[:, size[1] // 4: size[1] // 2, size[0] // 4: size[0] // 2] = color
    encode_mp4(f, fps, path)
    return path.read_bytes()


@pytest.fixture
def svc(tmp_path):
    settings = Settings(overrides={"data_dir": str(tmp_path), "max_input_pixels": W * H})
    store = JobStore(settings.database_url)
    store.migrate()
    from reelforge.artifacts import open_artifacts

    service = VideoService(store, open_artifacts(settings), Catalog([REELFORGE_TINY, LTX_TINY_RANDOM]), settings)
    yield service
    store.close()


@pytest.fixture
def buyer(svc):
    account, _ = AccountStore(svc.store).create("buyer", credits=100, rate_limit=0, rate_window=60)
    return account


def credits(svc, account) -> int:
    return svc.accounts.get(account.id).credits


def test_an_edit_keeps_the_source_shape_and_charges_its_estimate(svc, buyer, tmp_path):
    req = EditRequest(prompt="a blue square", source=SourceVideo(upload=clip(tmp_path / "a.mp4")), strength=0.5)
    plan = svc.edits.plan(req, Task.EDIT, buyer)
    assert plan.price == math.ceil(16 / 8)  # 2 s of video at 1 credit per second
    job = svc.edits.edit(req, account=buyer, surface="openai").job
    spec = job.spec
    assert (spec.task, spec.size, spec.num_frames, spec.fps, spec.strength) == (Task.EDIT, f"{W}x{H}", 16, 8, 0.5)
    assert job.charge == plan.price and credits(svc, buyer) == 100 - plan.price
    assert svc.artifacts.get_bytes(spec.input_video)[4:8] == b"ftyp"
    svc.cancel(job.id, account=buyer.id)
    assert credits(svc, buyer) == 100  # a cancel refunds


def test_an_extension_charges_only_the_generated_seconds(svc, buyer, tmp_path):
    req = EditRequest(prompt="it moves on", source=SourceVideo(upload=clip(tmp_path / "a.mp4")), seconds=4)
    plan = svc.edits.plan(req, Task.EXTEND, buyer)
    job = svc.edits.extend(req, account=buyer, surface="openai").job
    assert (job.spec.task, job.spec.num_frames, job.spec.source_frames, job.spec.seconds) == (Task.EXTEND, 32, 16, 4)
    assert (output_frames(job.spec), output_seconds(job.spec)) == (47, 6)  # 16 + 32 - the seam frame
    assert job.charge == plan.price == 4


def test_strength_and_capability_are_refused_at_submission(svc, buyer, tmp_path):
    source = SourceVideo(upload=clip(tmp_path / "a.mp4", size=(256, 256)))
    with pytest.raises(InvalidRequest) as info:
        svc.edits.edit(EditRequest(prompt="x", source=source, strength=0), account=buyer, surface="openai")
    assert info.value.param == "strength" and f"between {STRENGTH.lo} and {STRENGTH.hi}" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        svc.edits.edit(EditRequest(prompt="x", source=source, model="ltx-tiny-random"), account=buyer, surface="openai")
    assert info.value.param == "model"
    assert "'ltx-tiny-random'" in info.value.message and "Models that do: reelforge-tiny" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        svc.edits.extend(EditRequest(prompt="x", source=source, seconds=5), account=buyer, surface="openai")
    assert info.value.param == "seconds" and "4, 8, 12" in info.value.message
    assert credits(svc, buyer) == 100 and svc.store.list(buyer.id, after=None, limit=10, order="desc").jobs == []


@pytest.mark.parametrize("make, error, fragment", [
    (lambda p: b"", InvalidRequest, "empty"),
    (lambda p: b"GIF89a" + b"\0" * 64, UnsupportedMediaType, "GIF"),
    (lambda p: clip(p)[:300], InvalidRequest, "video"),
    (lambda p: clip(p, size=(W + 16, H)), PayloadTooLarge, "pixels"),
    (lambda p: clip(p, frames=62, size=(16, 16), fps=1), PayloadTooLarge, "60 s"),
])
def test_uploads_are_validated_at_the_edge(svc, buyer, tmp_path, make, error, fragment):
    with pytest.raises(error) as info:
        svc.edits.edit(EditRequest(prompt="x", source=SourceVideo(upload=make(tmp_path / "bad.mp4"))), account=buyer,
                       surface="openai")
    assert info.value.param == "video" and fragment in info.value.message


def test_a_source_must_be_a_completed_video_of_the_account(svc, buyer, tmp_path):
    queued = svc.submit(VideoRequest(prompt="x", size="256x256"), account=buyer, surface="openai").job
    with pytest.raises(Conflict) as info:
        svc.remix(queued.id, "y", account=buyer, surface="openai")
    assert "queued" in info.value.message and "completed" in info.value.message
    other, _ = AccountStore(svc.store).create("other", credits=None, rate_limit=0, rate_window=60)
    with pytest.raises(NotFound):
        svc.edits.edit(EditRequest(prompt="x", source=SourceVideo(job_id=queued.id)), account=other, surface="openai")


def test_characters_are_per_account_and_a_create_starts_from_the_reference_frame(svc, buyer, tmp_path):
    video = SourceVideo(upload=clip(tmp_path / "c.mp4", size=(256, 256)))
    character = svc.characters.create("Red square", video, account=buyer)
    other, _ = AccountStore(svc.store).create("other", credits=None, rate_limit=0, rate_window=60)
    with pytest.raises(NotFound):
        svc.characters.get(character.id, account=other.id)
    with pytest.raises(NotFound):
        svc.submit(VideoRequest(prompt="x", character_id=character.id), account=other, surface="openai")
    with pytest.raises(InvalidRequest) as info:
        svc.characters.create("x" * 81, video, account=buyer)
    assert info.value.param == "name"
    job = svc.submit(VideoRequest(prompt="it moves left", size="256x256", character_id=character.id), account=buyer,
                     surface="openai").job
    assert job.spec.task is Task.I2V and job.spec.extras["character_id"] == character.id
    # The job owns its copy of the frame: the character's own stays where it was.
    assert job.spec.input_image != character.image_key
    assert svc.artifacts.get_bytes(job.spec.input_image) == svc.artifacts.get_bytes(character.image_key)
