"""What this server has installed, over real HTTP: models' weights (/v1/models, Syllaby's models list)
and LoRAs (checked when a job is submitted)."""

from __future__ import annotations

import contextlib
import io
import shutil

import httpx
import openai
import pytest
from openai import OpenAI

from reelforge.catalog import Catalog
from reelforge.catalog.weights import MARKER
from reelforge.cli import main as cli
from reelforge.store import AccountStore, JobStore
from tests.live import LiveServer

LORA_MODEL = "animatediff-v1-5-2"  # the catalog entry that takes LoRAs


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    data = tmp_path_factory.mktemp("installed")
    models = data / "models"
    (models / "loras" / "folder-lora").mkdir(parents=True)
    (models / "loras" / "detail-tweaker.safetensors").write_bytes(b"\0" * 16)  # submission only checks the name
    # LoRAs are checked for the model that runs, so LORA_MODEL must count as installed, or a stand-in
    # without LoRA support would run and drop them (tests/api/test_substitution.py). With no worker
    # here nothing loads it, so a folder holding diffusers' marker file is enough.
    weights = models / Catalog().resolve(LORA_MODEL).source
    weights.mkdir(parents=True)
    (weights / MARKER).write_text("{}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["keys", "create", "--data-dir", str(data), "--name", "ann", "--credits", "100",
                    "--rate-limit", "1000/min"]) == 0
    key = out.getvalue().strip()
    srv = LiveServer(data, models_dir=models, workers=0).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield srv, models, key, AccountStore(store)
    store.close()
    srv.stop()


def get(rig, path: str) -> dict:
    srv, _, key, _ = rig
    r = httpx.get(srv.base_url + path, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_installing_weights_flips_installed_on_the_running_server(rig, tiny_models_dir):
    _, models, _, _ = rig
    listed = {m["id"]: m for m in get(rig, "/v1/models")["data"]}
    assert listed["reelforge-tiny"]["installed"] is True and listed["reelforge-tiny"]["weights"]["kind"] == "builtin"
    before = get(rig, "/v1/models/ltx-video")
    assert before["installed"] is False
    assert before["weights"] == {"kind": "hub", "source": "Lightricks/LTX-Video", "path": None}
    assert listed["ltx-video"] == before
    slug = {m["slug"]: m for m in get(rig, "/text-to-video/models")["data"]}
    assert slug["ltx-video"]["installed"] is False

    # A diffusers folder (tiny real LTX weights, written by save_pretrained) where the hub id says.
    placed = models / "Lightricks" / "LTX-Video"
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", placed)

    after = get(rig, "/v1/models/ltx-video")  # the same server process: nothing is cached
    assert after["installed"] is True
    assert after["weights"] == {"kind": "local", "source": "Lightricks/LTX-Video", "path": str(placed)}
    slug = {m["slug"]: m for m in get(rig, "/text-to-video/models")["data"]}
    assert slug["ltx-video"]["installed"] is True


def test_hub_cache_snapshot_counts_as_installed(rig, tiny_models_dir):
    _, models, _, _ = rig
    assert get(rig, "/v1/models/ltx-video-0.9.5")["installed"] is False
    repo = models / "hub" / "models--Lightricks--LTX-Video-0.9.5"
    sha = "2" * 40
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    weights = get(rig, "/v1/models/ltx-video-0.9.5")
    assert weights["installed"] is True
    assert weights["weights"]["kind"] == "hub" and weights["weights"]["path"] == str(repo / "snapshots" / sha)


def test_models_show_the_price_per_second_of_each_size(rig):
    tiny = get(rig, "/v1/models/reelforge-tiny")
    prices = {p["size"]: p["credits_per_second"] for p in tiny["pricing"]}
    assert set(prices) == set(tiny["sizes"])
    assert prices["720x1280"] == 1.0  # the default size, at the default rate
    assert prices["256x256"] == pytest.approx(256 * 256 / (720 * 1280))  # no tier: priced by pixels
    wan = get(rig, "/v1/models/wan2.1-t2v-14b")
    assert {p["resolution"] for p in wan["pricing"]} == {"480p", "720p"}


def sdk(rig) -> OpenAI:
    srv, _, key, _ = rig
    return OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)


def test_unknown_lora_is_refused_at_submission_naming_it_and_the_ones_here(rig):
    srv, _, key, accounts = rig
    client = sdk(rig)
    credits = accounts.authenticate(key).credits
    videos = len(client.videos.list().data)
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="a cat", model=LORA_MODEL,
                             extra_body={"loras": [{"name": "detail-tweaker", "strength": 0.5},
                                                   {"name": "no-such-lora", "strength": 0.8}]})
    body = info.value.body
    assert info.value.status_code == 400 and body["param"] == "loras[1]"
    assert "'no-such-lora' not found" in body["message"]
    assert "Available LoRAs: detail-tweaker, folder-lora." in body["message"]
    assert len(client.videos.list().data) == videos  # nothing was created
    assert accounts.authenticate(key).credits == credits  # nor charged


def test_installed_loras_pass_submission(rig):
    srv, models, key, accounts = rig
    credits = accounts.authenticate(key).credits
    video = sdk(rig).videos.create(prompt="a cat", model=LORA_MODEL,
                                   extra_body={"loras": [{"name": "detail-tweaker", "strength": 0.5},
                                                         {"name": "folder-lora", "strength": 1.0},
                                                         {"name": "detail-tweaker.safetensors", "strength": 0.3}]})
    assert video.status == "queued"
    assert [lora["name"] for lora in video.model_extra["loras"]][:2] == ["detail-tweaker", "folder-lora"]
    assert accounts.authenticate(key).credits < credits


def test_a_lora_path_is_refused_even_when_the_file_exists(rig):
    """Answering 200 or 400 to any path would tell a caller which files exist on the server."""
    srv, models, key, accounts = rig
    credits = accounts.authenticate(key).credits
    for name in (str(models / "loras" / "detail-tweaker.safetensors"), "../loras/detail-tweaker.safetensors"):
        with pytest.raises(openai.BadRequestError) as info:
            sdk(rig).videos.create(prompt="a cat", model=LORA_MODEL, extra_body={"loras": [{"name": name}]})
        assert "not by a path" in info.value.body["message"] and info.value.body["param"] == "loras[0]"
    assert accounts.authenticate(key).credits == credits
