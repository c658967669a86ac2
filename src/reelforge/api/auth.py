"""Who is calling: API keys, the open local mode, and the per-key rate limit with its headers.

Every route depends on ``reader(...)`` or ``creator(...)`` (creates also count against the rate
limit). The dialect decides where its key travels: ``Authorization: Bearer`` everywhere, Segmind's
``x-api-key``.

Only creates count against the rate limit. Polling cadence is set by each vendor's client code
(the OpenAI SDK polls about once a second), so counting reads at 30/min would break documented
clients; reads still report the window in the headers.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Awaitable, Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts import KEY_PREFIX, LOCAL, Account, RateState
from ..errors import RateLimited, Unauthenticated
from ..service.videos import VideoService

BEARER = "authorization"
X_API_KEY = "x-api-key"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _presented_key(request: Request, header: str) -> str | None:
    if header == X_API_KEY:
        return request.headers.get(X_API_KEY, "").strip() or None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# How long the per-request dependencies (``reader``, ``creator``) go on answering from the last
# "no key exists yet" before they ask the database again: asking costs every request a query, as
# much as the poll itself. The window is safe because the open mode only ever answers on a loopback
# bind: what it lets through in the second after `reelforge keys create` (run in another process,
# so only the database can tell us) is a request without a key from this machine, which the server
# answered a moment before in any case. A request that shows a key of ours always asks, so a new
# key works as its own account at once (its jobs, charges and rate limit are never the open
# account's). Once a key is seen the server stays keyed for good, and ``identify`` (/readyz's
# detail, /metrics: rare requests) asks every time.
KEYLESS_RECHECK_SECONDS = 1.0


class OpenMode:
    """Whether the server answers without keys: no key was ever created and it listens on loopback
    only, for one open local account. One per app (``app.state.open_mode``)."""

    def __init__(self, service: VideoService, host: str):
        self.service = service
        self.loopback = is_loopback(host)  # the bind never changes, so it is parsed once
        self.keyed = False  # for good: rows are revoked, never deleted
        self.keyless_until = 0.0

    def known(self) -> bool | None:
        """The answer from memory, for the per-request dependencies; None where only the database can tell."""
        if self.keyed or not self.loopback:
            return False
        if time.monotonic() < self.keyless_until:
            return True
        return None

    def check(self) -> bool:
        """The answer as the database gives it now; it renews what ``known`` holds. Blocking."""
        if self.keyed or not self.loopback:
            return False
        if self.service.keyed():
            self.keyed = True
            return False
        self.keyless_until = time.monotonic() + KEYLESS_RECHECK_SECONDS
        return True


def authenticate(request: Request, header: str = BEARER) -> Account:
    if request.app.state.open_mode.check():
        return LOCAL
    key = _presented_key(request, header)
    how = "the 'x-api-key' header" if header == X_API_KEY else "'Authorization: Bearer <key>'"
    if key is None:
        raise Unauthenticated(f"Missing API key: send it as {how}. Keys come from `reelforge keys create`.")
    account = request.app.state.service.authenticate(key)
    if account is None:
        raise Unauthenticated(f"Invalid API key '{key[:10]}...': it is unknown or revoked.")
    return account


def identify(request: Request) -> Account | None:
    """The caller's account if it shows a valid key (Bearer or x-api-key) or the server is in open
    local mode; None otherwise. For routes that answer everyone but tell insiders more."""
    if request.app.state.open_mode.check():
        return LOCAL
    key = _presented_key(request, BEARER) or _presented_key(request, X_API_KEY)
    return request.app.state.service.authenticate(key) if key else None


def _open_from_memory(request: Request, header: str) -> bool:
    """True where memory says the open mode answers and the request shows no key of ours, so its
    caller is the open local account without a query. A placeholder key is not ours (the OpenAI SDK
    always sends some key, and open-mode users give it any string)."""
    if not request.app.state.open_mode.known():
        return False
    key = _presented_key(request, header)
    return key is None or not key.startswith(KEY_PREFIX)


# The dependencies are async so that a request in the open mode, answered from memory, costs no
# hop through the thread pool (the route's own hop is then its only one); anything that queries
# the database (a key, a rate window, a stale open-mode answer) runs in one hop from there.
def reader(header: str = BEARER) -> Callable[[Request], Awaitable[Account]]:
    def check(request: Request) -> Account:
        account = authenticate(request, header)
        if account.rate_limit:
            request.state.rate = request.app.state.service.rate(account)
        return account

    async def dependency(request: Request) -> Account:
        if _open_from_memory(request, header):
            return LOCAL  # unlimited: no rate window to read
        return await run_in_threadpool(check, request)

    return dependency


def creator(header: str = BEARER) -> Callable[[Request], Awaitable[Account]]:
    def check(request: Request) -> Account:
        account = authenticate(request, header)
        if account.rate_limit:
            state = request.app.state.service.count_request(account)
            request.state.rate = state
            request.state.rate_counted = account  # RateLimitHeaders takes it back if the create is refused
            if state.exceeded:
                raise RateLimited(state.limit, state.window, retry_after=max(1, state.reset_at - int(time.time())))
        return account

    async def dependency(request: Request) -> Account:
        if _open_from_memory(request, header):
            return LOCAL  # unlimited: nothing to count
        return await run_in_threadpool(check, request)

    return dependency


def rate_headers(state: RateState) -> dict[str, str]:
    reset_in = max(0, state.reset_at - int(time.time()))
    remaining = max(0, state.remaining)
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(state.reset_at),
        # IETF draft-ietf-httpapi-ratelimit-headers.
        "RateLimit-Policy": f'"default";q={state.limit};w={state.window}',
        "RateLimit": f'"default";r={remaining};t={reset_in}',
    }


class RateLimitHeaders:
    """Adds the rate-limit headers to every response of a rate-limited account, errors included
    (the exception handlers run inside this middleware, so a 429 carries them too), and takes back
    the count of a create that was refused before it made anything."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                counted = scope.get("state", {}).get("rate_counted")
                # A create refused with an error made nothing, so it does not use up the limit: otherwise
                # 30 malformed requests would lock a key out for a window. Being rate-limited still counts.
                if counted is not None and scope["state"].get("refused"):
                    service = scope["app"].state.service
                    scope["state"]["rate"] = await run_in_threadpool(service.uncount_request, counted, scope["state"]["rate"])
                state = scope.get("state", {}).get("rate")
                if state is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in rate_headers(state).items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
