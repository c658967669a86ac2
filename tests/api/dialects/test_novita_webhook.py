"""Novita's per-request webhook (``extra.webhook.url``) through a live server and a real receiver on
loopback (allowed by --webhook-allow-hosts for its port only): the reference's example delivers one
ASYNC_TASK_RESULT whose payload is the task-result response, signed with Standard Webhooks headers
that verify with the account's secret (GET /v1/webhooks/default/secret); test_mode delivers a
simulated result and runs and charges nothing; private receivers are refused at submission."""

from __future__ import annotations

import json
import time
import urllib.parse

import httpx
import pytest
from openai import OpenAI
from standardwebhooks import Webhook

from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import ImageHost, Rig, create_key
from tests.api.dialects.test_novita import EXAMPLE, SMALL, assert_error, auth, create, result, wait
from tests.live import LiveServer, free_port
from tests.receiver import Receiver


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def rig(tmp_path_factory, tiny_models_dir, receiver):
    """The dialect rig (this module's own, so its server may reach the receiver)."""
    data = tmp_path_factory.mktemp("novita-webhook")
    keys = {"bob": create_key(data, "--name", "bob", "--unlimited", "--rate-limit", "1000/min")}
    images = ImageHost().start()
    server = LiveServer(data, models_dir=tiny_models_dir, env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}, args=(
        "--webhook-allow-hosts", f"127.0.0.1:{receiver.port}", "--webhook-retry-schedule", "0.5,0.5")).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield Rig(server, images, keys, AccountStore(store))
    store.close()
    server.stop()
    images.stop()


def account_secret(rig, who: str = "alice") -> str:
    r = httpx.get(rig.base_url + "/v1/webhooks/default/secret", headers=auth(rig, who))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"key"} and r.json()["key"].startswith("whsec_")
    return r.json()["key"]


def arrivals(receiver: Receiver, path: str, n: int, timeout: float = 120.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in list(receiver.requests) if r.path == path]
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"{len(got)} of {n} deliveries to {path} arrived"
        time.sleep(0.05)


def verify(body: bytes, headers: dict[str, str], secret: str) -> None:
    """Both verifiers: the Standard Webhooks library and the openai SDK's own implementation."""
    Webhook(secret).verify(body, headers)
    OpenAI(api_key="unused", base_url="http://127.0.0.1:9").webhooks.verify_signature(body, headers, secret=secret)


def unsigned(task_result: dict) -> dict:
    """``task_result`` with each video URL's expiry and signature taken out: they are made when the
    body is rendered, so the webhook's (rendered at delivery) and a later poll's differ by the clock."""
    out = json.loads(json.dumps(task_result))
    for video in out["videos"]:
        url = urllib.parse.urlsplit(video["video_url"])
        query = {k: v for k, v in urllib.parse.parse_qsl(url.query) if k not in ("expires", "signature")}
        video["video_url"] = url._replace(query=urllib.parse.urlencode(query)).geturl()
    return out


@pytest.mark.slow  # the reference's 128 frames at 512x512: about 35 s on two cores
def test_the_reference_example_with_a_webhook_delivers_its_task_result_once(rig, receiver):
    body = {**EXAMPLE, "extra": {"webhook": {"url": receiver.url("/example")}}}
    r = create(rig, body)
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]
    polled = wait(rig, task)
    assert polled["task"]["status"] == "TASK_STATUS_SUCCEED"

    (delivery,) = arrivals(receiver, "/example", 1)
    sent = json.loads(delivery.body)
    assert set(sent) == {"event_type", "payload"} and sent["event_type"] == "ASYNC_TASK_RESULT"
    assert sent["payload"]["task"]["task_id"] == task
    now = result(rig, task).json()
    assert unsigned(sent["payload"]) == unsigned(now) == unsigned(polled)
    (pushed,), (fetched,) = sent["payload"]["videos"], now["videos"]
    mp4 = httpx.get(pushed["video_url"])
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    assert mp4.content == httpx.get(fetched["video_url"]).content  # both links name the same video

    verify(delivery.body, delivery.headers, account_secret(rig))
    with pytest.raises(Exception):
        verify(delivery.body, delivery.headers, account_secret(rig, "bob"))  # another account's secret
    assert account_secret(rig) == account_secret(rig)  # one secret per account, made once

    # Exactly one: no retry of a 200, and the account's delivery log has it, delivered on the first attempt.
    time.sleep(1.0)  # a retry schedule of 0.5 s: a second POST would be here by now
    assert len([x for x in receiver.requests if x.path == "/example"]) == 1
    log = httpx.get(rig.base_url + "/v1/webhook_deliveries", headers=auth(rig)).json()["data"]
    (entry,) = [d for d in log if d["kind"] == "novita"]
    assert (entry["id"], entry["status"], entry["attempt_count"], entry["webhook_endpoint_id"]) == (
        delivery.headers["webhook-id"], "delivered", 1, None)
    assert entry["event_type"] == "ASYNC_TASK_RESULT" and entry["url"] == receiver.url("/example")


@pytest.mark.parametrize("status", ["TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"])
def test_test_mode_delivers_a_simulated_result_and_runs_nothing(rig, receiver, status):
    path = f"/test-mode-{status}"
    before = rig.credits("alice")
    body = {**SMALL, "extra": {"webhook": {"url": receiver.url(path),
                                           "test_mode": {"enabled": True, "return_task_status": status}}}}
    r = create(rig, body)
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]

    (delivery,) = arrivals(receiver, path, 1)
    verify(delivery.body, delivery.headers, account_secret(rig))
    sent = json.loads(delivery.body)
    assert sent["event_type"] == "ASYNC_TASK_RESULT"
    payload = sent["payload"]
    assert set(payload) == {"extra", "task", "images", "videos", "audios"}
    assert payload["task"]["task_id"] == task and payload["task"]["status"] == status
    assert payload["task"]["task_type"] == "TXT_TO_VIDEO" and payload["videos"] == []
    assert payload["extra"]["reelforge"]["test_mode"] is True
    if status == "TASK_STATUS_FAILED":
        assert "test-mode" in payload["task"]["reason"]
    else:
        assert payload["task"]["reason"] == "" and payload["task"]["progress_percent"] == 100

    # Nothing ran and nothing was charged: the task does not exist and the balance is whole.
    assert_error(result(rig, task), 404, "TASK_NOT_FOUND")
    assert rig.credits("alice") == before
    videos = httpx.get(rig.base_url + "/v1/videos", headers=auth(rig)).json()["data"]
    assert videos == []


def test_private_webhook_urls_are_refused_at_submission(rig, receiver):
    for url in (f"http://127.0.0.1:{free_port()}/hook", f"http://localhost:{receiver.port}/hook",
                "http://10.0.0.1/hook", "http://[::1]/hook", "http://0x7f000001/hook"):
        for extra in ({"url": url}, {"url": url, "test_mode": {"enabled": True}}):
            err = assert_error(create(rig, {**SMALL, "extra": {"webhook": extra}}), 400, "INVALID_REQUEST_BODY")
            assert err["metadata"]["param"] == "extra.webhook.url", err
    assert [x for x in receiver.requests if x.path == "/hook"] == []
