"""A catalog file's resolution tier prices the same video the same on all six dialects, and every price
shown before a create (Syllaby's estimate and model list, /v1/models) is what the create charges.

The catalog file adds ``house``: the built-in model's family and weights (so it runs here), made the
default model, which is the stand-in every vendor name falls back to while its own weights are absent.
Its clip is 5 s at 5 fps, 25 frames, because Segmind's only frame counts are 14 and 25 and AI/ML's
durations are 5 and 8: with it, one spec (house, 1280x720, 25 frames, 5 fps) is a request every
dialect can make as it stands, and none of them fits anything. The "720p" tier is 3 credits per second,
so that clip costs ceil(3 x 25 / 5) = 15, where the untiered default (1 per second) would cost 5.
"""

from __future__ import annotations

import base64
import math

import httpx
import pytest

from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import create_key, png
from tests.live import LiveServer

CATALOG = """
[models.house]
base = "reelforge-tiny"
description = "The built-in model, priced per resolution"
fps = 5
default_seconds = 5
durations = [5, 10]
credits_per_second = { "720p" = 3 }
"""
SPEC = {"model": "house", "size": "1280x720", "num_frames": 25, "fps": 5}
TIER = 3
CHARGE = math.ceil(TIER * SPEC["num_frames"] / SPEC["fps"])  # the model's native fps is 5 too
PROMPT = "a red circle moves to the right"
IMAGE = "data:image/png;base64," + base64.b64encode(png(size=(96, 64))).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("tiers")
    (data / "catalog.toml").write_text(CATALOG)
    srv = LiveServer(data, workers=0, args=("--catalog", str(data / "catalog.toml"), "--default-model", "house")).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield srv, AccountStore(store)
    store.close()
    srv.stop()


@pytest.fixture
def key(server) -> str:
    srv, _ = server
    return create_key(srv.data_dir, "--name", "buyer", "--credits", "1000", "--rate-limit", "1000/min")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# dialect -> (method, path, request keyword arguments, the auth headers, the charge the response reports)
def requests_for(key: str) -> dict:
    def none(r: httpx.Response) -> None:  # this dialect's create response has no place for a price
        return None

    return {
        "openai": ("/v1/videos", {"json": {"prompt": PROMPT, "model": "house", "size": "1280x720", "seconds": "5"}},
                   bearer(key), none),
        # fast-svd's weights are absent here: it runs on the default model, at its 16:9 size and default duration.
        "vyro": ("/v2/video/text-to-video",
                 {"files": {"prompt": (None, PROMPT), "style": (None, "fast-svd"), "aspect_ratio": (None, "16:9")}},
                 bearer(key), none),
        "segmind": ("/v2/svd", {"json": {"image": IMAGE, "frames": 25, "fps": 5, "resize_method": "crop_to_16_9"}},
                    {"x-api-key": key}, lambda r: int(r.headers["x-credits-consumed"])),
        "syllaby": ("/text-to-video", {"json": {"model": "house", "prompt": PROMPT, "modifiers": {
                        "duration": 5, "resolution": "720p", "aspect_ratio": "16:9"}}},
                    bearer(key), lambda r: r.json()["meta"]["credits"]["cost"]),
        # Novita caps width and height at 1024; 1024x576 is 16:9 and its nearest size here is 1280x720.
        "novita": ("/v3/async/txt2video", {"json": {
                       "model_name": "darkSushiMixMix_225D_64380.safetensors", "width": 1024, "height": 576,
                       "steps": 20, "prompts": [{"frames": 25, "prompt": PROMPT}]}},
                   bearer(key), none),
        "aimlapi": ("/v2/video/generations", {"json": {"model": "pixverse/v5/text-to-video", "prompt": PROMPT,
                                                       "aspect_ratio": "16:9", "resolution": "720p", "duration": 5}},
                    bearer(key), lambda r: r.json()["meta"]["usage"]["credits_used"]),
    }


def test_one_tier_gives_one_charge_on_every_dialect(server, key):
    srv, accounts = server
    charged, specs, reported = {}, {}, {}
    for dialect, (path, kwargs, headers, report) in requests_for(key).items():
        before = accounts.authenticate(key).credits
        r = httpx.post(srv.base_url + path, headers=headers, timeout=30, **kwargs)
        assert r.status_code in (200, 201, 202), (dialect, r.text)
        charged[dialect] = before - accounts.authenticate(key).credits
        reported[dialect] = report(r)
        # The job just made, as the native API shows it: the model that runs and what it makes.
        video = httpx.get(srv.base_url + "/v1/videos", params={"limit": 1}, headers=bearer(key)).json()["data"][0]
        specs[dialect] = {k: video[k] for k in SPEC}

    assert specs == {d: SPEC for d in specs}
    assert charged == {d: CHARGE for d in charged}
    assert {d: c for d, c in reported.items() if c is not None} == {"segmind": CHARGE, "syllaby": CHARGE,
                                                                     "aimlapi": CHARGE}


def test_every_price_shown_before_a_create_is_its_charge(server, key):
    srv, accounts = server
    estimate = httpx.get(srv.base_url + "/text-to-video/estimate", headers=bearer(key), params={
        "model": "house", "duration": 5, "resolution": "720p", "aspect_ratio": "16:9"}).json()["data"]
    assert estimate["required"] == CHARGE

    listed = httpx.get(srv.base_url + "/text-to-video/models", headers=bearer(key)).json()["data"]
    house = next(m for m in listed if m["slug"] == "house")
    assert {p["resolution"]: p["credits_per_second"] for p in house["pricing"]}["720p"] == TIER
    model = httpx.get(srv.base_url + "/v1/models/house", headers=bearer(key)).json()
    assert {p["size"]: p["credits_per_second"] for p in model["pricing"]}["1280x720"] == TIER

    before = accounts.authenticate(key).credits
    path, kwargs, headers, _ = requests_for(key)["syllaby"]
    assert httpx.post(srv.base_url + path, headers=headers, **kwargs).status_code == 202
    assert before - accounts.authenticate(key).credits == estimate["required"]
