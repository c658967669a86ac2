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
from typing import Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts import LOCAL, Account, RateState
from ..errors import RateLimited, Unauthenticated

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


def _open_mode(request: Request) -> bool:
    """No key was ever created and the server listens on loopback only: one open local account.
    Once a key exists it stays keyed (rows are revoked, never deleted), so that answer is cached."""
    app = request.app
    if getattr(app.state, "keyed", False):
        return False
    if app.state.service.keyed():
        app.state.keyed = True
        return False
    return is_loopback(app.state.settings.host)


def authenticate(request: Request, header: str = BEARER) -> Account:
    if _open_mode(request):
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
    if _open_mode(request):
        return LOCAL
    key = _presented_key(request, BEARER) or _presented_key(request, X_API_KEY)
    return request.app.state.service.authenticate(key) if key else None


def reader(header: str = BEARER) -> Callable[[Request], Account]:
    def dependency(request: Request) -> Account:
        account = authenticate(request, header)
        if account.rate_limit:
            request.state.rate = request.app.state.service.rate(account)
        return account

    return dependency


def creator(header: str = BEARER) -> Callable[[Request], Account]:
    def dependency(request: Request) -> Account:
        account = authenticate(request, header)
        if account.rate_limit:
            state = request.app.state.service.count_request(account)
            request.state.rate = state
            request.state.rate_counted = account  # RateLimitHeaders takes it back if the create is refused
            if state.exceeded:
                raise RateLimited(state.limit, state.window, retry_after=max(1, state.reset_at - int(time.time())))
        return account

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
