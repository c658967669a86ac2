"""The Syllaby v2 text-to-video dialect against a live server (seed 002, API-COMPAT.md §5): the documented
examples verbatim (media URLs swapped for the local image host), their shapes field by field, credits,
and every documented error that applies to us."""

from __future__ import annotations

import base64
import math
import re
import time

import httpx

from tests.api.dialects.conftest import fresh_window, png

SEED_CREATE = {
    "model": "veo-3-fast",
    "prompt": "A flagship smartphone rotating slowly on a marble pedestal, studio lighting, shallow depth of field, "
              "macro details on the camera array.",
    "title": "Phone hero shot",
    "modifiers": {
        "duration": 8,
        "resolution": "1080p",
        "aspect_ratio": "16:9",
        "first_frame": "https://cdn.example.com/frames/phone-front.png",
    },
}
# The smallest clip the built-in model makes: 4 s at 256x256.
SMALL = {"model": "ltx-tiny-random", "prompt": "a red ball rolls to the right",
         "modifiers": {"duration": 4, "resolution": "256p", "aspect_ratio": "1:1"}}
ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def client(rig, who: str | None = "alice") -> httpx.Client:
    headers = {"Authorization": f"Bearer {rig.keys[who]}"} if who else {}
    return httpx.Client(base_url=rig.base_url, headers=headers, timeout=30)


def seed_create(rig) -> dict:
    return {**SEED_CREATE, "modifiers": {**SEED_CREATE["modifiers"], "first_frame": rig.images.url("red.png")}}


def assert_clip(data: dict, *, status: str, asset_status: str) -> None:
    assert set(data) >= {"id", "title", "type", "status", "asset", "created_at", "updated_at"}
    assert isinstance(data["id"], int) and isinstance(data["title"], str)
    assert data["type"] == "text_to_video" and data["status"] == status
    assert set(data["asset"]) == {"status", "url", "failure"} and data["asset"]["status"] == asset_status
    assert re.match(ISO_MS, data["created_at"]) and re.match(ISO_MS, data["updated_at"])


