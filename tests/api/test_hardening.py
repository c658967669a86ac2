"""Hostile input against a live server (issue 10's reproductions): every bad value is a 4xx that
names the field, nothing is created or charged, errors stay short, and parsing is strict."""

from __future__ import annotations

import base64
import json
import os
import stat

import httpx
import pytest

from reelforge.errors import describe, shown
from reelforge.store import AccountStore, JobStore
from tests.api.dialects.conftest import create_key, fresh_window
from tests.live import LiveServer

OPENAI = "/v1/videos"
# The six JSON create routes of the dialects, each with a body that is valid but for the hole we poke.
CREATES = {
    "openai": (OPENAI, {"prompt": "a red ball"}, "prompt"),
    "vyro": ("/v2/video/text-to-video", {"prompt": "a red ball", "style": "kling-1.0-pro"}, "prompt"),
    "segmind": ("/v2/svd", {"image": "data:image/png;base64,AAAA"}, "image"),
    "syllaby": ("/text-to-video", {"model": "ltx-tiny-random", "prompt": "a red ball",
                                   "modifiers": {"duration": 4, "resolution": "256p", "aspect_ratio": "1:1"}}, "prompt"),
    "novita": ("/v3/async/txt2video", {"model_name": "m.safetensors", "height": 256, "width": 256, "steps": 1,
                                       "prompts": [{"frames": 8, "prompt": "a red ball"}]}, "negative_prompt"),
    "aimlapi": ("/v2/video/generations", {"model": "pixverse/v5/text-to-video", "prompt": "a red ball",
                                          "aspect_ratio": "1:1", "resolution": "360p", "duration": 5}, "prompt"),
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory, tiny_models_dir):
    data = tmp_path_factory.mktemp("hardening")
    keys = {
        "alice": create_key(data, "--name", "alice", "--credits", "1000", "--rate-limit", "1000/min"),
        "strict": create_key(data, "--name", "strict", "--credits", "1000", "--rate-limit", "3/min"),
    }
    server = LiveServer(data, models_dir=tiny_models_dir, workers=0).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield server, keys, AccountStore(store), store
    store.close()
    server.stop()


def headers(keys, who="alice", **extra) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[who]}", "x-api-key": keys[who], **extra}


def post_raw(server, keys, path: str, raw: bytes | str, content_type: str = "application/json", who="alice"):
    return httpx.post(server.base_url + path, content=raw, timeout=30,
                      headers=headers(keys, who, **{"Content-Type": content_type}))


def job_count(store: JobStore) -> int:
    return sum(store.counts().values())


def test_a_lone_surrogate_is_a_400_on_every_dialect_and_creates_nothing(srv):
    server, keys, accounts, store = srv
    before_jobs, before_credits = job_count(store), accounts.authenticate(keys["alice"]).credits
    for name, (path, body, field) in CREATES.items():
        raw = json.dumps({**body, field: "a red ball \ud800"})  # json.dumps writes the escape "\ud800"
        assert "\\ud800" in raw
        r = post_raw(server, keys, path, raw)
        assert r.status_code in (400, 422), (name, r.status_code, r.text)
        assert "surrogate" in r.text and field in r.text, (name, r.text)
    # The other fields the red team hit: OpenAI size, Vyro style, Syllaby model and modifiers.*.
    for path, body, field in (
        (OPENAI, {"prompt": "a cat", "size": "\ud800"}, "size"),
        (CREATES["vyro"][0], {"prompt": "a cat", "style": "\ud800"}, "style"),
        (CREATES["syllaby"][0], {**CREATES["syllaby"][1], "model": "\udfff"}, "model"),
        (CREATES["syllaby"][0], {**CREATES["syllaby"][1], "modifiers": {"duration": 4, "resolution": "\ud800"}},
         "modifiers.resolution"),
    ):
        r = post_raw(server, keys, path, json.dumps(body))
        assert r.status_code in (400, 422) and field in r.text, (path, r.text)
    assert job_count(store) == before_jobs
    assert accounts.authenticate(keys["alice"]).credits == before_credits
    # The account's list still works (it was a 500 for good once such a job existed).
    r = httpx.get(server.base_url + OPENAI, headers=headers(keys))
    assert r.status_code == 200, r.text


