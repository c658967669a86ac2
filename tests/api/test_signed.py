"""Signed artifact URLs: valid until they expire, useless when tampered with, no API key needed."""

from __future__ import annotations

import stat
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from reelforge.api.app import create_app
from reelforge.api.signed import signed_url, signing_key
from reelforge.service.videos import VideoService
from reelforge.settings import Settings
from reelforge.store import JobStore
from tests.store.test_contract import SPEC


@pytest.fixture
def app_and_job(tmp_path):
    # keyed mode (reads need a key); links start with the public URL, which TestClient answers as
    settings = Settings(overrides={"data_dir": str(tmp_path), "host": "0.0.0.0", "public_url": "http://testserver"})
    store = JobStore(settings.database_url)
    store.migrate()
    app = create_app(service=VideoService.open(settings, store=store))
    job = store.create(SPEC, account="acct_someone")
    store.claim("w", 30)
    artifacts = app.state.service.artifacts
    artifacts.put_bytes(f"jobs/{job.id}/video.mp4", b"\x00\x00\x00\x18ftypisom-movie")
    assert store.complete(job.id, "w", {"artifacts": {"video": f"jobs/{job.id}/video.mp4"}})
    yield app, job
    store.close()


def link(app, job_id, ttl=60, variant="video"):
    class Req:  # signed_url needs only the app (its settings and key), never the request's own URL
        pass

    Req.app = app
    return signed_url(Req, job_id, variant, ttl)


def test_a_signed_link_serves_the_file_without_a_key(app_and_job):
    app, job = app_and_job
    url = link(app, job.id)
    assert url.startswith(f"http://testserver/files/{job.id}/video?expires=")
    with TestClient(app) as client:
        r = client.get(url)
        assert r.status_code == 200 and r.content[4:8] == b"ftyp" and r.headers["content-type"] == "video/mp4"
        assert client.get(f"/v1/videos/video_{job.id}/content").status_code == 401  # the keyed route still needs one


def test_tampered_expired_or_foreign_links_are_refused(app_and_job):
    app, job = app_and_job
    url = link(app, job.id)
    q = parse_qs(urlsplit(url).query)
    with TestClient(app) as client:
        sig, exp = q["signature"][0], int(q["expires"][0])
        assert client.get(f"/files/{job.id}/video?expires={exp + 3600}&signature={sig}").status_code == 404
        assert client.get(f"/files/{job.id}/video?expires={exp}&signature={sig[:-2]}AA").status_code == 404
        assert client.get(f"/files/{job.id}/thumbnail?expires={exp}&signature={sig}").status_code == 404
        expired = link(app, job.id, ttl=-1)
        r = client.get(expired)
        assert r.status_code == 410 and r.json()["error"]["code"] == "link_expired"


def test_the_generated_key_is_private_and_stable(tmp_path):
    settings = Settings(overrides={"data_dir": str(tmp_path)})
    first = signing_key(settings)
    assert signing_key(settings) == first and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "url-signing.key").stat().st_mode) == 0o600
    assert signing_key(Settings(overrides={"data_dir": str(tmp_path), "url_signing_key": "shared"})) == b"shared"
