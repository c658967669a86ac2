"""A small client of a running reelforge server, through its public OpenAI-dialect API only.

`reelforge jobs` and `reelforge generate --server` use it. It knows HTTP and the wire shapes and
nothing of the store, the service or the engine, so the CLI process that runs it never loads torch.
Failures come out as two typed errors: ``ServerError`` for an answer in the server's error envelope
(or any other non-2xx answer), ``Unreachable`` when no answer came at all.
"""

from __future__ import annotations

import json
import mimetypes
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import __version__

TERMINAL = ("completed", "failed")
# Longer than the server's keep-alive interval (sse_keepalive, 15 s by default): a stream that stays
# silent past this is dead, and the watcher goes on by polling.
STREAM_READ_TIMEOUT = 60.0


class RemoteError(Exception):
    """A request to the server did not succeed."""


class ServerError(RemoteError):
    """The server answered with an error: its message, as its OpenAI envelope words it."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


class Unreachable(RemoteError):
    """No answer: nothing listens at the URL, the name does not resolve, or the server timed out."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot reach the reelforge server at {url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """One observation of a video, from a stream event or a poll: the fields both carry."""

    status: str
    progress: int
    eta_seconds: int | None
    error: dict[str, Any] | None
    video: dict[str, Any] | None  # the whole Video: every poll, and a stream's terminal event

    @classmethod
    def of(cls, data: dict[str, Any], video: dict[str, Any] | None) -> "Snapshot":
        return cls(data["status"], data.get("progress") or 0, data.get("eta_seconds"), data.get("error"), video)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def state(self) -> str:
        return state_of({"status": self.status, "error": self.error})


def state_of(video: dict[str, Any]) -> str:
    """A video's status as a person reads it: the API shows a cancelled video as failed with code ``cancelled``."""
    cancelled = video["status"] == "failed" and (video.get("error") or {}).get("code") == "cancelled"
    return "cancelled" if cancelled else video["status"]


class Remote:
    """The server at ``base_url`` (``http://host:port``), as the account of ``api_key``
    (none for a local server in open mode)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"reelforge-cli/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- requests ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, _reason(exc)) from None
        _raise_for_error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _body(self._send(method, path, **kwargs))

    def list(self, *, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "order": "desc"}
        if after:
            params["after"] = after
        return self._json("GET", "/v1/videos", params=params)

    def get(self, video_id: str) -> dict[str, Any]:
        return self._poll(video_id)[0]

    def _poll(self, video_id: str) -> tuple[dict[str, Any], float]:
        """The video and how long the server asks us to wait before the next poll, in seconds."""
        response = self._send("GET", f"/v1/videos/{video_id}")
        hint = response.headers.get("openai-poll-after-ms", "")
        return _body(response), int(hint) / 1000 if hint.isdigit() else 1.0

    def create(self, fields: dict[str, Any], image: Path | None = None) -> dict[str, Any]:
        """POST /v1/videos: JSON, or multipart with the image as ``input_reference`` (as the SDK sends it)."""
        fields = {k: v for k, v in fields.items() if v is not None}
        if image is None:
            return self._json("POST", "/v1/videos", json=fields)
        media_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        files = {"input_reference": (image.name, image.read_bytes(), media_type)}
        return self._json("POST", "/v1/videos", data={k: str(v) for k, v in fields.items()}, files=files)

    def cancel(self, video_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/videos/{video_id}/cancel")

    def delete(self, video_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/v1/videos/{video_id}")

    def model(self, model_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/models/{model_id}")

    def download(self, video_id: str, dest: Path, *, variant: str = "video") -> int:
        """Write an artifact to ``dest`` atomically: into a hidden file beside it, renamed over it
        once whole, so a failed or interrupted download never leaves a truncated file at ``dest``.
        Returns the number of bytes written."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        try:
            with self._http.stream("GET", f"/v1/videos/{video_id}/content", params={"variant": variant}) as response:
                if not response.is_success:
                    response.read()
                    _raise_for_error(response)
                # os.open's mode passes through the umask: the file gets the permissions a plain write would.
                with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
                    for chunk in response.iter_bytes():
                        f.write(chunk)
                    size = f.tell()
            os.replace(part, dest)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, _reason(exc)) from None
        finally:
            part.unlink(missing_ok=True)
        return size

    # --- following a video -------------------------------------------------------------------

    def follow(self, video_id: str) -> Iterator[Snapshot]:
        """Snapshots of a video until it is completed or failed: the current state, then live from
        its event stream (GET /v1/videos/{id}/events). Where the stream cannot be had (a proxy that
        refuses or buffers it, an older server) or it ends early, by polls at the pace the server's
        ``openai-poll-after-ms`` asks for."""
        video, wait = self._poll(video_id)
        snap = Snapshot.of(video, video)
        yield snap
        if snap.terminal:
            return
        try:
            for data in self._events(video_id):
                snap = Snapshot.of(data, data.get("video"))
                yield snap
                if snap.terminal:
                    return
        except (httpx.TransportError, _NoStream, ValueError):
            pass  # a stream we cannot read is not fatal; the polls below report an unreachable server
        while True:
            time.sleep(wait)
            video, wait = self._poll(video_id)
            snap = Snapshot.of(video, video)
            yield snap
            if snap.terminal:
                return

    def _events(self, video_id: str) -> Iterator[dict[str, Any]]:
        """The ``data`` of each server-sent event, parsed (comments and keep-alives skipped)."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        with self._http.stream("GET", f"/v1/videos/{video_id}/events", timeout=timeout,
                               headers={"Accept": "text/event-stream"}) as response:
            if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
                    "text/event-stream"):
                raise _NoStream
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:  # a blank line ends an event
                    yield json.loads("\n".join(data))
                    data = []


class _NoStream(Exception):
    """The events URL answered, but not with an event stream."""


def _raise_for_error(response: httpx.Response) -> None:
    # Redirects are not followed: a 3xx is reported with its Location, for the user to point --server there.
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        message, code, param = error["message"], error.get("code"), error.get("param")
    except (ValueError, KeyError, TypeError):
        # Not our envelope: a proxy's page, or another service on the port.
        text = " ".join(response.text.split())[:300]
        where = response.headers.get("location")
        message = f"HTTP {response.status_code} {response.reason_phrase}" + (f" (to {where})" if where else "") + (
            f": {text}" if text else "")
        code = param = None
    raise ServerError(response.status_code, message, code=code, param=param)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise ServerError(response.status_code, f"{response.request.url} answered {kind}, not JSON: is it a reelforge "
                          "server?") from None


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    return str(exc) or type(exc).__name__