def test_control_characters_and_invalid_utf8_in_multipart_are_refused(srv):
    server, keys, _, store = srv
    before = job_count(store)
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys), files={"prompt": (None, "a cat\x00")})
    assert r.status_code == 400 and "control character" in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "prompt"
    # The UTF-8 encoding of a lone surrogate is not UTF-8; Starlette falls back to latin-1 for it.
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys), files={"prompt": (None, b"a cat \xed\xa0\x80")})
    assert r.status_code == 400, r.text
    # Newlines and tabs are text.
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys), json={"prompt": "a cat\n\tjumps"})
    assert r.status_code == 200, r.text
    assert job_count(store) == before + 1


def test_depth_1000_json_is_a_400_on_every_json_create(srv):
    server, keys, _, store = srv
    before = job_count(store)
    deep = "[" * 1000 + "]" * 1000
    for name, (path, body, field) in CREATES.items():
        raw = json.dumps(body)[:-1] + f', "deep": {deep}}}'
        r = post_raw(server, keys, path, raw)
        assert r.status_code == 400, (name, r.status_code, r.text[:300])
        assert "nests deeper" in r.text and "Traceback" not in r.text
        # Depth 40, well under the parser's limit, is refused by our own bound (Syllaby's envelope
        # for a named field is its 422).
        r = post_raw(server, keys, path, json.dumps(body)[:-1] + ', "deep": ' + "[" * 40 + "]" * 40 + "}")
        assert r.status_code in (400, 422) and "nests deeper than 32" in r.text, (name, r.text[:300])
    assert job_count(store) == before


def test_a_10_mb_value_gets_a_short_error(srv):
    server, keys, _, _ = srv
    huge = "x" * (10 * 1024 * 1024)
    for path, body in ((OPENAI, {"prompt": "a cat", "size": huge}),
                       (CREATES["syllaby"][0], {**CREATES["syllaby"][1], "model": huge}),
                       (CREATES["vyro"][0], {"prompt": "a cat", "style": huge})):
        r = post_raw(server, keys, path, json.dumps(body))
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert len(r.content) < 4096, (path, len(r.content))


def test_decoder_errors_do_not_leak_heap_addresses(srv):
    server, keys, _, _ = srv
    broken = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20).decode()
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys),
                   json={"prompt": "a cat", "input_reference": {"image_url": broken}})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "input_reference" in message and " at 0x" not in message and "object at" not in message


def test_describe_is_never_empty_and_shown_is_short():
    assert describe(ValueError()) == "ValueError"
    assert describe(OSError("cannot identify image file <_io.BytesIO object at 0x7f3a2c>")) == \
        "OSError: cannot identify image file <_io.BytesIO object>"
    text = shown("y" * 10_000)
    assert len(text) < 120 and text.endswith("(10000 characters)")


def test_unsupported_content_type_is_415_and_a_405_is_a_client_error(srv):
    server, keys, _, _ = srv
    r = post_raw(server, keys, OPENAI, "prompt=a cat", content_type="text/plain")
    assert r.status_code == 415 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.put(server.base_url + OPENAI, headers=headers(keys), json={"prompt": "a cat"})
    assert r.status_code == 405
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["code"] == "method_not_allowed"


