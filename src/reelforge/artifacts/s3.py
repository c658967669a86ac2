"""Artifacts in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, ...): one object per key, at ``<prefix>/<key>``.

The semantics are those of ``base``; where S3 differs from a local folder:

- ``local_path`` is None, so the API streams objects through itself.
- A PUT is atomic on S3 already: there are no temp objects to clean up.
- ``iter_range`` makes one ranged GET per chunk and reads it whole, so a slow
  HTTP client holds no S3 connection between chunks and memory stays at one
  chunk. Every GET after the first carries ``If-Match`` with the first one's
  ETag: when the object is replaced mid-stream the reader gets ``ArtifactChanged``,
  never a mix of two versions (S3 cannot pin a version without bucket versioning).

This module imports boto3 at the top; ``open_artifacts`` imports this module only
for an ``s3://`` location, so an API on a local folder never loads boto3.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reelforge.artifacts.base import (
    ArtifactChanged,
    ArtifactMissing,
    ArtifactStore,
    ArtifactStoreUnavailable,
    check_order,
    validate_key,
    validate_prefix,
)

# S3's bucket naming rules (3-63 characters, lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# A HEAD has no body, so a missing key comes back as a bare "404".
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
# The most keys one DeleteObjects request may name.
_DELETE_BATCH = 1000

# boto3's own default: below it upload_file would send one PUT anyway.
MULTIPART_THRESHOLD = 8 * 1024 * 1024


def parse_location(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; the prefix may be empty."""
    parts = urlsplit(location)
    if parts.scheme.lower() != "s3" or parts.query or parts.fragment:
        raise ValueError(f"artifact location {location!r}: expected s3://BUCKET or s3://BUCKET/PREFIX")
    if not _BUCKET.fullmatch(parts.netloc):
        raise ValueError(
            f"artifact location {location!r}: {parts.netloc!r} is not an S3 bucket name "
            "(3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit)"
        )
    prefix = parts.path.strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except ValueError:
            raise ValueError(
                f"artifact location {location!r}: the prefix {prefix!r} must be segments of A-Z a-z 0-9 . _ - "
                "joined by '/', none starting with '.'"
            ) from None
    return parts.netloc, prefix


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Artifacts(ArtifactStore):
    """The bucket is checked when the store is opened, so a misconfiguration fails at startup, by name.

    Empty ``endpoint_url``, ``region`` or credentials mean boto3's own defaults
    (AWS_* environment variables, ~/.aws files, an instance role).
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str = "", region: str = "",
                 access_key_id: str = "", secret_access_key: str = ""):
        if bool(access_key_id) != bool(secret_access_key):
            raise ValueError("S3 credentials: give both the access key id and the secret access key, or neither")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = validate_key(prefix) + "/" if prefix else ""
        self.endpoint = endpoint_url or "AWS's default endpoint"
        config = Config(
            # SeaweedFS, MinIO and endpoints given by IP serve buckets under the path, not as subdomains.
            s3={"addressing_style": "path"} if endpoint_url else {},
            connect_timeout=10,
            retries={"mode": "standard"},
            # Each streamed download holds a connection per chunk; allow as many as Starlette's threadpool runs.
            max_pool_connections=40,
        )
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None, config=config,
        )
        self._check_bucket()

    def __repr__(self) -> str:
        return f"S3Artifacts('s3://{self.bucket}/{self.prefix}', endpoint={self.endpoint!r})"

    def _where(self) -> str:
        return f"S3 bucket '{self.bucket}' at {self.endpoint}"

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise ArtifactStoreUnavailable(f"{self._where()} does not exist; create it first") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise ArtifactStoreUnavailable(
                    f"{self._where()}: access denied; check the access key id and secret access key") from None
            raise ArtifactStoreUnavailable(f"{self._where()}: {exc}") from None
        except BotoCoreError as exc:  # unreachable endpoint, no credentials anywhere, ...
            raise ArtifactStoreUnavailable(f"{self._where()}: {exc}") from None

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """S3's error codes as the interface's exceptions; anything else propagates as boto3 raised it."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING:
                raise ArtifactMissing(key) from None
            if code == "NoSuchBucket":
                raise ArtifactStoreUnavailable(f"{self._where()} does not exist any more") from None
            if code == "InvalidRange":
                raise ValueError(f"range start is past the end of '{key}'") from None
            if code == "PreconditionFailed":
                raise ArtifactChanged(key) from None
            raise

    def _get_range(self, key: str, start: int, end_inclusive: int, **extra: Any) -> Mapping[str, Any]:
        with self._errors(key):
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key),
                                           Range=f"bytes={start}-{end_inclusive}", **extra)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"put_file: {source} is not a file")
        if source.stat().st_size < MULTIPART_THRESHOLD:
            # One PUT: upload_file would build a transfer manager and its thread pool for each file.
            with self._errors(key), open(source, "rb") as body:
                self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        else:
            # upload_file sends large files in parallel parts; the object appears only when all are in.
            self._client.upload_file(str(source), self.bucket, self._key(key))
        source.unlink()

    def get_bytes(self, key: str) -> bytes:
        with self._errors(key):
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def size(self, key: str) -> int:
        with self._errors(key):
            return self._client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        check_order(key, start, end_inclusive)
        response = self._get_range(key, start, end_inclusive)
        with self._errors(key):
            return response["Body"].read()

    def iter_range(
        self, key: str, start: int, end_inclusive: int, chunk: int = 256 * 1024
    ) -> Iterator[bytes]:
        if chunk < 1:
            raise ValueError("chunk must be positive")
        check_order(key, start, end_inclusive)
        # The first chunk is fetched now, not on the first next(): a missing key or a range past the end
        # raises before the caller commits to a response, and it tells us the size and the version.
        response = self._get_range(key, start, min(end_inclusive, start + chunk - 1))
        first = response["Body"].read()
        size = int(response["ContentRange"].rsplit("/", 1)[1])  # "bytes 0-99/1234"
        end = min(end_inclusive, size - 1)
        return self._chunks(key, first, response["ETag"], start + len(first), end, chunk)

    def _chunks(self, key: str, first: bytes, etag: str, pos: int, end: int, chunk: int) -> Iterator[bytes]:
        yield first
        while pos <= end:
            response = self._get_range(key, pos, min(end, pos + chunk - 1), IfMatch=etag)
            with self._errors(key):
                data = response["Body"].read()
            if not data:
                return  # nothing more came back; stop rather than spin
            pos += len(data)
            yield data

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ArtifactMissing:
            return False
        return True

    def delete(self, key: str) -> bool:
        # S3 answers a DELETE of a missing key with success, so ask first; a race with another
        # deleter can only make both say True, never lose an object.
        existed = self.exists(key)
        if existed:
            with self._errors(key):
                self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return existed

    def delete_prefix(self, prefix: str) -> int:
        folder = self.prefix + validate_prefix(prefix)
        # List everything first, then delete: pages are never read from a listing we are changing.
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = keys[i:i + _DELETE_BATCH]
            result = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = result.get("Errors", [])
            if errors:
                first = errors[0]
                raise OSError(f"{self._where()}: {len(errors)} objects under '{folder}' were not deleted, e.g. "
                              f"'{first.get('Key')}': {first.get('Code')} {first.get('Message')}")
        return len(keys)

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None
