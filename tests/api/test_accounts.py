"""Accounts on the OpenAI surface, through a live server and the unchanged SDK: keys, isolation,
credits, rate limits and Idempotency-Key."""

from __future__ import annotations

import contextlib
import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

from reelforge.api.app import create_app
from reelforge.cli import main as cli
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import fresh_window
from tests.live import LiveServer


def create_key(data_dir, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["keys", "create", "--data-dir", str(data_dir), *args]) == 0
    return out.getvalue().strip()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, tiny_models_dir):
    data = tmp_path_factory.mktemp("keyed")
    keys = {
        "alice": create_key(data, "--name", "alice", "--credits", "20", "--rate-limit", "1000/min"),
        "bob": create_key(data, "--name", "bob", "--unlimited", "--rate-limit", "1000/min"),
        "carol": create_key(data, "--name", "carol", "--unlimited", "--rate-limit", "2/min"),
        "dave": create_key(data, "--name", "dave", "--credits", "3", "--rate-limit", "1000/min"),
        "erin": create_key(data, "--name", "erin", "--credits", "40", "--rate-limit", "1000/min"),
    }
    srv = LiveServer(data, models_dir=tiny_models_dir, workers=0).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield srv, keys, AccountStore(store)
    store.close()
    srv.stop()


def sdk(server, key: str | None) -> OpenAI:
    return OpenAI(base_url=server.base_url + "/v1", api_key=key or "none", max_retries=0)


def balance(accounts: AccountStore, key: str) -> int | None:
    return accounts.authenticate(key).credits


def test_every_route_needs_a_valid_key(keyed):
    server, keys, _ = keyed
    for key in (None, "rf_not-a-key"):
        with pytest.raises(openai.AuthenticationError) as info:
            sdk(server, key).videos.list()
        assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
    r = httpx.get(server.base_url + "/v1/models")
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]["message"]
    assert httpx.get(server.base_url + "/healthz").status_code == 200
    assert sdk(server, keys["bob"]).models.list().data


def test_another_accounts_video_is_404_everywhere(keyed):
    server, keys, _ = keyed
    video = sdk(server, keys["alice"]).videos.create(prompt="alice's cat")
    bob = sdk(server, keys["bob"])
    for call in (lambda: bob.videos.retrieve(video.id), lambda: bob.videos.delete(video.id),
                 lambda: bob.videos.remix(video.id, prompt="mine now"),
                 lambda: bob.videos.download_content(video.id),
                 lambda: bob.post(f"/videos/{video.id}/cancel", cast_to=httpx.Response)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert video.id not in [v.id for v in bob.videos.list()]
    assert sdk(server, keys["alice"]).videos.retrieve(video.id).status == "queued"


def test_the_charge_is_the_estimate_and_a_cancel_refunds_it(keyed):
    server, keys, accounts = keyed
    alice = sdk(server, keys["alice"])
    before = balance(accounts, keys["alice"])
    video = alice.videos.create(prompt="a cat", seconds="8")  # 8 s x 1 credit/s on the default model
    assert balance(accounts, keys["alice"]) == before - 8
    alice.post(f"/videos/{video.id}/cancel", cast_to=httpx.Response)
    assert balance(accounts, keys["alice"]) == before


def test_insufficient_credits_is_openai_insufficient_quota_and_queues_nothing(keyed):
    server, keys, accounts = keyed
    dave = sdk(server, keys["dave"])
    with pytest.raises(openai.RateLimitError) as info:
        dave.videos.create(prompt="a cat")  # 4 credits, dave has 3
    assert info.value.status_code == 429 and info.value.body["code"] == "insufficient_quota"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert "costs 4 credits and the account has 3" in info.value.body["message"]
    assert balance(accounts, keys["dave"]) == 3 and dave.videos.list().data == []


def test_fifty_parallel_creates_with_credits_for_ten_accept_exactly_ten(keyed):
    server, keys, accounts = keyed
    headers = {"Authorization": f"Bearer {keys['erin']}"}  # 40 credits; a default video costs 4

    def create(i: int) -> int:
        return httpx.post(server.base_url + "/v1/videos", json={"prompt": f"video {i}"}, headers=headers,
                          timeout=60).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(create, range(50)))
    assert statuses.count(200) == 10 and statuses.count(429) == 40
    assert balance(accounts, keys["erin"]) == 0
    listed = sdk(server, keys["erin"]).videos.list(limit=100).data
    assert len(listed) == 10


def test_rate_limit_headers_on_every_response_and_429_with_retry_after(keyed):
    server, keys, _ = keyed
    headers = {"Authorization": f"Bearer {keys['carol']}"}
    url = server.base_url + "/v1/videos"
    fresh_window(server.base_url, keys["carol"])
    first = httpx.post(url, json={"prompt": "one"}, headers=headers)
    assert first.status_code == 200
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
    assert first.headers["ratelimit-policy"] == '"default";q=2;w=60'
    assert first.headers["ratelimit"].startswith('"default";r=1;t=')
    poll = httpx.get(url, headers=headers)  # reads report the window but do not spend it
    assert poll.headers["x-ratelimit-remaining"] == "1"
    assert httpx.post(url, json={"prompt": "two"}, headers=headers).status_code == 200
    third = httpx.post(url, json={"prompt": "three"}, headers=headers)
    assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limit_exceeded"
    retry = int(third.headers["retry-after"])
    assert 1 <= retry <= 60 and third.headers["retry-after-ms"] == str(retry * 1000)
    assert third.headers["x-ratelimit-remaining"] == "0"
    assert int(third.headers["x-ratelimit-reset"]) > 0


def test_an_idempotent_retry_makes_one_job_and_one_charge(keyed):
    server, keys, accounts = keyed
    alice = sdk(server, keys["alice"])
    before = balance(accounts, keys["alice"])
    key = {"Idempotency-Key": "order-42"}
    first = alice.videos.with_raw_response.create(prompt="a red fox", extra_headers=key)
    again = alice.videos.with_raw_response.create(prompt="a red fox", extra_headers=key)
    assert first.parse().id == again.parse().id
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert balance(accounts, keys["alice"]) == before - 4
    with pytest.raises(openai.UnprocessableEntityError) as info:
        alice.videos.create(prompt="a blue fox", extra_headers=key)
    assert info.value.body["code"] == "idempotency_key_reused"
    # The key is per account: bob's request with the same key is his own new job.
    assert sdk(server, keys["bob"]).videos.create(prompt="a red fox", extra_headers=key).id != first.parse().id


def test_a_rejected_create_frees_its_idempotency_key(keyed):
    server, keys, _ = keyed
    alice = sdk(server, keys["alice"])
    key = {"Idempotency-Key": '"retry-me"'}  # sf-string form
    with pytest.raises(openai.BadRequestError):
        alice.videos.create(prompt="x", size="1x1", extra_headers=key)
    assert alice.videos.create(prompt="x", extra_headers=key).status == "queued"


def test_without_keys_only_a_loopback_server_is_open(tmp_path):
    for host, status in (("0.0.0.0", 401), ("127.0.0.1", 200)):
        settings = Settings(overrides={"data_dir": str(tmp_path / host), "host": host})
        store = JobStore(settings.database_url)
        store.migrate()
        # A loopback Host, as a local client sends; the open mode refuses TestClient's "testserver".
        with TestClient(create_app(service=VideoService.open(settings, store=store)), base_url="http://localhost") as client:
            r = client.get("/v1/videos")
        assert r.status_code == status, host
        store.close()