def test_strict_numbers_booleans_and_finite_floats(srv):
    server, keys, _, store = srv
    before = job_count(store)
    for body, param in (({"prompt": "a cat", "num_inference_steps": True}, "num_inference_steps"),
                        ({"prompt": "a cat", "seed": False}, "seed"),
                        ({"prompt": "a cat", "options": {"x": True}}, "options")):
        r = httpx.post(server.base_url + OPENAI, headers=headers(keys), json=body)
        assert r.status_code == 400 and r.json()["error"]["param"].startswith(param), r.text
    # NaN and Infinity: as JSON literals (Python's json module writes and reads them) and as multipart text.
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = '{"prompt": "a cat", "model": "animatediff-v1-5-2", "loras": [{"name": "x", "strength": %s}]}' % literal
        r = post_raw(server, keys, OPENAI, raw)
        assert r.status_code == 400 and literal in r.json()["error"]["message"], r.text
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys),
                   files={"prompt": (None, "a cat"), "guidance_scale": (None, "nan")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "guidance_scale", r.text
    r = httpx.post(server.base_url + CREATES["novita"][0], headers=headers(keys),
                   json={**CREATES["novita"][1], "steps": True})
    assert r.status_code == 400 and "steps" in r.text, r.text
    assert job_count(store) == before


def test_the_declared_charset_is_honoured(srv):
    server, keys, _, store = srv
    body = json.dumps({"prompt": "un chat é"}, ensure_ascii=False)
    r = post_raw(server, keys, OPENAI, body.encode("utf-16"), "application/json; charset=utf-16")
    assert r.status_code == 200 and r.json()["prompt"] == "un chat é", r.text
    # UTF-8 bytes declared as UTF-16 are not read as UTF-8.
    r = post_raw(server, keys, OPENAI, body.encode("utf-8"), "application/json; charset=utf-16")
    assert r.status_code == 400 or r.json()["prompt"] != "un chat é"
    r = post_raw(server, keys, OPENAI, body.encode("utf-8"), "application/json; charset=klingon")
    assert r.status_code == 415 and "klingon" in r.text
    # A codec Python knows that is not a text encoding is no charset either.
    r = post_raw(server, keys, OPENAI, body.encode("utf-8"), "application/json; charset=rot13")
    assert r.status_code == 415 and "rot13" in r.text
    r = post_raw(server, keys, OPENAI, b"prompt=a+cat", "application/x-www-form-urlencoded; charset=latin-1")
    assert r.status_code == 415 and "latin-1" in r.text


def test_malformed_creates_do_not_use_up_the_rate_limit(srv):
    server, keys, _, _ = srv
    fresh_window(server.base_url, keys["strict"], min_left=30)
    for _ in range(30):
        r = httpx.post(server.base_url + OPENAI, headers=headers(keys, "strict"), json={"prompt": ""})
        assert r.status_code == 400
    assert r.headers["X-RateLimit-Remaining"] == "3"
    for remaining in ("2", "1", "0"):
        r = httpx.post(server.base_url + OPENAI, headers=headers(keys, "strict"), json={"prompt": "a cat"})
        assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == remaining, r.text
    r = httpx.post(server.base_url + OPENAI, headers=headers(keys, "strict"), json={"prompt": "a cat"})
    assert r.status_code == 429


def test_the_price_follows_frames_and_pixels_and_equals_the_charge(srv):
    server, keys, accounts, _ = srv

    def charged(body) -> int:
        before = accounts.authenticate(keys["alice"]).credits
        r = httpx.post(server.base_url + OPENAI, headers=headers(keys), json={"prompt": "a cat", **body})
        assert r.status_code == 200, r.text
        return before - accounts.authenticate(keys["alice"]).credits

    small = charged({"size": "256x256", "seconds": "4"})  # 32 frames at 8 fps
    large = charged({"size": "1792x1024", "seconds": "12", "fps": 30})  # 360 frames
    default = charged({})  # 4 s of 720x1280 at the native 8 fps: the old 1 credit per second
    assert (small, default) == (1, 4)
    # 360 frames of 1792x1024 are ~315x the pixel-frames of 32 of 256x256; the price follows.
    assert large == 90 and large / small >= 45


def test_database_and_secrets_are_private(srv):
    server, _, _, _ = srv
    files = [server.data_dir / n for n in ("reelforge.db", "reelforge.db-wal", "url-signing.key")]
    for f in files:
        if f.exists():
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    assert (server.data_dir / "reelforge.db").exists()


def test_readyz_tells_strangers_only_ready(srv):
    server, keys, _, _ = srv
    assert httpx.get(server.base_url + "/readyz").json() == {"status": "ready"}
    body = httpx.get(server.base_url + "/readyz", headers=headers(keys)).json()
    assert body["status"] == "ready" and "queued" in body["jobs"]
