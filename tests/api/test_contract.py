"""The OpenAPI document is a contract (issue 10, Build 9): every operation declares its body, its
responses with real schemas and each dialect's error envelope, and its security; /docs works offline."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.live import LiveServer

CREATES = {("post", "/v1/videos"), ("post", "/v1/videos/{video_id}/remix"), ("post", "/v1/videos/edits"),
           ("post", "/v1/videos/extensions"), ("post", "/v2/video/text-to-video"),
           ("post", "/v1/svd"), ("post", "/v2/svd"), ("post", "/text-to-video"), ("post", "/v3/async/txt2video"),
           ("post", "/v2/video/generations"), ("post", "/v2/generate/video/pixverse/generation")}
# Not creates (no job, so no 409 for a replayed Idempotency-Key), but they take JSON bodies too.
WEBHOOK_BODIES = {("post", "/v1/webhook_endpoints"), ("post", "/v1/webhook_endpoints/{webhook_endpoint_id}"),
                  ("post", "/v1/webhook_endpoints/{webhook_endpoint_id}/rotate_secret"),
                  ("post", "/v1/webhook_endpoints/{webhook_endpoint_id}/test")}
# Makes a character, not a job: multipart only (a name and a clip).
CHARACTER_BODIES = {("post", "/v1/videos/characters")}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("contract"), workers=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def doc(live):
    return httpx.get(live.base_url + "/openapi.json").json()


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method, path, op


def test_every_create_declares_its_body(doc):
    bodies = {(m, p): op["requestBody"]["content"] for m, p, op in operations(doc) if "requestBody" in op}
    assert set(bodies) == CREATES | WEBHOOK_BODIES | CHARACTER_BODIES
    for route in (("post", "/v1/videos/edits"), ("post", "/v1/videos/extensions")):
        assert set(bodies[route]) == {"application/json", "multipart/form-data"}, route
    assert set(bodies[("post", "/v1/videos/characters")]) == {"multipart/form-data"}
    assert set(bodies[("post", "/v1/videos")]) == {"application/json", "multipart/form-data"}
    form = bodies[("post", "/v1/videos")]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert doc["components"]["schemas"][form]["properties"]["input_reference"]["anyOf"][0]["format"] == "binary"


def test_every_response_has_a_schema_and_errors_use_the_dialects_envelope(doc):
    envelopes = {"/v1/videos": "ErrorEnvelope", "/v2/video/text-to-video": "vyro_schemas__Error",
                 "/v2/svd": "segmind_schemas__Error", "/text-to-video": "syllaby_schemas__Error",
                 "/v3/async/txt2video": "novita_schemas__Error", "/v2/video/generations": "aimlapi_schemas__Error"}
    for method, path, op in operations(doc):
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes) and {"500"} <= codes, (method, path, codes)
        if (method, path) in CREATES:
            assert {"400", "409", "413", "415", "422", "429"} <= codes, (method, path, codes)
        for code, response in op["responses"].items():
            for media, content in response["content"].items():
                assert content["schema"] not in ({}, None), (method, path, code, media)
        if path in envelopes:
            assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(envelopes[path])


def test_security_is_declared(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["x-api-key"]["name"] == "x-api-key"
    security = {(m, p): op.get("security") for m, p, op in operations(doc)}
    assert security[("post", "/v2/svd")] == [{"x-api-key": []}]
    assert security[("get", "/v1/videos")] == [{"bearer": []}]
    assert security[("get", "/files/{job_id}/{variant}")] is None  # the signature is the capability


def test_docs_load_nothing_from_a_cdn(live):
    page = httpx.get(live.base_url + "/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        assert httpx.get(live.base_url + url).status_code == 200, url


def test_405_lists_every_method_of_the_path(live):
    r = httpx.request("PUT", live.base_url + "/v1/videos")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"


def test_the_browser_guards_refusals_are_declared_everywhere(doc):
    for method, path, op in operations(doc):
        if path == "/healthz":
            continue
        assert "421" in op["responses"], (method, path)
        assert ("403" in op["responses"]) == (method in ("post", "put", "patch", "delete")), (method, path)
