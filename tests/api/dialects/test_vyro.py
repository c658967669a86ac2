"""The Vyro / Imagine dialect against a live server: the seed's FastSVD example verbatim (host and key
swapped), the documented shapes, the error codes, isolation, and Idempotency-Key."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest
import requests
from starlette.requests import Request

from reelforge.api.dialects import vyro
from reelforge.errors import ReelforgeError, Unavailable
from tests.api.dialects.conftest import fresh_window

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO_MICRO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def auth(rig, who: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {rig.keys[who]}"}


def create(rig, who: str = "alice", **fields) -> httpx.Response:
    form = {"prompt": "A futuristic cityscape at night with neon lights", "style": "fast-svd", **fields}
    return httpx.post(rig.base_url + "/v2/video/text-to-video", headers=auth(rig, who),
                      files={k: (None, v) for k, v in form.items()})


def status(rig, video_id: str, who: str = "alice", method: str = "GET") -> httpx.Response:
    return httpx.request(method, f"{rig.base_url}/v2/assets/{video_id}/status", headers=auth(rig, who))


def wait_finished(rig, video_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status(rig, video_id).json()
        if body["video"]["status"] != "processing":
            return body
        time.sleep(0.3)
    raise AssertionError(f"video {video_id} still processing after {timeout}s")


def assert_error(r: httpx.Response, http: int, code: str, name: str) -> dict:
    body = r.json()
    assert r.status_code == http, body
    assert set(body) == {"status", "code", "error", "message"}
    assert (body["status"], body["code"], body["error"]) == ("error", code, name)
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_seed_example_runs_to_a_downloadable_video(rig):
    # The seed's curl, as `requests` sends --form fields: multipart with plain (file-less) parts.
    r = requests.post(rig.base_url + "/v2/video/text-to-video",
                      headers={"Authorization": f"Bearer {rig.keys['alice']}"},
                      files={"prompt": (None, "A futuristic cityscape at night with neon lights"),
                             "style": (None, "fast-svd"), "aspect_ratio": (None, "1:1")})
    assert r.status_code == 200, r.text
    created = r.json()
    assert set(created) == {"id", "status", "adjustments"} and created["status"] == "processing"
    assert UUID.fullmatch(created["id"])
    # fast-svd's weights are not here: the stand-in that runs is named, in the body and the header.
    stand_in = {"field": "style", "asked": "fast-svd", "used": "reelforge-tiny"}
    assert {k: created["adjustments"][0][k] for k in stand_in} == stand_in
    assert json.loads(r.headers["Reelforge-Adjustments"]) == created["adjustments"]

    done = wait_finished(rig, created["id"])
    assert set(done) == {"status", "video"} and done["status"] == "success"
    video = done["video"]
    assert set(video) == {"uuid", "created_at", "status", "url", "adjustments"}
    assert video["adjustments"] == created["adjustments"]
    assert video["uuid"] == created["id"] and video["status"] == "finished"
    assert ISO_MICRO_Z.fullmatch(video["created_at"])
    assert set(video["url"]) == {"generation", "thumbnail"}

    # The status route answers POST as well (the docs' heading) with the same body.
    assert status(rig, created["id"], method="POST").json()["video"]["url"].keys() == video["url"].keys()

    mp4 = httpx.get(video["url"]["generation"])  # no key: the signature is the credential
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4" and mp4.content[4:8] == b"ftyp"
    thumb = httpx.get(video["url"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    tampered = re.sub(r"signature=[^&]+", "signature=AAAA" + "A" * 39, video["url"]["generation"])
    assert httpx.get(tampered).status_code == 404


def test_delete_both_verbs(rig):
    for method in ("DELETE", "POST"):
        vid = create(rig).json()["id"]
        r = httpx.request(method, f"{rig.base_url}/v2/video/delete/{vid}", headers=auth(rig))
        assert r.status_code == 200 and r.json() == {"message": "video deleted", "status": "success"}
        assert_error(status(rig, vid), 404, "1100", "NotFound")


def test_other_styles_and_aspect_ratios(rig):
    for style, aspect in (("kling-1.0-pro", "16:9"), ("fast-svd", "9:16")):
        r = create(rig, style=style, aspect_ratio=aspect)
        assert r.status_code == 200 and r.json()["status"] == "processing"
        httpx.delete(f"{rig.base_url}/v2/video/delete/{r.json()['id']}", headers=auth(rig))


def test_missing_and_invalid_token(rig):
    url = rig.base_url + "/v2/video/text-to-video"
    assert_error(httpx.post(url, files={"prompt": (None, "x"), "style": (None, "fast-svd")}), 400, "1000", "BadRequest")
    bad = {"Authorization": "Bearer rf_not-a-key"}
    assert_error(httpx.post(url, headers=bad, files={"prompt": (None, "x")}), 401, "1001", "Unauthorized")
    assert_error(httpx.get(f"{rig.base_url}/v2/assets/{uuid.uuid4()}/status", headers=bad), 401, "1001", "Unauthorized")


@pytest.mark.parametrize("fields, param", [
    ({"style": "no-such-style"}, "style"),
    ({"style": None}, "style"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio"),
])
def test_validation_errors_name_the_field(rig, fields, param):
    form = {"prompt": "a cat", "style": "fast-svd", **fields}
    r = httpx.post(rig.base_url + "/v2/video/text-to-video", headers=auth(rig),
                   files={k: (None, v) for k, v in form.items() if v is not None})
    body = assert_error(r, 400, "1100", "BadRequest")
    assert param in body["message"]
    if param == "style" and fields["style"]:
        assert "fast-svd" in body["message"] and "kling-1.0-pro" in body["message"]


def test_not_enough_tokens(rig):
    body = assert_error(create(rig, "poor"), 402, "1101", "PaymentRequired")
    assert "credits" in body["message"]


def test_rate_limit(rig):
    fresh_window(rig.base_url, rig.keys["slow"])
    ids = [create(rig, "slow").json()["id"] for _ in range(2)]
    r = create(rig, "slow")
    assert_error(r, 429, "1202", "TooManyRequests")
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining"] == "0"
    for vid in ids:
        httpx.delete(f"{rig.base_url}/v2/video/delete/{vid}", headers=auth(rig, "slow"))


@pytest.mark.parametrize("video_id", [str(uuid.uuid4()), "not-a-uuid", uuid.uuid4().hex])
def test_unknown_or_malformed_id_is_not_found(rig, video_id):
    assert_error(status(rig, video_id), 404, "1100", "NotFound")
    assert_error(httpx.delete(f"{rig.base_url}/v2/video/delete/{video_id}", headers=auth(rig)), 404, "1100", "NotFound")


def test_another_accounts_video_is_not_found_on_every_route(rig):
    vid = create(rig).json()["id"]
    for method in ("GET", "POST"):
        assert_error(status(rig, vid, "bob", method), 404, "1100", "NotFound")
    for method in ("DELETE", "POST"):
        r = httpx.request(method, f"{rig.base_url}/v2/video/delete/{vid}", headers=auth(rig, "bob"))
        assert_error(r, 404, "1100", "NotFound")
    assert status(rig, vid).json()["video"]["uuid"] == vid  # still alice's, untouched
    httpx.delete(f"{rig.base_url}/v2/video/delete/{vid}", headers=auth(rig))


def test_idempotent_retry_makes_one_job_and_one_charge(rig):
    before = rig.credits("alice")
    url = rig.base_url + "/v2/video/text-to-video"
    headers = {**auth(rig), "Idempotency-Key": "vyro-order-1"}
    form = {"prompt": (None, "a red fox"), "style": (None, "fast-svd")}
    first = httpx.post(url, headers=headers, files=form)
    again = httpx.post(url, headers=headers, files=form)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    charge = before - rig.credits("alice")
    assert charge > 0
    other = httpx.post(url, headers=headers, files={**form, "prompt": (None, "a blue fox")})
    assert_error(other, 422, "1100", "BadRequest")
    assert rig.credits("alice") == before - charge
    httpx.delete(f"{rig.base_url}/v2/video/delete/{first.json()['id']}", headers=auth(rig))


@pytest.mark.parametrize("exc, status, expected", [
    (Unavailable("the job store is down"), 503, (503, "1200", "ServiceUnavailable")),
    (ReelforgeError("boom"), 500, (500, "1300", "InternalServerError")),
])
def test_service_and_internal_errors_use_vyro_codes(exc, status, expected):
    # No live route fails this way on demand, so the envelope is checked on the renderer itself.
    r = vyro.render_error(Request({"type": "http", "headers": []}), exc, status)
    body = json.loads(r.body)
    assert (r.status_code, body["code"], body["error"]) == expected and body["message"] == exc.message
