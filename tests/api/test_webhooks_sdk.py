"""Webhook endpoints through the official `openai` SDK, unchanged, against a live server, with a real
receiver on loopback (allowed by --webhook-allow-hosts for its port only): the endpoint lifecycle,
video.completed / video.failed for real completed, failed and cancelled jobs, each verified by
``client.webhooks.unwrap`` with the endpoint's secret, secret rotation, isolation between accounts,
and the SSRF rules at registration."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import Video

from tests.api.dialects.conftest import create_key
from tests.live import LiveServer, free_port
from tests.receiver import Receiver

FAST = {"num_frames": 9, "num_inference_steps": 2}
SLOW = {"num_frames": 161, "num_inference_steps": 100}
EVENTS = ["video.completed", "video.failed"]


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models_dir, receiver):
    data = tmp_path_factory.mktemp("webhooks")
    # A model whose weights folder exists but does not load: the worker fails its jobs for real.
    broken = data / "broken-weights"
    broken.mkdir()
    (broken / "model_index.json").write_text('{"_class_name": "NoSuchPipeline"}')
    catalog = data / "catalog.toml"
    catalog.write_text(f'[models.broken-tiny]\nbase = "reelforge-tiny"\nsource = "{broken}"\n')
    keys = {who: create_key(data, "--name", who, "--unlimited", "--rate-limit", "1000/min")
            for who in ("alice", "bob", "carol")}
    srv = LiveServer(data, models_dir=tiny_models_dir, env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}, args=(
        "--webhook-allow-hosts", f"127.0.0.1:{receiver.port}", "--webhook-retry-schedule", "0.5,0.5",
        "--catalog", str(catalog))).start()
    srv.keys = keys
    yield srv
    srv.stop()


def sdk(server, who: str) -> OpenAI:
    return OpenAI(base_url=server.base_url + "/v1", api_key=server.keys[who], max_retries=0)


def ext(server, who: str, path: str, **params) -> httpx.Response:
    """An extension route (the SDK has no method for it), with ``who``'s key."""
    return httpx.get(server.base_url + "/v1" + path, params=params, timeout=30,
                     headers={"Authorization": f"Bearer {server.keys[who]}"})


