"""Web pages cannot drive a local server, links come from --public-url, and logs hold no secrets.

The reproductions from issue 10, against real servers over real HTTP:
- a DNS-rebinding page (``Host: attacker.example``) could list and download every video;
- a cross-origin form POST (urlencoded or multipart: no CORS preflight) could create and cancel jobs;
- ``Host`` and ``X-Forwarded-*`` were copied into signed URLs;
- signed URLs, signatures included, were in the access log.

Three servers: ``queue`` has no worker (its jobs stay queued, so a cancel that got through would
show); ``local`` runs the jobs; ``anyhost`` is a second API process on ``local``'s data folder that
answers any Host and believes forwarded headers from 127.0.0.1, so what it hands out shows whether
the request's Host or forwarded headers leak into links.
"""

from __future__ import annotations

import base64
import re
import socket
import time
import uuid

import httpx
import pytest

from reelforge.api.browsers import host_name
from reelforge.settings import Settings
from tests.api.dialects.conftest import png
from tests.live import LiveServer

PUBLIC = "https://videos.example.com"
ALLOWED = "https://allowed.example"
EVIL = "https://evil.example"
FOREIGN = {"Host": "attacker.example"}
FAST = {"num_frames": 9, "num_inference_steps": 2}
SIGNATURE = re.compile(r"signature=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def queue(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("queue"), workers=0, args=("--cors-origins", ALLOWED)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def local(tmp_path_factory, tiny_models_dir):
    srv = LiveServer(tmp_path_factory.mktemp("local"), models_dir=tiny_models_dir,
                     args=("--public-url", PUBLIC)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def anyhost(local, tiny_models_dir):
    srv = LiveServer(local.data_dir, models_dir=tiny_models_dir, workers=0,
                     args=("--public-url", PUBLIC, "--allowed-hosts", "*", "--trusted-proxies", "127.0.0.1")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def finished(local) -> str:
    """The id of a completed video on ``local`` (a Vyro job, so that dialect's links can be asked for)."""
    r = httpx.post(local.base_url + "/v2/video/text-to-video",
                   files={"prompt": (None, "a red ball rolling right"), "style": (None, "fast-svd")})
    assert r.status_code == 200, r.text
    video_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = httpx.get(f"{local.base_url}/v2/assets/{video_id}/status").json()["video"]["status"]
        if state != "processing":
            assert state == "finished", state
            return video_id
        time.sleep(0.3)
    raise AssertionError("the video did not finish")


def openai_id(vyro_id: str) -> str:
    return "video_" + uuid.UUID(vyro_id).hex


def job_ids(server: LiveServer) -> set[str]:
    r = httpx.get(server.base_url + "/v1/videos", params={"limit": 100})
    assert r.status_code == 200, r.text
    return {v["id"] for v in r.json()["data"]}


def create_queued(server: LiveServer) -> str:
    r = httpx.post(server.base_url + "/v1/videos", json={"prompt": "stays queued", "size": "256x256", **FAST})
    assert r.status_code == 200, r.text
    return r.json()["id"]


# --- Host --------------------------------------------------------------------------------------


def test_a_foreign_host_reads_nothing_and_creates_nothing(local, finished):
    vid = openai_id(finished)
    assert httpx.get(f"{local.base_url}/v1/videos/{vid}").status_code == 200  # it exists, for a proper Host
    before = job_ids(local)
    for method, path, kwargs in (
        ("GET", "/v1/videos", {}),
        ("GET", f"/v1/videos/{vid}", {}),
        ("GET", f"/v1/videos/{vid}/content", {}),
        ("POST", "/v1/videos", {"json": {"prompt": "rebound", "size": "256x256", **FAST}}),
    ):
        for host in ("attacker.example", f"attacker.example:{local.port}", "0.0.0.0", "127.0.0.1.nip.io"):
            r = httpx.request(method, local.base_url + path, headers={"Host": host}, **kwargs)
            assert r.status_code == 421, (method, path, host, r.status_code)
            error = r.json()["error"]  # the OpenAI envelope, from the same renderer as every other error
            assert (error["type"], error["code"]) == ("invalid_request_error", "unknown_host")
            assert vid not in r.text and "ftyp" not in r.text
    assert job_ids(local) == before


def test_a_foreign_host_gets_each_dialects_envelope(local, finished):
    r = httpx.get(f"{local.base_url}/v2/assets/{finished}/status", headers=FOREIGN)
    assert r.status_code == 421
    assert r.json() == {"status": "error", "code": "1100", "error": "MisdirectedRequest", "message": r.json()["message"]}
    assert "attacker.example" in r.json()["message"]
    r = httpx.get(local.base_url + "/v3/async/task-result", params={"task_id": finished}, headers=FOREIGN)
    assert r.status_code == 421 and r.json()["reason"] == "UNKNOWN_HOST"


def test_loopback_names_the_public_host_and_healthz_are_answered(local, finished):
    vid = openai_id(finished)
    for host in (f"localhost:{local.port}", f"127.0.0.1:{local.port}", f"app.localhost:{local.port}",
                 f"[::1]:{local.port}", "videos.example.com"):
        r = httpx.get(f"{local.base_url}/v1/videos/{vid}", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
    assert httpx.get(local.base_url + "/healthz", headers=FOREIGN).json() == {"status": "ok"}


# --- Origin and CORS ---------------------------------------------------------------------------


def test_foreign_origin_form_posts_create_nothing(queue):
    before = job_ids(queue)
    # What a page's <form> sends, both encodings; and a sandboxed page's "null" origin.
    for origin in (EVIL, "null", f"http://localhost:{queue.port + 1}"):
        r = httpx.post(queue.base_url + "/v1/videos", headers={"Origin": origin},
                       data={"prompt": "csrf", "size": "256x256"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden" and r.json()["error"]["type"] == "permission_error"
        r = httpx.post(queue.base_url + "/v1/videos", headers={"Origin": origin},
                       files={"prompt": (None, "csrf"), "size": (None, "256x256")})
        assert r.status_code == 403, r.text
        r = httpx.post(queue.base_url + "/v2/video/text-to-video", headers={"Origin": origin},
                       files={"prompt": (None, "csrf"), "style": (None, "fast-svd")})
        assert r.status_code == 403 and r.json()["error"] == "Forbidden", r.text
    # A browser that sends no Origin still says the request is another site's.
    r = httpx.post(queue.base_url + "/v1/videos", headers={"Sec-Fetch-Site": "cross-site"},
                   data={"prompt": "csrf", "size": "256x256"})
    assert r.status_code == 403
    assert job_ids(queue) == before
    assert "access-control-allow-origin" not in r.headers


def test_foreign_origin_cannot_cancel_or_delete(queue):
    vid = create_queued(queue)
    vyro_id = create_queued(queue)
    vyro_uuid = str(uuid.UUID(vyro_id.removeprefix("video_")))
    for method, path in (("POST", f"/v1/videos/{vid}/cancel"), ("DELETE", f"/v1/videos/{vid}"),
                         ("DELETE", f"/v2/video/delete/{vyro_uuid}"), ("POST", f"/v2/video/delete/{vyro_uuid}")):
        r = httpx.request(method, queue.base_url + path, headers={"Origin": EVIL})
        assert r.status_code == 403, (method, path, r.text)
    for job in (vid, vyro_id):
        r = httpx.get(f"{queue.base_url}/v1/videos/{job}")
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    # The API's own clients (no Origin) still cancel.
    assert httpx.post(f"{queue.base_url}/v1/videos/{vid}/cancel").status_code == 200
    assert httpx.get(f"{queue.base_url}/v1/videos/{vid}").json()["error"]["code"] == "cancelled"


def test_an_allowed_or_own_origin_may_post_with_cors_headers(queue):
    before = job_ids(queue)
    r = httpx.post(queue.base_url + "/v1/videos", headers={"Origin": ALLOWED},
                   files={"prompt": (None, "from an allowed page"), "size": (None, "256x256")})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "openai-poll-after-ms" in r.headers["access-control-expose-headers"].lower()
    # The playground at / is same-origin: its Origin names the Host it talks to.
    own = httpx.post(queue.base_url + "/v1/videos", headers={"Origin": queue.base_url},
                     data={"prompt": "from the playground", "size": "256x256"})
    assert own.status_code == 200, own.text
    assert job_ids(queue) == before | {r.json()["id"], own.json()["id"]}
    assert httpx.post(f"{queue.base_url}/v1/videos/{r.json()['id']}/cancel", headers={"Origin": ALLOWED}).status_code == 200


def test_a_preflight_from_an_allowed_origin_is_answered(queue):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    r = httpx.options(queue.base_url + "/v1/videos", headers={"Origin": ALLOWED, **ask})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    refused = httpx.options(queue.base_url + "/v1/videos", headers={"Origin": EVIL, **ask})
    assert "access-control-allow-origin" not in refused.headers
    # Reads from an allowed page carry the rate-limit headers it may read.
    r = httpx.get(queue.base_url + "/v1/videos", headers={"Origin": ALLOWED})
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "x-ratelimit-remaining" in r.headers["access-control-expose-headers"].lower()


# --- Public URLs -------------------------------------------------------------------------------


def test_signed_urls_use_public_url_whatever_host_is_sent(local, anyhost, finished):
    spoof = {"Host": "evil.example:9999", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example:9999",
             "X-Forwarded-For": "203.0.113.7"}
    for server in (local, anyhost):
        headers = spoof if server is anyhost else {**spoof, "Host": "videos.example.com"}
        vyro = httpx.get(f"{server.base_url}/v2/assets/{finished}/status", headers=headers)
        assert vyro.status_code == 200, vyro.text
        links = vyro.json()["video"]["url"]
        novita = httpx.get(server.base_url + "/v3/async/task-result", params={"task_id": finished}, headers=headers)
        assert novita.status_code == 200, novita.text
        links["novita"] = novita.json()["videos"][0]["video_url"]
        for name, url in links.items():
            assert url.startswith(f"{PUBLIC}/files/{uuid.UUID(finished).hex}/"), (server.port, name, url)
            # A real link to this server: the same path and query fetch the file.
            r = httpx.get(server.base_url + url.removeprefix(PUBLIC))
            assert r.status_code == 200 and len(r.content) > 0, (name, r.text)


def test_segmind_poll_urls_use_public_url(anyhost):
    image = "data:image/png;base64," + base64.b64encode(png(size=(96, 64))).decode()
    r = httpx.post(anyhost.base_url + "/v2/svd", json={"image": image},
                   headers={"Host": "evil.example:9999", "X-Forwarded-Proto": "http"})
    assert r.status_code == 200, r.text
    rid = r.json()["request_id"]
    assert r.json()["poll_url"] == f"{PUBLIC}/v1/requests/{rid}"
    assert r.json()["status_url"] == f"{PUBLIC}/v2/requests/{rid}/status"
    assert r.json()["response_url"] == f"{PUBLIC}/v2/requests/{rid}"


def test_public_url_defaults_to_the_bind_address():
    assert Settings(overrides={"port": 8123}, environ={}).public_base == "http://127.0.0.1:8123"
    assert Settings(overrides={"host": "::1"}, environ={}).public_base == "http://[::1]:8000"
    assert Settings(overrides={"host": "0.0.0.0"}, environ={}).public_base == f"http://{socket.gethostname()}:8000"
    assert Settings(overrides={"public_url": "https://v.example.com/"}, environ={}).public_base == "https://v.example.com"
    for bad in ("videos.example.com", "ftp://v.example.com", "https://v.example.com/?x=1"):
        with pytest.raises(ValueError, match="base URL"):
            Settings(overrides={"public_url": bad}, environ={})


def test_host_names_are_read_without_port_or_brackets():
    assert host_name("Attacker.Example.:8000") == "attacker.example"
    assert host_name("[::1]:8000") == "::1" and host_name("127.0.0.1") == "127.0.0.1"


# --- Logs --------------------------------------------------------------------------------------


def test_access_logs_hold_no_signatures_and_no_keys(local, anyhost, finished):
    fake_key = "rf_" + "K" * 43  # the shape of a real key; open mode ignores it, the log must not keep it
    url = httpx.get(f"{anyhost.base_url}/v2/assets/{finished}/status").json()["video"]["url"]["generation"]
    signature = SIGNATURE.search(url).group(1)
    path = url.removeprefix(PUBLIC)
    for server in (local, anyhost):
        assert httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {fake_key}"}).status_code == 200
        httpx.get(f"{server.base_url}/v1/models", params={"api_key": fake_key})
        httpx.get(f"{server.base_url}/v1/videos", headers={"X-Forwarded-For": "203.0.113.7"})
    # uvicorn writes the access line before the response, so every request above is in the logs now.
    for server in (local, anyhost):
        log = server.log_path.read_text(errors="replace")
        assert f"GET /files/{uuid.UUID(finished).hex}/video?expires=" in log, log[-3000:]
        assert "signature=REDACTED" in log
        assert signature not in log and not SIGNATURE.search(log.replace("signature=REDACTED", "")), log[-3000:]
        assert fake_key not in log and "api_key=rf_REDACTED" in log
    # X-Forwarded-For is believed only from a trusted proxy (anyhost trusts 127.0.0.1, local nobody).
    assert "203.0.113.7" in anyhost.log_path.read_text() and "203.0.113.7" not in local.log_path.read_text()
