"""The Novita v3 dialect through a live server: the reference's example verbatim, task-result's shape,
signed video and GIF URLs, Novita's error envelope, account isolation and Idempotency-Key."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.api.dialects.conftest import create_key, fresh_window

# The reference's request, verbatim (seeds/003).
EXAMPLE = {
    "model_name": "darkSushiMixMix_225D_64380.safetensors",
    "height": 512,
    "width": 512,
    "steps": 20,
    "seed": -1,
    "prompts": [
        {"frames": 32, "prompt": "In the wintry dusk, a little girl holds matches tightly."},
        {"frames": 32, "prompt": "A little girl, barefoot on the frosty pavement, seeks solace."},
        {"frames": 32, "prompt": "A little girl with each match experiences a fleeting dance of warmth and hope."},
        {"frames": 32, "prompt": "In the quiet night, a little girl's silent story unfolds."},
    ],
    "negative_prompt": "nsfw, ng_deepnegative_v1_75t, badhandv4, (worst quality:2), (low quality:2), "
                       "(normal quality:2), lowres, ((monochrome)), ((grayscale)), watermark",
}
# The smallest request Novita allows, for tests that only need some task.
SMALL = {"model_name": "darkSushiMixMix_225D_64380.safetensors", "height": 256, "width": 256, "steps": 1,
         "prompts": [{"frames": 8, "prompt": "a red ball"}]}
STATUSES = {"TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING", "TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"}


def auth(rig, who: str | None = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {rig.keys[who]}"} if who else {}


def create(rig, body, who: str | None = "alice", **headers) -> httpx.Response:
    return httpx.post(rig.base_url + "/v3/async/txt2video", json=body, timeout=30,
                      headers={**auth(rig, who), "Content-Type": "application/json", **headers})


def result(rig, task: str, who: str = "alice") -> httpx.Response:
    return httpx.get(rig.base_url + "/v3/async/task-result", params={"task_id": task}, headers=auth(rig, who))


def wait(rig, task: str, timeout: float = 120, who: str = "alice") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = result(rig, task, who=who)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["task"]["status"] in STATUSES
        if body["task"]["status"] in ("TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def assert_error(r: httpx.Response, status: int, reason: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "reason", "message", "metadata"}
    assert body["code"] == status and body["reason"] == reason
    assert isinstance(body["message"], str) and body["message"] and isinstance(body["metadata"], dict)
    return body


@pytest.fixture(scope="module")
def example(rig):
    """The reference's example, created once by the "docs" account: (task_id, its balance before)."""
    rig.keys["docs"] = create_key(rig.server.data_dir, "--name", "docs", "--credits", "1000", "--rate-limit", "1000/min")
    before = rig.credits("docs")
    r = create(rig, EXAMPLE, who="docs")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"task_id", "adjustments"}
    return r.json()["task_id"], before


def cancel(rig, task: str) -> None:
    """Through the OpenAI surface: Novita's API has no cancel, but its tasks are our jobs."""
    r = httpx.post(f"{rig.base_url}/v1/videos/video_{uuid.UUID(task).hex}/cancel", headers=auth(rig))
    assert r.status_code == 200 and r.json()["error"]["code"] == "cancelled", r.text


def test_the_reference_example_runs_verbatim(rig, example):
    task, before = example
    assert str(uuid.UUID(task)) == task
    # Queued behind the example (one worker), so it is cancelled before it starts.
    cancelled = create(rig, SMALL).json()["task_id"]
    cancel(rig, cancelled)
    body = wait(rig, task, who="docs")
    assert set(body) == {"extra", "task", "images", "videos", "audios"}
    t = body["task"]
    assert t == {"task_id": task, "task_type": "TXT_TO_VIDEO", "status": "TASK_STATUS_SUCCEED", "reason": "",
                 "eta": 0, "progress_percent": 100}
    assert body["images"] == [] and body["audios"] == []
    (video,) = body["videos"]
    assert set(video) == {"video_url", "video_url_ttl", "video_type"}
    assert video["video_type"] == "mp4" and video["video_url_ttl"] == "3600"
    extra = body["extra"]
    assert isinstance(extra["seed"], str) and int(extra["seed"]) >= 0
    assert all(isinstance(v, str) and v for v in (extra["debug_info"][k] for k in
                                                   ("submit_time_ms", "execute_time_ms", "complete_time_ms")))
    # On the built-in fallback model: 512x512 is on its menu and it takes 32 frames a prompt as they are.
    used = extra["reelforge"]
    assert (used["width"], used["height"], used["frames"], used["steps"]) == (512, 512, [32, 32, 32, 32], 20)
    assert rig.credits("docs") < before

    r = httpx.get(video["video_url"])  # no key: the URL is the credential
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content[4:8] == b"ftyp"
    tampered = video["video_url"][:-3] + ("aaa" if not video["video_url"].endswith("aaa") else "bbb")
    assert httpx.get(tampered).status_code == 404

    t = result(rig, cancelled).json()
    assert t["task"]["status"] == "TASK_STATUS_FAILED" and "cancel" in t["task"]["reason"] and t["videos"] == []


