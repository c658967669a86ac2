"""The official `openai` SDK, unchanged, against a live `reelforge serve`."""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import av
import httpx
import numpy as np
import openai
import pytest
from openai.types import Video
from PIL import Image

FAST = {"num_frames": 9, "num_inference_steps": 2}
# The longest job the tiny model allows: a few seconds on a CPU, long enough to cancel mid-run.
SLOW = {"num_frames": 161, "num_inference_steps": 100}


def decode(mp4: bytes) -> np.ndarray:
    with av.open(io.BytesIO(mp4)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def png_bytes(color=(200, 30, 30), size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def wait_for(client, vid: str, pred, timeout=60.0) -> Video:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = client.videos.retrieve(vid)
        if pred(v):
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {vid}: last {v}")


def test_create_and_poll_with_defaults_then_download_every_variant(client):
    video = client.videos.create_and_poll(prompt="a red ball bouncing", model="sora-2", poll_interval_ms=200)
    assert video.status == "completed", video.error
    assert video.progress == 100
    assert video.size == "720x1280" and video.seconds == "4"
    extra = video.model_extra
    assert extra["num_frames"] == 32 and extra["fps"] == 8 and isinstance(extra["seed"], int)

    again = client.videos.retrieve(video.id)
    assert again.id == video.id and again.status == "completed" and again.completed_at >= again.created_at

    frames = decode(client.videos.download_content(video.id).read())
    assert frames.shape == (extra["num_frames"], 1280, 720, 3)
    thumb = client.videos.download_content(video.id, variant="thumbnail").read()
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(thumb)).format == "WEBP"
    sheet = client.videos.download_content(video.id, variant="spritesheet").read()
    assert sheet[:2] == b"\xff\xd8" and Image.open(io.BytesIO(sheet)).format == "JPEG"


def test_content_headers_and_range(server, client):
    video = client.videos.create_and_poll(prompt="range", size="256x256", extra_body=FAST, poll_interval_ms=100)
    url = f"{server.base_url}/v1/videos/{video.id}/content"
    full = httpx.get(url)
    assert full.headers["content-type"] == "video/mp4"
    assert int(full.headers["content-length"]) == len(full.content)
    part = httpx.get(url, headers={"Range": "bytes=10-109"})
    assert part.status_code == 206
    assert part.content == full.content[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(full.content)}"
    thumb = httpx.get(url, params={"variant": "thumbnail"})
    assert thumb.headers["content-type"] == "image/webp"
    sheet = httpx.get(url, params={"variant": "spritesheet"})
    assert sheet.headers["content-type"] == "image/jpeg"


def test_same_seed_same_frames_other_seed_other_frames(client):
    def frames(seed):
        v = client.videos.create_and_poll(prompt="a blue square", size="256x256", poll_interval_ms=100,
                                          extra_body={**FAST, "seed": seed})
        assert v.status == "completed" and v.model_extra["seed"] == seed
        return decode(client.videos.download_content(v.id).read())

    a, b, c = frames(1234), frames(1234), frames(4321)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_random_seed_is_reported(client):
    v = client.videos.create(prompt="seed", size="256x256", extra_body={**FAST, "seed": -1})
    assert 0 <= v.model_extra["seed"] < 2**32


def test_list_paginates_over_many_jobs(client):
    created = [client.videos.create(prompt=f"job {i}", size="256x256", extra_body={"num_frames": 9, "num_inference_steps": 1}).id
               for i in range(26)]
    page = client.videos.list(limit=10)
    assert len(page.data) == 10 and page.has_more
    seen = [v.id for v in client.videos.list(limit=10)]  # the SDK follows after=last_id itself
    # Newest first; our 26 are the newest 26 (in reverse creation order).
    assert seen[:26] == created[::-1]
    assert len(seen) == len(set(seen))
    asc = [v.id for v in client.videos.list(limit=7, order="asc")]
    assert asc == seen[::-1]
    last = client.videos.list(limit=100, after=created[1])
    assert [v.id for v in last.data][0] == created[0]


def test_remix_keeps_parameters_and_seed(client):
    src = client.videos.create_and_poll(prompt="a cat", size="256x256", extra_body={**FAST, "seed": 77},
                                        poll_interval_ms=100)
    remix = client.videos.remix(src.id, prompt="a dog")
    assert remix.remixed_from_video_id == src.id and remix.prompt == "a dog"
    assert remix.model_extra["seed"] == 77 and remix.size == "256x256" and remix.model_extra["num_frames"] == 9
    done = client.videos.poll(remix.id, poll_interval_ms=100)
    assert done.status == "completed"


def test_delete_removes_the_video_and_its_content(server, client):
    v = client.videos.create_and_poll(prompt="to delete", size="256x256", extra_body=FAST, poll_interval_ms=100)
    deleted = client.videos.delete(v.id)
    assert deleted.id == v.id and deleted.deleted and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(v.id)
    assert httpx.get(f"{server.base_url}/v1/videos/{v.id}/content").status_code == 404
    assert v.id not in [x.id for x in client.videos.list(limit=100)]


def test_cancel_a_running_job_stops_it_and_the_worker_moves_on(client):
    slow = client.videos.create(prompt="slow", size="256x256", extra_body=SLOW)
    running = wait_for(client, slow.id, lambda v: v.status == "in_progress" and v.progress > 0)
    cancelled = client.post(f"/videos/{slow.id}/cancel", cast_to=Video)
    assert cancelled.id == slow.id
    final = client.videos.poll(slow.id, poll_interval_ms=100)
    assert final.status == "failed" and final.error.code == "cancelled"
    assert final.progress < 90, "cancel must stop the denoising loop, not let it run to the end"
    assert final.progress >= running.progress
    nxt = client.videos.create_and_poll(prompt="after cancel", size="256x256", extra_body=FAST, poll_interval_ms=100)
    assert nxt.status == "completed"


def test_delete_of_a_running_job_cancels_it(client):
    slow = client.videos.create(prompt="slow delete", size="256x256", extra_body=SLOW)
    wait_for(client, slow.id, lambda v: v.status == "in_progress")
    client.videos.delete(slow.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(slow.id)
    nxt = client.videos.create_and_poll(prompt="after delete", size="256x256", extra_body=FAST, poll_interval_ms=100)
    assert nxt.status == "completed"


@pytest.mark.parametrize(
    "kwargs, param, fragment",
    [
        ({"size": "999x999"}, "size", "720x1280"),
        ({"seconds": "5"}, "seconds", "4, 8, 12"),
        ({"model": "no-such-model"}, "model", "sora-2"),
        ({"model": "ltx-tiny-random", "extra_body": {"num_frames": 10}}, "num_frames", "8k+1"),
        ({"extra_body": {"num_frames": 1000}}, "num_frames", "361"),
        ({"extra_body": {"num_inference_steps": 0}}, "num_inference_steps", "between 1 and 100"),
        ({"extra_body": {"seed": "abc"}}, "seed", "abc"),
        ({"extra_body": {"speed": "fast"}}, "speed", "Allowed: exact"),  # the built-in model has no DiT cache
    ],
)
def test_bad_parameters_raise_bad_request_with_param(client, kwargs, param, fragment):
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="bad", **kwargs)
    err = info.value
    assert err.status_code == 400
    assert err.body["param"] == param
    assert fragment in err.body["message"]


def test_missing_prompt_names_it(server):
    r = httpx.post(f"{server.base_url}/v1/videos", json={"size": "256x256"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "prompt"


def test_json_body_and_integer_seconds(server):
    r = httpx.post(f"{server.base_url}/v1/videos", json={"prompt": "json", "seconds": 8, "size": "256x256",
                                                         "num_inference_steps": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seconds"] == "8" and body["num_frames"] == 64 and body["id"].startswith("video_")
    assert r.headers["openai-poll-after-ms"]


def test_image_to_video_with_uploaded_file(client):
    v = client.videos.create_and_poll(prompt="animate", size="256x256", input_reference=("ref.png", png_bytes(), "image/png"),
                                      extra_body=FAST, poll_interval_ms=100)
    assert v.status == "completed", v.error


def test_image_to_video_with_data_url_in_bracket_multipart(client):
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes((10, 200, 10))).decode()
    # This SDK version types input_reference as a file only, so the object form goes through extra_body;
    # it still arrives as the multipart field input_reference[image_url].
    v = client.videos.create(prompt="animate", size="256x256", extra_body={**FAST, "input_reference": {"image_url": data_url}})
    assert client.videos.poll(v.id, poll_interval_ms=100).status == "completed"


def test_image_url_to_loopback_is_refused(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="ssrf", extra_body={"input_reference": {"image_url": "http://127.0.0.1:1/x.png"}})
    assert info.value.body["param"] == "input_reference.image_url"


def test_broken_image_names_input_reference(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", input_reference=("ref.png", b"not an image", "image/png"))
    assert info.value.body["param"] == "input_reference"


def test_unknown_video_is_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("video_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("nonsense")


def test_models_lists_the_default_and_says_it_is_noise(client):
    models = {m.id: m for m in client.models.list()}
    tiny = models["ltx-tiny-random"]
    assert tiny.model_extra["random_weights"] is True and "noise" in tiny.model_extra["description"]


def test_ops_endpoints(server):
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz")
    assert ready.status_code == 200 and set(ready.json()["jobs"]) >= {"queued", "completed"}
    assert httpx.get(server.base_url + "/docs").status_code == 200
    assert "/v1/videos" in httpx.get(server.base_url + "/openapi.json").json()["paths"]


def test_body_over_the_cap_is_refused_before_reading(server):
    # Declare a 10 GB body, send none of it: the answer must come without the server waiting for the bytes.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000000\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_chunked_body_over_the_cap_is_refused(server):
    def chunks():
        for _ in range(30):
            yield b"x" * (1024 * 1024)

    r = httpx.post(f"{server.base_url}/v1/videos", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_content_before_completion_is_a_conflict_that_the_sdk_does_not_retry(server):
    retrying = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=2)
    v = retrying.videos.create(prompt="not yet", size="256x256", extra_body=SLOW)
    t = time.monotonic()
    with pytest.raises(openai.ConflictError) as info:
        retrying.videos.download_content(v.id)
    assert time.monotonic() - t < 0.5, "x-should-retry: false must stop the SDK's retries"
    assert info.value.body["code"] == "invalid_state" and "completed" in info.value.body["message"]
    retrying.videos.delete(v.id)


def test_extensions_for_other_families_are_validated_at_the_edge(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", extra_body={"loras": [{"name": "detail", "strength": 0.5}]})
    assert info.value.body["param"] == "loras" and "does not support LoRAs" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.videos.create(prompt="x", extra_body={"options": {"motion_bucket_id": 9}})
    assert info.value.body["param"] == "motion_bucket_id"
    v = client.videos.create(prompt="x", size="256x256", extra_body={**FAST, "style": "clay"})
    assert v.model_extra["style"] == "clay"


def test_models_show_menus_and_capabilities(client):
    models = {m.id: m.model_extra for m in client.models.list()}
    ltx = models["ltx-video"]
    assert ltx["menus"]["duration"]["720p"] == [2, 4, 6] and ltx["menus"]["audio"] == {"supported": False, "default": False}
    assert models["animatediff-v1-5-2"]["loras"] and models["wan2.1-flf2v-14b-720p"]["keyframes"]
    assert {o["name"] for o in models["svd-xt"]["options"]} >= {"motion_bucket_id", "noise_aug_strength"}


def test_the_speed_tier_runs_and_is_echoed(client):
    model = client.models.retrieve("ltx-tiny-random")
    assert (model.speeds, model.default_speed) == (["exact", "fast"], "exact")
    assert client.models.retrieve("reelforge-tiny").speeds == ["exact"]
    v = client.videos.create_and_poll(prompt="fast", model="ltx-tiny-random", size="256x256", poll_interval_ms=100,
                                      extra_body={"num_frames": 9, "num_inference_steps": 4, "speed": "fast"})
    assert v.status == "completed" and v.speed == "fast"
    assert len(decode(client.videos.download_content(v.id).read())) == 9
    assert client.videos.create(prompt="default", size="256x256", extra_body=FAST).speed == "exact"