def poll(c: httpx.Client, clip_id: int, timeout: float = 60) -> dict:
    """As the doc says: GET /text-to-video/{id} until data.asset.status is terminal (short interval here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(f"/text-to-video/{clip_id}")
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        if data["asset"]["status"] in ("success", "failed"):
            return data
        assert data["status"] == "rendering" and data["asset"]["status"] in ("draft", "processing")
        assert data["asset"]["url"] is None
        time.sleep(0.3)
    raise AssertionError(f"clip {clip_id} did not finish in {timeout}s")


def assert_validation(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"message", "errors"} and isinstance(body["message"], str)
    assert list(body["errors"]) == [field] and isinstance(body["errors"][field][0], str)


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["message"], str) and body["error"]["code"] == code and body["error"]["status"] == status
    return body


def test_seed_example_estimate_create_poll_download(rig):
    """Steps 1-4 of the doc with its own examples: the estimate is the charge, the clip completes,
    and its signed URL downloads an mp4 without a key."""
    with client(rig) as c:
        r = c.get("/text-to-video/models")
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] and "X-RateLimit-Remaining" in r.headers
        veo = next(m for m in r.json()["data"] if m["slug"] == "veo-3-fast")
        rate = next(p["credits_per_second"] for p in veo["pricing"] if p["resolution"] == "1080p")

        r = c.get("/text-to-video/estimate?model=veo-3-fast&duration=8&resolution=1080p&aspect_ratio=16:9&audio=off")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["message"] == "Success." and body["status"] == 200
        est = body["data"]
        assert set(est) == {"required", "available", "sufficient"}
        assert isinstance(est["required"], int) and est["required"] == math.ceil(rate * 8)
        assert est["available"] == rig.credits("alice") and est["sufficient"] is True

        before = rig.credits("alice")
        r = c.post("/text-to-video", json=seed_create(rig))
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["message"] == "Success." and body["status"] == 202
        assert_clip(body["data"], status="rendering", asset_status="draft")
        assert body["data"]["title"] == "Phone hero shot" and body["data"]["asset"]["url"] is None
        credits = body["meta"]["credits"]
        assert credits == {"cost": est["required"], "remaining": before - est["required"]}
        assert rig.credits("alice") == credits["remaining"]
        clip_id = body["data"]["id"]
        assert rig.accounts.store.get_by_seq(clip_id).charge == credits["cost"]

        done = poll(c, clip_id)
        assert_clip(done, status="completed", asset_status="success")
        assert done["id"] == clip_id and done["title"] == "Phone hero shot" and done["asset"]["failure"] is None
        # 1080p 16:9 on the built-in stand-in: its nearest size (7:4, the nearest pixel count), the full
        # 8 seconds, and each change said.
        assert done["generation"]["duration"] == 8 and done["generation"]["size"] == "1792x1024"
        adjusted = {a["field"]: (a["asked"], a["used"]) for a in done["generation"]["adjustments"]}
        assert adjusted == {"model": ("veo-3-fast", "reelforge-tiny"), "modifiers.resolution": ("1920x1080", "1792x1024")}
        assert body["data"]["generation"]["adjustments"] == done["generation"]["adjustments"]

    url = done["asset"]["url"]
    video = httpx.get(url, timeout=30)  # no key: the URL is signed
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    assert httpx.get(url.replace("signature=", "signature=x"), timeout=30).status_code == 404


def test_models_publish_menus_and_pricing(rig):
    with client(rig) as c:
        body = c.get("/text-to-video/models").json()
    assert body["message"] == "Success." and body["status"] == 200
    models = {m["slug"]: m for m in body["data"]}
    for m in models.values():
        assert set(m) == {"id", "slug", "name", "description", "modifiers", "pricing", "installed"}
        assert isinstance(m["id"], int)
        # Only the built-in models have weights here (tests/api/test_installed.py installs one).
        assert m["installed"] is (m["slug"] in ("reelforge-tiny", "ltx-tiny-random")), m["slug"]
        mods = m["modifiers"]
        for name in ("duration", "resolution", "aspect_ratio"):
            assert mods[name]["type"] == "select" and mods[name]["default"] in mods[name]["options"]
        assert mods["audio"] == {"type": "toggle", "default": "off"}
        assert [p["resolution"] for p in m["pricing"]] == mods["resolution"]["options"]
        assert all(isinstance(p["credits_per_second"], (int, float)) for p in m["pricing"])
    assert len({m["id"] for m in models.values()}) == len(models)

    veo = models["veo-3-fast"]
    assert veo["id"] == 7 and veo["name"] == "Veo 3 Fast"
    assert veo["modifiers"]["duration"] == {"type": "select", "default": 8, "options": [4, 6, 8]}
    assert veo["modifiers"]["resolution"] == {"type": "select", "default": "720p", "options": ["720p", "1080p"]}
    assert veo["modifiers"]["aspect_ratio"] == {"type": "select", "default": "16:9", "options": ["16:9", "9:16"]}
    assert veo["modifiers"]["first_frame"] == {"type": "media", "accept": ["image"], "max_count": 1, "required": False}
    assert "image" not in veo["modifiers"] and "video" not in veo["modifiers"]
    # Only models that can do text-to-video; media modifiers only where the model takes them.
    assert "svd" not in models and "wan2.1-i2v-14b-480p" not in models
    assert {"first_frame", "last_frame", "image"} <= set(models["ltx-tiny-random"]["modifiers"])
    assert not {"first_frame", "last_frame", "image"} & set(models["wan2.1-t2v-1.3b"]["modifiers"])


def test_estimate_defaults_and_flat_keys(rig):
    with client(rig, "poor") as c:
        default = c.get("/text-to-video/estimate", params={"model": "veo-3-fast"}).json()["data"]
        nested = c.get("/text-to-video/estimate", params={"model": "veo-3-fast", "modifiers[duration]": "4"})
        assert nested.json()["data"] == default  # nested keys are ignored, as documented
        short = c.get("/text-to-video/estimate", params={"model": "veo-3-fast", "duration": "4"}).json()["data"]
        assert_validation(c.get("/text-to-video/estimate", params={"model": "nope"}), "model")
        assert_validation(c.get("/text-to-video/estimate", params={"model": "veo-3-fast", "duration": "5"}), "duration")
        assert_validation(c.get("/text-to-video/estimate", params={"model": "veo-3-fast", "audio": "on"}), "audio")
    assert default["available"] == 0 and default["sufficient"] is False
    assert short["required"] * 2 == default["required"]  # default duration 8 s, same rate


def test_defaults_title_and_a_clip_from_inline_image(rig):
    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    body = {**SMALL, "modifiers": {**SMALL["modifiers"], "image": [image]}}
    with client(rig, "bob") as c:
        r = c.post("/text-to-video", json=body)
        assert r.status_code == 202, r.text
        data = r.json()["data"]
        assert data["title"].startswith("Untitled video ")
        assert r.json()["meta"]["credits"] == {"cost": 0, "remaining": None}  # bob is unmetered
        done = poll(c, data["id"])
    assert done["asset"]["status"] == "success" and done["title"] == data["title"]


def test_idempotency_key_makes_one_job_and_one_charge(rig):
    headers = {"Idempotency-Key": "syllaby-retry-1"}
    with client(rig) as c:
        before = rig.credits("alice")
        first = c.post("/text-to-video", json=SMALL, headers=headers)
        again = c.post("/text-to-video", json=SMALL, headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["data"]["id"] == first.json()["data"]["id"]
        cost = first.json()["meta"]["credits"]["cost"]
        assert cost > 0 and rig.credits("alice") == before - cost
        other = c.post("/text-to-video", json={**SMALL, "prompt": "a blue ball rolls to the left"}, headers=headers)
        assert_validation(other, "Idempotency-Key")
    assert rig.credits("alice") == before - cost


def test_a_cancelled_clip_reads_failed_and_is_refunded(rig):
    with client(rig) as c:
        before = rig.credits("alice")
        data = c.post("/text-to-video", json={**SMALL, "title": "to cancel"}).json()["data"]
        store = rig.accounts.store
        store.request_cancel(store.get_by_seq(data["id"]).id)
        done = poll(c, data["id"])
    assert_clip(done, status="failed", asset_status="failed")
    assert done["asset"]["url"] is None and isinstance(done["asset"]["failure"], str)
    assert done["title"] == "to cancel" and rig.credits("alice") == before


def test_missing_or_invalid_key_is_401(rig):
    for who, key in ((None, None), ("bad", "rf_not-a-key")):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        for method, path in (("GET", "/text-to-video/models"), ("GET", "/text-to-video/estimate?model=veo-3-fast"),
                             ("POST", "/text-to-video"), ("GET", "/text-to-video/1")):
            r = httpx.request(method, rig.base_url + path, headers=headers, json=SMALL if method == "POST" else None)
            assert_error(r, 401, "GEN-UNAUTHORIZED")


BAD = [
    ({"prompt": "too few words here"}, "prompt"),
    ({"prompt": "word " * 1501}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"model": None}, "model"),
    ({"model": "sora-9"}, "model"),
    ({"model": "svd"}, "model"),  # image-to-video only: not on the menu
    ({"title": "x" * 256}, "title"),
    ({"modifiers": {"duration": 5}}, "modifiers.duration"),
    ({"modifiers": {"duration": "long"}}, "modifiers.duration"),
    ({"modifiers": {"resolution": "4k"}}, "modifiers.resolution"),
    ({"modifiers": {"aspect_ratio": "4:3"}}, "modifiers.aspect_ratio"),
    ({"modifiers": {"audio": "on"}}, "modifiers.audio"),
    ({"modifiers": {"image": [None]}}, "modifiers.image.0"),
    ({"modifiers": {"image": ["http://127.0.0.1/a.png"]}}, "modifiers.image"),  # veo takes no image
    ({"modifiers": {"video": ["https://cdn.example.com/a.mp4"]}}, "modifiers.video"),
    ({"modifiers": {"style": "anime"}}, "modifiers.style"),
    ({"modifiers": {"first_frame": "http://169.254.169.254/x"}}, "modifiers.first_frame"),
    ({"modifiers": {"first_frame": "http://127.0.0.1:1/x.png"}}, "modifiers.first_frame"),
    ({"modifiers": {"first_frame": "not a url"}}, "modifiers.first_frame"),
]


def test_validation_errors_name_the_field_and_charge_nothing(rig):
    before = rig.credits("alice")
    base = {k: v for k, v in SEED_CREATE.items() if k != "modifiers"}
    with client(rig) as c:
        for change, field in BAD:
            body = {**base, **change}
            assert_validation(c.post("/text-to-video", json=body), field)
        tiny = {**SMALL, "modifiers": {**SMALL["modifiers"], "image": [None, rig.images.url()]}}
        assert_validation(c.post("/text-to-video", json=tiny), "modifiers.image.0")
        assert_error(c.post("/text-to-video", content=b"{nope", headers={"content-type": "application/json"}),
                     400, "GEN-WRONG-ARGS")
    assert rig.credits("alice") == before


def test_insufficient_credits_is_402_with_the_figures(rig):
    with client(rig, "poor") as c:
        required = c.get("/text-to-video/estimate", params={"model": "ltx-tiny-random", "duration": 4,
                                                           "resolution": "256p", "aspect_ratio": "1:1"}).json()["data"]
        body = assert_error(c.post("/text-to-video", json={**SMALL, "modifiers": {
            **SMALL["modifiers"], "first_frame": rig.images.url("blue.jpg")}}), 402, "INSUFFICIENT-CREDITS")
    assert body["error"]["required"] == required["required"] > 0 and body["error"]["available"] == 0
    assert rig.credits("poor") == 0


def test_rate_limit_is_429_with_retry_after_and_reset(rig):
    fresh_window(rig.base_url, rig.keys["slow"])
    with client(rig, "slow") as c:
        for _ in range(3):  # a refused create made nothing, so it does not use up the window
            assert c.post("/text-to-video", json={**SMALL, "prompt": "too short"}).status_code == 422
        assert [c.post("/text-to-video", json=SMALL).status_code for _ in range(2)] == [202, 202]
        r = c.post("/text-to-video", json=SMALL)
    assert_error(r, 429, "TOO-MANY-REQUESTS")
    assert int(r.headers["Retry-After"]) > 0 and int(r.headers["X-RateLimit-Reset"]) > time.time()


def test_not_found_is_uniform(rig):
    with client(rig) as alice, client(rig, "bob") as bob:
        r = alice.post("/text-to-video", json=SMALL)
        clip_id = r.json()["data"]["id"]
        # A video made through the OpenAI surface is not a Syllaby clip.
        video = bob.post("/v1/videos", json={"prompt": "x", "seconds": "4", "size": "256x256"}).json()
        other_seq = rig.accounts.store.get(video["id"].removeprefix("video_")).seq
        answers = [bob.get(f"/text-to-video/{i}") for i in (clip_id, "abc", 99999999, -1, "1e3", other_seq)]
        assert alice.get(f"/text-to-video/{clip_id}").status_code == 200
    bodies = [assert_error(a, 404, "GEN-NOT-FOUND") for a in answers]
    assert all(b == bodies[0] for b in bodies)
