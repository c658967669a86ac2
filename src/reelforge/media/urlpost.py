"""POSTing to user-supplied URLs (webhook receivers) under the same SSRF rules as fetching.

The URL is checked again at every delivery, not only when it was registered: a name that
resolved to a public address then may resolve to 127.0.0.1 now (DNS rebinding). The check
resolves the name, and the POST connects to the address that passed, so a third answer cannot
move it either (``urlfetch`` explains the pinning). Redirects are never followed: Standard
Webhooks counts a 3xx as a failed delivery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from reelforge.errors import describe
from reelforge.media.urlfetch import CONNECT_TIMEOUT, _Target, _validate

SCHEMES = ("https", "http")


@dataclass(frozen=True)
class PostResult:
    status_code: int | None  # None: no HTTP answer (refused, unreachable, timed out)
    retry_after: float | None  # seconds, from a Retry-After header
    error: str | None  # why it was not a 2xx, in words


def check_receiver(url: str, *, param: str, allow_hosts: frozenset[str] = frozenset()) -> None:
    """Raise UnsafeURL / InvalidRequest / FetchFailed if ``url`` may not receive webhooks (DNS, no HTTP)."""
    _validate(url, param, param, SCHEMES, allow_hosts)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_hosts: frozenset[str] = frozenset()) -> PostResult:
    """POST ``body`` to ``url`` once; never raises for a refused URL or a network failure: the
    result says what happened, so the caller records it as an attempt."""
    try:
        target = _validate(url, "the webhook URL", "url", SCHEMES, allow_hosts)
    except Exception as exc:  # refused by the SSRF rules now, or unresolvable: a failed attempt
        return PostResult(None, None, f"refused: {describe(exc)}")
    return _post_pinned(target, body, headers, timeout=timeout)


def _post_pinned(target: _Target, body: bytes, headers: dict[str, str], *, timeout: float) -> PostResult:
    """POST to the addresses ``target`` was validated with, in turn, never resolving its name again."""
    deadline = time.monotonic() + timeout
    last_error = "no address to connect to"
    for ip in target.ips:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        limits = httpx.Timeout(left, connect=min(CONNECT_TIMEOUT, left))
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=limits) as client:
            request = client.build_request(
                "POST", target.url.copy_with(host=str(ip)), content=body,
                headers={**headers, "Host": target.host_header, "Content-Type": "application/json",
                         "User-Agent": "reelforge-webhooks"},
                extensions={"sni_hostname": target.host},
            )
            try:
                # Only the status and headers matter: the body is never read, so a receiver cannot
                # make us hold a large or endless answer in memory.
                response = client.send(request, stream=True)
                response.close()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # the next address may answer
                last_error = f"could not connect to {target.host} ({describe(exc)})"
                continue
            except httpx.TimeoutException:
                return PostResult(None, None, f"timed out after {timeout:g} s")
            except httpx.HTTPError as exc:
                return PostResult(None, None, describe(exc))
            status = response.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
            if 300 <= status < 400:
                error = f"HTTP {status} redirect (not followed: a webhook must answer 2xx itself)"
            return PostResult(status, _retry_after(response.headers.get("retry-after")), error)
    return PostResult(None, None, last_error)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form too."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
