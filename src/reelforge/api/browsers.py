"""What web pages may do with this server: the Host check, the Origin check and CORS.

A server on loopback without keys (the open local mode) serves whoever can connect, and any web
page the user opens can connect:
- by DNS rebinding: the page's own name starts resolving to 127.0.0.1, so the browser treats our
  answers as same-origin and lets the page read every video. The request still names the page's
  host in ``Host``, so a request for a name we do not answer to is refused (421).
- by a cross-origin form: urlencoded and multipart POSTs need no CORS preflight, so a page could
  create or cancel jobs without ever reading the answer. A state-changing request whose
  ``Origin`` is foreign is refused (403) unless CORS_ORIGINS allows that origin.

When the Host check applies: on a loopback bind always (that covers the open local mode and a
keyed server behind a local reverse proxy, whose name is PUBLIC_URL's host), and on any other
bind only when ALLOWED_HOSTS is set, so a keyed server on 0.0.0.0 stays reachable by whatever LAN
name or address its users type. A keyed server needs no Host check against web pages: a browser
never attaches our bearer key on its own, so a page cannot act as anyone.

Requests without ``Origin`` (SDKs, curl, scripts) are not made by web pages and pass the Origin
check. ``/healthz`` answers any Host, for health probes that address a container by its IP.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import Forbidden, ReelforgeError, UnknownHost
from ..settings import WILDCARD_HOSTS, Settings
from . import errors
from .auth import is_loopback

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/healthz"})
# Response headers a cross-origin page may read: rate limits, retry hints, replays, balances, polling.
EXPOSED_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit",
                   "Retry-After", "retry-after-ms", "x-should-retry", "openai-poll-after-ms", "Idempotent-Replayed",
                   "x-remaining-credits", "x-credits-consumed", "Reelforge-Adjustments")


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 100 else value[:100] + "...")


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without port or brackets, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:  # more than one colon is a bare IPv6 address, which has no port
        host = host.partition(":")[0]
    return host.rstrip(".")


def _is_loopback_name(name: str) -> bool:
    # RFC 6761: *.localhost resolves to loopback, so it names this machine.
    return name.endswith(".localhost") or is_loopback(name)


class BrowserGuard:
    """A pure ASGI middleware, outermost, so nothing behind it runs for a refused request; the
    refusal is rendered by ``errors.render``, in the envelope of the dialect the path belongs to."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        names = set(settings.allowed_host_names)
        if settings.host not in WILDCARD_HOSTS:
            names.add(host_name(settings.host))
        public = urlsplit(settings.public_base)
        names.add(public.hostname or "")
        self.any_host = "*" in names
        self.check_host = (is_loopback(settings.host) or bool(settings.allowed_host_names)) and not self.any_host
        self.host_names = frozenset(names)
        self.public_origin = f"{public.scheme}://{public.netloc}".lower()
        self.origins = frozenset(o.lower() for o in settings.cors_origin_list)
        self.any_origin = "*" in self.origins

    def _host_ok(self, host: str | None) -> bool:
        # A request without Host is no browser's (they always send it), so there is nothing to rebind.
        if host is None:
            return True
        name = host_name(host)
        return name in self.host_names or _is_loopback_name(name)

    def _origin_ok(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().lower()
        if self.any_origin or origin in self.origins or origin == self.public_origin:
            return True
        # The page's own server: the Origin names the Host it sent. On a checked bind that Host passed
        # the Host check; elsewhere the server is keyed, and a page holds no key.
        return host is not None and urlsplit(origin).netloc == host.strip().lower()

    def refusal(self, scope: Scope) -> ReelforgeError | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        host = headers.get("host")
        if self.check_host and scope["path"] not in OPEN_PATHS and not self._host_ok(host):
            return UnknownHost(f"This server does not answer for the host {_quoted(host_name(host or ''))}. "
                               "Use localhost or 127.0.0.1, or name the host in --allowed-hosts.")
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if not self._origin_ok(origin, host):
                return Forbidden(f"Web pages from the origin {_quoted(origin)} may not change anything here. "
                                 "Allow the origin with --cors-origins.")
        elif headers.get("sec-fetch-site") in ("cross-site", "same-site") and not self.any_origin:
            # A browser that sent no Origin still says where the request came from.
            return Forbidden("Web pages of other sites may not change anything here. "
                             "Allow their origin with --cors-origins.")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                response = errors.render(Request(scope), refusal)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """CORS for the configured origins, inside the guard (added last, so it runs first)."""
    if settings.cors_origin_list:
        # Keys travel in headers, never cookies, so credentials stay off and "*" is a real wildcard.
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origin_list), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=list(EXPOSED_HEADERS), max_age=600)
    app.add_middleware(BrowserGuard, settings=settings)
