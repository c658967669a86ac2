"""The service with its artifacts in S3: `serve --artifacts s3://bucket/prefix` against a real SeaweedFS.

The worker uploads the outputs, the API streams them back through itself (there is no local file),
answering Range requests, for the OpenAI SDK and for a vendor dialect's signed link alike.
"""

from __future__ import annotations

import time

import httpx
import pytest
from openai import OpenAI

from tests.live import LiveServer

PREFIX = "serve/artifacts"
KEY = "sk-s3"  # no key was created: a loopback server is open and any key works


@pytest.fixture(scope="module")
def s3_live(tmp_path_factory, tiny_models_dir, s3_server):
    bucket = s3_server.create_bucket("serve-tests")
    server = LiveServer(
        tmp_path_factory.mktemp("s3serve"), models_dir=tiny_models_dir, workers=1,
        args=("--artifacts", f"s3://{bucket}/{PREFIX}", "--s3-endpoint-url", s3_server.endpoint,
              "--s3-region", "us-east-1", "--s3-access-key-id", s3_server.access_key),
        # The secret travels the way the help text recommends: in the environment, not on the command line.
        env={"REELFORGE_S3_SECRET_ACCESS_KEY": s3_server.secret_key},
    ).start()
    yield server, bucket
    server.stop()


def objects(s3_server, bucket: str, job: str) -> list[str]:
    """The job's objects in the bucket, by full key."""
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/jobs/{job}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_openai_sdk_video_is_stored_in_s3_and_served_with_ranges(s3_live, s3_server):
    server, bucket = s3_live
    client = OpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0)
    video = client.videos.create(prompt="a red ball", size="256x256",
                                 extra_body={"num_frames": 9, "num_inference_steps": 2})
    deadline = time.monotonic() + 120
    while video.status not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        video = client.videos.retrieve(video.id)
    assert video.status == "completed", video.error

    full = client.videos.download_content(video.id).read()
    assert full[4:8] == b"ftyp"
    job = video.id.removeprefix("video_")
    [mp4_key] = [k for k in objects(s3_server, bucket, job) if k.endswith("/video.mp4")]
    assert s3_server.client().get_object(Bucket=bucket, Key=mp4_key)["Body"].read() == full
    assert not (server.data_dir / "artifacts").exists()  # nothing went to a local folder

    url = f"{server.base_url}/v1/videos/{video.id}/content"
    auth = {"Authorization": f"Bearer {KEY}"}
    whole = httpx.get(url, headers=auth)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4" and int(whole.headers["content-length"]) == len(full)
    size = len(full)
    for header, start, end in [("bytes=0-99", 0, 99), (f"bytes={size - 10}-", size - 10, size - 1),
                               ("bytes=-7", size - 7, size - 1), (f"bytes=5-{size + 100}", 5, size - 1)]:
        part = httpx.get(url, headers={**auth, "Range": header})
        assert part.status_code == 206, header
        assert part.content == full[start:end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert int(part.headers["content-length"]) == end - start + 1
    beyond = httpx.get(url, headers={**auth, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    several = httpx.get(url, headers={**auth, "Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and several.content == full

    thumb = client.videos.download_content(video.id, variant="thumbnail").read()
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"

    client.videos.delete(video.id)
    assert objects(s3_server, bucket, job) == []


def test_vyro_signed_link_streams_from_s3(s3_live):
    server, _ = s3_live
    auth = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(server.base_url + "/v2/video/text-to-video", headers=auth,
                         files={"prompt": (None, "a red ball"), "style": (None, "fast-svd")})
    assert created.status_code == 200, created.text
    vid = created.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        video = httpx.get(f"{server.base_url}/v2/assets/{vid}/status", headers=auth).json()["video"]
        if video["status"] != "processing":
            break
        time.sleep(0.3)
    assert video["status"] == "finished", video

    mp4 = httpx.get(video["url"]["generation"])  # no key: the signature is the credential
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4" and mp4.content[4:8] == b"ftyp"
    part = httpx.get(video["url"]["generation"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == mp4.content[:100]
