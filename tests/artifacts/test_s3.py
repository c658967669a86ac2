"""What only the S3 backend does: the object layout, streaming by ranged GETs, pagination, and the
clear errors of a misconfigured bucket. Its shared behaviour is in test_store.py; the server is a
real SeaweedFS (tests/s3server.py)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from reelforge.artifacts import (
    ArtifactChanged,
    ArtifactStoreUnavailable,
    open_artifacts,
)
from reelforge.artifacts.s3 import S3Artifacts, parse_location
from reelforge.settings import Settings
from tests.artifacts.conftest import BUCKET, objects_under, s3_store
from tests.live import free_port

KEY = "jobs/job_123/a1/video.mp4"


def test_objects_live_at_prefix_slash_key(s3_server, s3):
    s3.put_bytes(KEY, b"mp4")
    listed = s3_server.client().list_objects_v2(Bucket=s3.bucket, Prefix=s3.prefix)["Contents"]
    assert [o["Key"] for o in listed] == [s3.prefix + KEY]
    assert s3.prefix.endswith("/artifacts/")
    assert s3.local_path(KEY) is None  # no file here: the API streams the object


def test_prefixes_in_one_bucket_are_separate_stores(s3_server, s3_bucket, s3):
    other = s3_store(s3_server, s3_bucket, s3.prefix + "nested")  # even one inside the other
    s3.put_bytes("jobs/a/video.mp4", b"outer")
    other.put_bytes("jobs/a/video.mp4", b"inner")
    assert s3.get_bytes("jobs/a/video.mp4") == b"outer" and other.get_bytes("jobs/a/video.mp4") == b"inner"
    assert other.delete_prefix("jobs") == 1
    assert s3.get_bytes("jobs/a/video.mp4") == b"outer"


def test_a_store_at_the_bucket_root(s3_server):
    store = s3_store(s3_server, s3_server.create_bucket("artifacts-root"), "")
    store.put_bytes(KEY, b"x")
    assert s3_server.client().get_object(Bucket="artifacts-root", Key=KEY)["Body"].read() == b"x"
    assert store.delete_prefix("jobs") == 1


def test_iter_range_refuses_to_splice_a_replaced_object(s3):
    s3.put_bytes(KEY, b"A" * 1000)
    chunks = s3.iter_range(KEY, 0, 999, chunk=100)
    assert next(chunks) == b"A" * 100
    s3.put_bytes(KEY, b"B" * 1000)  # same length: only the version tells them apart
    with pytest.raises(ArtifactChanged):
        b"".join(chunks)
    assert b"".join(s3.iter_range(KEY, 0, 999, chunk=100)) == b"B" * 1000


def test_put_file_of_several_parts(s3, tmp_path):
    # Past boto3's multipart threshold (8 MiB): uploaded in parts, readable as one object.
    data = os.urandom(9 * 1024 * 1024)
    source = tmp_path / "big.mp4"
    source.write_bytes(data)
    s3.put_file(KEY, source)
    assert not source.exists()
    assert s3.size(KEY) == len(data)
    assert b"".join(s3.iter_range(KEY, 0, len(data))) == data


def test_delete_prefix_pages_past_a_thousand_keys(s3_server, s3):
    # One listing page and one DeleteObjects request both stop at 1000 keys.
    keys = [f"jobs/many/{i:05d}.png" for i in range(1001)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_bytes(k, b"x"), keys))
    s3.put_bytes("jobs/other/video.mp4", b"keep")
    assert s3.delete_prefix("jobs/many") == 1001
    assert objects_under(s3_server, s3) == ["jobs/other/video.mp4"]


def test_parse_location():
    assert parse_location("s3://bucket") == ("bucket", "")
    assert parse_location("s3://my.bucket-1/some/prefix/") == ("my.bucket-1", "some/prefix")
    for bad in ["s3://", "s3://Bucket/x", "s3://ab", "s3://user:pw@bucket/x", "s3://bucket:9000/x",
                "s3://bucket/a/../b", "s3://bucket/a//b", "s3://bucket/x?versionId=1", "s3://bucket/.hidden"]:
        with pytest.raises(ValueError, match="artifact location"):
            parse_location(bad)


def s3_settings(s3_server, artifacts: str, **overrides) -> Settings:
    return Settings(overrides={"artifacts": artifacts, "s3_endpoint_url": s3_server.endpoint,
                               "s3_region": "us-east-1", "s3_access_key_id": s3_server.access_key,
                               "s3_secret_access_key": s3_server.secret_key, **overrides}, environ={})


def test_open_artifacts_from_settings(s3_server, s3_bucket, tmp_path):
    settings = s3_settings(s3_server, f"s3://{s3_bucket}/from-settings", data_dir=str(tmp_path))
    assert settings.artifacts_location == f"s3://{s3_bucket}/from-settings"
    with pytest.raises(ValueError, match="a URL, not a folder"):
        _ = settings.artifacts_path
    store = open_artifacts(settings)
    assert isinstance(store, S3Artifacts) and (store.bucket, store.prefix) == (s3_bucket, "from-settings/")
    store.put_bytes(KEY, b"via settings")
    assert s3_store(s3_server, s3_bucket, "from-settings").get_bytes(KEY) == b"via settings"
    assert not (tmp_path / "s3:").exists()  # what the location used to become


def test_settings_come_from_the_environment(s3_server, s3_bucket):
    env = {"REELFORGE_ARTIFACTS": f"s3://{s3_bucket}/env", "REELFORGE_S3_ENDPOINT_URL": s3_server.endpoint + "/",
           "REELFORGE_S3_ACCESS_KEY_ID": s3_server.access_key, "REELFORGE_S3_SECRET_ACCESS_KEY": s3_server.secret_key}
    store = open_artifacts(Settings(environ=env))
    assert store.endpoint == s3_server.endpoint
    store.put_bytes(KEY, b"env")
    with pytest.raises(ValueError, match="REELFORGE_S3_ENDPOINT_URL"):
        Settings(environ={"REELFORGE_S3_ENDPOINT_URL": "127.0.0.1:8333"})


def test_a_missing_bucket_is_named_at_open(s3_server):
    with pytest.raises(ArtifactStoreUnavailable) as info:
        open_artifacts(s3_settings(s3_server, "s3://no-such-bucket/x"))
    assert "'no-such-bucket'" in str(info.value) and s3_server.endpoint in str(info.value)
    assert "does not exist" in str(info.value)


def test_wrong_credentials_are_refused_at_open(s3_server):
    with pytest.raises(ArtifactStoreUnavailable, match="access denied") as info:
        open_artifacts(s3_settings(s3_server, f"s3://{BUCKET}", s3_secret_access_key="wrong" * 8))
    assert "wrong" not in str(info.value)  # the secret is never echoed
    with pytest.raises(ValueError, match="both"):
        open_artifacts(s3_settings(s3_server, f"s3://{BUCKET}", s3_secret_access_key=""))


def test_an_unreachable_endpoint_is_named_at_open(s3_server):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ArtifactStoreUnavailable) as info:
        open_artifacts(s3_settings(s3_server, f"s3://{BUCKET}", s3_endpoint_url=endpoint))
    assert f"'{BUCKET}'" in str(info.value) and endpoint in str(info.value)
