"""Signed, expiring artifact URLs: what the vendor dialects return for a finished video.

The vendors hand out plain URLs (Novita ``video_url`` with ``video_url_ttl``, Vyro ``url.generation``,
Syllaby ``asset.url``, AI/ML ``video.url``) that work without an API key, so ours carry an HMAC over
(job, variant, expiry) instead and stop working when they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..errors import LinkExpired, NotFound
from ..service.videos import VARIANTS, VideoService
from ..settings import Settings
from . import contract
from .content import artifact_response
from .deps import service

router = APIRouter(tags=["files"])
PATH = "/files"


def signing_key(settings: Settings) -> bytes:
    """The configured key, or one generated once per data folder (0600, written atomically)."""
    if settings.url_signing_key:
        return settings.url_signing_key.encode()
    path = settings.data_path / "url-signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        # link() fails if another process won the race; then both use the winner's key.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return Path(path).read_text().strip().encode()


def _signature(key: bytes, job_id: str, variant: str, expires: int) -> str:
    mac = hmac.new(key, f"{job_id}/{variant}/{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def public_url(request: Request, path: str) -> str:
    """The absolute URL of ``path`` on this server: every URL we hand out is made here.

    It starts with the configured PUBLIC_URL (or the bind address), never with the request's Host or
    X-Forwarded-* headers: those are the caller's to choose, and a link built from them would send
    the next reader, with its signature, to whatever server the caller named."""
    return request.app.state.settings.public_base + path


def signed_url(request: Request, job_id: str, variant: str = "video", ttl: int | None = None) -> str:
    """An absolute URL on this server for one artifact of ``job_id``, valid for ``ttl`` seconds."""
    state = request.app.state
    return sign_url(state.settings, url_key(state), job_id, variant, ttl)


def sign_url(settings: Settings, key: bytes, job_id: str, variant: str = "video", ttl: int | None = None) -> str:
    """``signed_url`` without a request, for bodies rendered outside one (webhook payloads). The base
    is settings.public_base, as for every URL we hand out (see ``public_url``)."""
    ttl = settings.signed_url_ttl if ttl is None else ttl
    expires = int(time.time()) + ttl
    sig = _signature(key, job_id, variant, expires)
    return settings.public_base + f"{PATH}/{job_id}/{variant}?expires={expires}&signature={sig}"


def url_key(state: Any) -> bytes:
    """The signing key of the app whose ``state`` this is, read once and kept there."""
    if getattr(state, "url_signing_key", None) is None:
        state.url_signing_key = signing_key(state.settings)
    return state.url_signing_key


@router.get(PATH + "/{job_id}/{variant}", summary="Download an artifact through a signed, expiring URL",
            response_class=Response, responses={
                200: contract.binary(("video/mp4", "image/webp", "image/jpeg", "image/gif"), "The artifact"),
                # No security: the signature in the query string is the capability.
                **contract.errors(contract.GenericError, (400, 404, 409, 410, 422, 500))})
def signed_file(request: Request, job_id: str, variant: str, expires: int = 0, signature: str = "",
                svc: VideoService = Depends(service)) -> Response:
    expected = _signature(url_key(request.app.state), job_id, variant, expires)
    # A wrong signature and an unknown file read the same, so links cannot be probed.
    if variant not in VARIANTS or not hmac.compare_digest(expected, signature):
        raise NotFound("No such file, or the link's signature is wrong.")
    if expires < time.time():
        raise LinkExpired("This link has expired; fetch the job again for a fresh one.")
    content = svc.content(job_id, variant, account=None)
    return artifact_response(request, svc, content)