def test_gif_output_and_a_webhook_url(rig):
    body = {**SMALL, "extra": {"response_video_type": "gif", "webhook": {"url": "https://93.184.216.34/novita"}}}
    r = create(rig, body)
    assert r.status_code == 200, r.text
    done = wait(rig, r.json()["task_id"])
    assert done["task"]["status"] == "TASK_STATUS_SUCCEED"
    (video,) = done["videos"]
    assert video["video_type"] == "gif"
    gif = httpx.get(video["video_url"])
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert gif.content[:6] == b"GIF89a"
    assert httpx.get(video["video_url"]).content == gif.content  # made once, then served
    tampered = video["video_url"].replace("signature=", "signature=x")
    assert httpx.get(tampered).status_code == 404


def test_webhook_urls_follow_the_ssrf_rules(rig):
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest", "ftp://93.184.216.34/x"):
        r = create(rig, {**SMALL, "extra": {"webhook": {"url": url}}})
        err = assert_error(r, 400, "INVALID_REQUEST_BODY")
        assert err["metadata"]["param"] == "extra.webhook.url"


def test_validation_errors_name_the_field(rig):
    cases = {
        "height": {**SMALL, "height": 100},
        "prompts[0].frames": {**SMALL, "prompts": [{"frames": 65, "prompt": "x"}]},
        "prompts": {**SMALL, "prompts": [{"frames": 64, "prompt": "x"}] * 3},
        "steps": {k: v for k, v in SMALL.items() if k != "steps"},
        "extra.response_video_type": {**SMALL, "extra": {"response_video_type": "webm"}},
        "embeddings": {**SMALL, "embeddings": [{"model_name": "e"}] * 6},
        "guidance_scale": {**SMALL, "guidance_scale": 31},
    }
    for param, body in cases.items():
        err = assert_error(create(rig, body), 400, "INVALID_REQUEST_BODY")
        assert err["metadata"]["param"] == param and param in err["message"], err
    err = assert_error(create(rig, {**SMALL, "extra": {"response_video_type": "webm"}}), 400, "INVALID_REQUEST_BODY")
    assert "'mp4'" in err["message"] and "'gif'" in err["message"]
    err = assert_error(create(rig, {**SMALL, "model_name": "nope.safetensors"}), 400, "MODEL_NOT_FOUND")
    assert "darkSushiMixMix_225D_64380.safetensors" in err["message"]


def test_keys_credits_and_rate_limit(rig):
    for headers in ({}, {"Authorization": "Bearer rf_not-a-key"}):
        r = httpx.post(rig.base_url + "/v3/async/txt2video", json=SMALL, headers=headers)
        assert_error(r, 401, "INVALID_API_KEY")
    assert_error(httpx.get(rig.base_url + "/v3/async/task-result", params={"task_id": str(uuid.uuid4())}),
                 401, "INVALID_API_KEY")

    err = assert_error(create(rig, SMALL, who="poor"), 403, "NOT_ENOUGH_BALANCE")
    assert err["metadata"]["available"] == 0 and err["metadata"]["required"] > 0

    # A refused create made nothing, so it does not use up the window; accepted ones do.
    fresh_window(rig.base_url, rig.keys["slow"])
    assert [create(rig, {}, who="slow").status_code for _ in range(3)] == [400, 400, 400]
    assert [create(rig, SMALL, who="slow").status_code for _ in range(2)] == [200, 200]
    r = create(rig, SMALL, who="slow")
    assert_error(r, 429, "RATE_LIMIT_EXCEEDED")
    assert int(r.headers["Retry-After"]) >= 1


def test_unknown_and_foreign_tasks_are_404(rig, example):
    task, _ = example
    for bad in ("nope", task.upper(), task.replace("-", ""), str(uuid.uuid4())):
        assert_error(result(rig, bad), 404, "TASK_NOT_FOUND")
    assert_error(result(rig, task, who="bob"), 404, "TASK_NOT_FOUND")
    err = assert_error(httpx.get(rig.base_url + "/v3/async/task-result", headers=auth(rig)), 400,
                       "INVALID_REQUEST_BODY")
    assert err["metadata"]["param"] == "task_id"


def test_an_idempotent_retry_makes_one_task_and_one_charge(rig):
    # Knobs the fallback model cannot use are accepted and dropped (reported in extra.reelforge).
    body = {**SMALL, "loras": [{"model_name": "add_detail", "strength": 0.7}], "embeddings": [{"model_name": "neg"}],
            "clip_skip": 2, "closed_loop": True, "guidance_scale": 7.5, "seed": 2**40 + 7}
    key = {"Idempotency-Key": f"novita-{uuid.uuid4()}"}
    before = rig.credits("alice")
    first, again = create(rig, body, **key), create(rig, body, **key)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    charge = before - rig.credits("alice")
    assert charge > 0
    assert_error(create(rig, {**body, "steps": 2}, **key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert before - rig.credits("alice") == charge
    used = result(rig, first.json()["task_id"]).json()["extra"]
    assert used["reelforge"]["loras"] == [] and used["seed"] == "7"  # 32-bit seeds: 2**40 + 7 wraps to 7
    # Each is reported, on the create response and on the task, under Novita's own field names.
    adjusted = {a["field"]: (a["asked"], a["used"]) for a in first.json()["adjustments"]}
    assert adjusted == {
        "model_name": (SMALL["model_name"], "reelforge-tiny"),
        "loras": ([{"name": "add_detail", "strength": 0.7}], None),
        "embeddings": ([{"model_name": "neg"}], None),
        "clip_skip": (2, None), "closed_loop": (True, None), "seed": (2**40 + 7, 7),
    }
    assert used["reelforge"]["adjustments"] == first.json()["adjustments"]