def arrivals(receiver: Receiver, path: str, n: int, timeout: float = 60.0) -> list:
    """The first ``n`` requests the receiver got on ``path``, once they are there."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in list(receiver.requests) if r.path == path]
        if len(got) >= n:
            return got[:n]
        assert time.monotonic() < deadline, f"{len(got)} of {n} deliveries to {path} arrived: {got}"
        time.sleep(0.05)


def test_endpoint_lifecycle_create_list_retrieve_update_test_rotate_delete(server, receiver):
    client = sdk(server, "alice")
    created = client.webhooks.create(name="videos", url=receiver.url("/lifecycle"), event_types=EVENTS)
    assert created.object == "webhook_endpoint" and created.id.startswith("we_")
    assert created.name == "videos" and created.url == receiver.url("/lifecycle") and created.event_types == EVENTS
    secret = created.signing_secret
    assert secret.startswith("whsec_") and created.signing_secret_hint.endswith(secret[-4:])
    assert created.created_at <= time.time() and created.updated_at == created.created_at

    assert created.id in [e.id for e in client.webhooks.list()]
    got = client.webhooks.retrieve(created.id)
    assert (got.id, got.name, got.url, got.event_types) == (created.id, "videos", created.url, EVENTS)
    assert got.signing_secret_hint == created.signing_secret_hint
    raw = client.with_raw_response.webhooks.retrieve(created.id).http_response.json()
    assert "signing_secret" not in raw and raw["status"] == "active"  # the secret is shown only at create/rotate

    updated = client.webhooks.update(created.id, name="renamed", event_types=["video.failed"])
    assert (updated.name, updated.event_types, updated.url) == ("renamed", ["video.failed"], created.url)
    assert client.webhooks.retrieve(created.id).name == "renamed"

    # test() sends whatever the endpoint subscribes to, and reports the receiver's answer.
    result = client.webhooks.test(created.id, event_type="video.completed")
    assert (result.object, result.webhook_endpoint_id, result.event_type) == (
        "webhook_endpoint.test", created.id, "video.completed")
    assert result.status_code == 200 and result.success is True
    (first,) = arrivals(receiver, "/lifecycle", 1)
    event = client.webhooks.unwrap(first.body, first.headers, secret=secret)
    assert (event.object, event.type, event.data.id) == ("event", "video.completed", "video_test")
    assert event.id.startswith("evt_") and first.headers["webhook-id"] == result.model_extra["delivery_id"]

    # Rotation without a grace period: only the new secret verifies from now on.
    rotated = client.webhooks.rotate_secret(created.id)
    assert rotated.signing_secret.startswith("whsec_") and rotated.signing_secret != secret
    assert rotated.updated_at >= created.updated_at
    client.webhooks.test(created.id, event_type="video.failed")
    second = arrivals(receiver, "/lifecycle", 2)[1]
    assert client.webhooks.unwrap(second.body, second.headers, secret=rotated.signing_secret).type == "video.failed"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(second.body, second.headers, secret=secret)

    # With keep_old_secret_active_for_24_hours, both sign until the grace period ends.
    again = client.webhooks.rotate_secret(created.id, keep_old_secret_active_for_24_hours=True)
    client.webhooks.test(created.id, event_type="video.completed")
    third = arrivals(receiver, "/lifecycle", 3)[2]
    assert len(third.headers["webhook-signature"].split()) == 2
    for key in (again.signing_secret, rotated.signing_secret):
        assert client.webhooks.unwrap(third.body, third.headers, secret=key).type == "video.completed"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(third.body, third.headers, secret=secret)

    deleted = client.webhooks.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "webhook_endpoint.deleted")
    with pytest.raises(openai.NotFoundError):
        client.webhooks.retrieve(created.id)
    assert created.id not in [e.id for e in client.webhooks.list()]


def test_completed_failed_and_cancelled_jobs_each_deliver_one_verified_event(server, receiver):
    client = sdk(server, "carol")
    endpoint = client.webhooks.create(name="jobs", url=receiver.url("/jobs"), event_types=EVENTS)
    done = client.videos.create(prompt="a red circle moving right", size="256x256", extra_body=FAST)
    broken = client.videos.create(prompt="a red circle", model="broken-tiny", size="256x256", extra_body=FAST)
    slow = client.videos.create(prompt="a slow one", size="256x256", extra_body=SLOW)
    client.post(f"/videos/{slow.id}/cancel", cast_to=Video)
    finals = {v.id: client.videos.poll(v.id, poll_interval_ms=100) for v in (done, broken, slow)}
    assert finals[done.id].status == "completed"
    assert finals[broken.id].status == "failed" and finals[broken.id].error.code == "generation_failed"
    assert finals[slow.id].status == "failed" and finals[slow.id].error.code == "cancelled"

    got = arrivals(receiver, "/jobs", 3)
    events = {}
    for request in got:
        event = client.webhooks.unwrap(request.body, request.headers, secret=endpoint.signing_secret)
        assert event.object == "event" and event.id.startswith("evt_")
        events[event.data.id] = event.type
    assert events == {done.id: "video.completed", broken.id: "video.failed", slow.id: "video.failed"}
    time.sleep(1.0)  # a retry schedule of 0.5 s: a second delivery of any of them would be here by now
    assert len([r for r in receiver.requests if r.path == "/jobs"]) == 3

    # The owner sees each delivery and its attempt (extension routes).
    (delivery,) = ext(server, "carol", "/webhook_deliveries", video_id=done.id).json()["data"]
    assert (delivery["status"], delivery["webhook_endpoint_id"], delivery["event_type"], delivery["kind"]) == (
        "delivered", endpoint.id, "video.completed", "openai")
    webhook_id = next(r.headers["webhook-id"] for r in got if json.loads(r.body)["data"]["id"] == done.id)
    assert delivery["id"] == webhook_id
    detail = ext(server, "carol", f"/webhook_deliveries/{delivery['id']}").json()
    assert [(a["number"], a["status_code"]) for a in detail["attempts"]] == [(1, 200)]
    assert json.loads(detail["body"])["data"]["id"] == done.id
    listed = ext(server, "carol", f"/webhook_endpoints/{endpoint.id}/deliveries").json()["data"]
    assert {d["video_id"] for d in listed} == {done.id, broken.id, slow.id}
    client.webhooks.delete(endpoint.id)


def test_another_account_cannot_see_or_manage_the_endpoint(server, receiver):
    alice, bob = sdk(server, "alice"), sdk(server, "bob")
    endpoint = alice.webhooks.create(name="alice's", url=receiver.url("/alice"), event_types=EVENTS)
    alice.webhooks.test(endpoint.id, event_type="video.completed")
    (delivery,) = ext(server, "alice", f"/webhook_endpoints/{endpoint.id}/deliveries").json()["data"]

    assert endpoint.id not in [e.id for e in bob.webhooks.list()]
    for call in (lambda: bob.webhooks.retrieve(endpoint.id),
                 lambda: bob.webhooks.update(endpoint.id, name="bob's now"),
                 lambda: bob.webhooks.test(endpoint.id, event_type="video.completed"),
                 lambda: bob.webhooks.rotate_secret(endpoint.id),
                 lambda: bob.webhooks.delete(endpoint.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    for path in (f"/webhook_endpoints/{endpoint.id}/deliveries", f"/webhook_deliveries/{delivery['id']}"):
        r = ext(server, "bob", path)
        assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error", r.text
    assert delivery["id"] not in [d["id"] for d in ext(server, "bob", "/webhook_deliveries").json()["data"]]
    assert len(arrivals(receiver, "/alice", 1)) == 1  # bob's test() sent nothing
    got = alice.webhooks.retrieve(endpoint.id)
    assert got.name == "alice's" and got.signing_secret_hint == endpoint.signing_secret_hint
    alice.webhooks.delete(endpoint.id)


def test_event_types_lists_the_two_video_events(server):
    listed = sdk(server, "alice").webhooks.event_types.list()
    assert listed.object == "list" and listed.data == EVENTS


def test_an_event_type_this_server_does_not_send_is_refused(server, receiver):
    client = sdk(server, "alice")
    with pytest.raises(openai.BadRequestError) as info:
        client.webhooks.create(name="x", url=receiver.url("/never"), event_types=["batch.completed"])
    assert info.value.body["param"] == "event_types" and "video.completed" in info.value.body["message"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{other}/hook",  # loopback on a port the allow setting does not name
    "http://localhost:{allowed}/hook",  # a name that resolves to loopback: only 127.0.0.1:{allowed} is named
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0.0.0.0/hook",
    "http://[fd00::1]/hook",
    "ftp://93.184.216.34/hook",
    "http://user:pass@93.184.216.34/hook",
])
def test_private_and_loopback_urls_are_refused_at_registration(server, receiver, url):
    url = url.format(other=free_port(), allowed=receiver.port)
    client = sdk(server, "alice")
    with pytest.raises(openai.BadRequestError) as info:
        client.webhooks.create(name="private", url=url, event_types=EVENTS)
    assert info.value.status_code == 400 and info.value.body["param"] == "url", info.value.body
    ok = client.webhooks.create(name="public", url=receiver.url("/refused"), event_types=EVENTS)
    with pytest.raises(openai.BadRequestError) as info:
        client.webhooks.update(ok.id, url=url)
    assert info.value.body["param"] == "url"
    assert client.webhooks.retrieve(ok.id).url == receiver.url("/refused")
    client.webhooks.delete(ok.id)
