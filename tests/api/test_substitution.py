"""A request for a model whose weights are not here, on each of the six dialects, under both
``substitute_models`` policies (over real HTTP, the OpenAI dialect through the real SDK).

``builtin``: the job is made on the stand-in, and the create response says so, in the dialect's own
body and in the ``Reelforge-Adjustments`` header. ``off``: the request is refused at submission with
the dialect's own validation status and envelope, naming the model, where reelforge looked and the
``reelforge pull`` command, and nothing is made or charged."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable

import httpx
import openai
import pytest
from openai import OpenAI

from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import create_key, png
from tests.live import LiveServer

IMAGE = "data:image/png;base64," + base64.b64encode(png(size=(64, 64))).decode()


@dataclass(frozen=True)
class Case:
    """One dialect's create for a model without weights, and how to read its answer."""

    path: str
    body: dict[str, Any]
    auth: str  # the header the key goes in
    asked: Any  # what the caller named the model with
    field: str  # the wire field that names it
    rejected: int  # the dialect's validation status
    adjustments: Callable[[dict], list]  # where the create body shows them
    message: Callable[[dict], str]  # the error message in the dialect's envelope


CASES = {
    "vyro": Case("/v2/video/text-to-video", {"prompt": "a red ball", "style": "fast-svd"}, "bearer", "fast-svd",
                 "style", 400, lambda b: b["adjustments"], lambda b: b["message"]),
    "segmind": Case("/v2/svd", {"image": IMAGE, "frames": 25, "motion": 40}, "x-api-key", 25, "frames", 400,
                    lambda b: b["adjustments"], lambda b: b["error"]),
    "syllaby": Case("/text-to-video", {"model": "veo-3-fast", "prompt": "a red ball rolls across the grass"}, "bearer", "veo-3-fast",
                    "model", 422, lambda b: b["data"]["generation"]["adjustments"], lambda b: b["errors"]["model"][0]),
    "novita": Case("/v3/async/txt2video", {"model_name": "dreamshaper_8_93211.safetensors", "width": 256,
                                           "height": 256, "steps": 2, "prompts": [{"prompt": "a red ball", "frames": 8}]},
                   "bearer", "dreamshaper_8_93211.safetensors", "model_name", 400, lambda b: b["adjustments"],
                   lambda b: b["message"]),
    "aimlapi": Case("/v2/video/generations", {"model": "pixverse/v5/text-to-video", "prompt": "a red ball",
                                              "resolution": "360p", "aspect_ratio": "1:1", "duration": 5},
                    "bearer", "pixverse/v5/text-to-video", "model", 400, lambda b: b["adjustments"],
                    lambda b: b["message"]),
}


def serve(tmp_path_factory, policy: str):
    data = tmp_path_factory.mktemp(f"substitute-{policy}")
    key = create_key(data, "--name", "ann", "--credits", "1000", "--rate-limit", "1000/min")
    srv = LiveServer(data, workers=0, args=("--substitute-models", policy)).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield srv, key, store
    store.close()
    srv.stop()


@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    yield from serve(tmp_path_factory, "builtin")


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    yield from serve(tmp_path_factory, "off")


def post(srv, key: str, case: Case) -> httpx.Response:
    headers = {"x-api-key": key} if case.auth == "x-api-key" else {"Authorization": f"Bearer {key}"}
    return httpx.post(srv.base_url + case.path, json=case.body, headers=headers, timeout=30)


def credits(store: JobStore, key: str) -> int:
    return AccountStore(store).authenticate(key).credits


@pytest.mark.parametrize("dialect", list(CASES))
def test_builtin_runs_the_stand_in_and_says_so(builtin, dialect):
    srv, key, store = builtin
    case = CASES[dialect]
    r = post(srv, key, case)
    assert r.status_code < 300, r.text
    shown = case.adjustments(r.json())
    assert json.loads(r.headers["Reelforge-Adjustments"]) == shown
    first = shown[0]
    assert (first["field"], first["asked"], first["used"]) == (case.field, case.asked, "reelforge-tiny")
    assert "not installed here" in first["reason"] and "reelforge pull" in first["reason"]
    if dialect == "segmind":  # SVD's knob, sent, has no meaning on the stand-in
        assert {"field": "motion", "asked": 40, "used": None} == {k: shown[1][k] for k in ("field", "asked", "used")}


@pytest.mark.parametrize("dialect", list(CASES))
def test_off_refuses_at_submission_in_the_dialects_envelope(off, dialect):
    srv, key, store = off
    case = CASES[dialect]
    before, jobs = credits(store, key), store.counts()
    r = post(srv, key, case)
    assert r.status_code == case.rejected, r.text
    message = case.message(r.json())
    assert "is not installed here, and model substitution is off" in message
    assert "looked in" in message and "reelforge pull" in message
    assert credits(store, key) == before and store.counts() == jobs  # nothing made, nothing charged
    assert "Reelforge-Adjustments" not in r.headers


def test_openai_builtin_discloses_the_stand_in(builtin):
    srv, key, _ = builtin
    client = OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)
    raw = client.videos.with_raw_response.create(prompt="a red ball", model="ltx-video", seconds="8",
                                                 extra_body={"num_inference_steps": 2})
    video = raw.parse()
    assert video.status == "queued" and video.model == "reelforge-tiny"
    (stand_in,) = video.model_extra["adjustments"]  # 8 s and 2 steps are the built-in model's too
    assert (stand_in["field"], stand_in["asked"], stand_in["used"]) == ("model", "ltx-video", "reelforge-tiny")
    assert json.loads(raw.headers["reelforge-adjustments"]) == video.model_extra["adjustments"]
    assert client.videos.retrieve(video.id).model_extra["adjustments"] == video.model_extra["adjustments"]


def test_openai_off_refuses_what_would_fail_later(off):
    srv, key, store = off
    client = OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)
    before, count = credits(store, key), len(client.videos.list().data)
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="a red ball", model="ltx-video")
    body = info.value.body
    assert body["param"] == "model" and body["code"] == "model_not_installed" and body["type"] == "invalid_request_error"
    assert "model 'ltx-video'" in body["message"] and "reelforge pull ltx-video" in body["message"]
    assert credits(store, key) == before and len(client.videos.list().data) == count
    # The default model is built in, so a request that names none still runs under `off`.
    assert client.videos.create(prompt="a red ball", seconds="4").status == "queued"


def test_the_syllaby_estimate_refuses_what_the_create_would(off):
    srv, key, _ = off
    r = httpx.get(srv.base_url + "/text-to-video/estimate", params={"model": "veo-3-fast"},
                  headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 422 and "substitution is off" in r.json()["errors"]["model"][0]
