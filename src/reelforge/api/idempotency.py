"""The Idempotency-Key header on create endpoints (IETF draft semantics, API-COMPAT.md §8.1).

The key is scoped to the account and the route; the payload's fingerprint makes a reused key with
a different request an error instead of a silent replay. Multipart boundaries differ between
retries, so the fingerprint is taken from the parsed fields (files by their SHA-256), not the bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from ..errors import InvalidRequest
from ..service.videos import Idempotency

HEADER = "idempotency-key"
MAX_KEY = 255


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadFile):
        data = value.file.read()
        value.file.seek(0)
        return {"file_sha256": hashlib.sha256(data).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def fingerprint(payload: Any) -> str:
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency(request: Request, route: str, payload: Any) -> Idempotency | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # RFC 8941 sf-string; most clients send it bare
        key = key[1:-1]
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise InvalidRequest(f"Invalid Idempotency-Key: it must be 1 to {MAX_KEY} printable ASCII characters.",
                             param="Idempotency-Key")
    return Idempotency(route=route, key=key, fingerprint=fingerprint(payload))


def replay_headers(replayed: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if replayed else {}
