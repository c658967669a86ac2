"""SSRF-safe fetching of user-supplied media URLs (API-COMPAT §8.3).

The threat: a client hands us ``http://169.254.169.254/...`` or a name that
resolves to an internal service, and we fetch it from inside the network.
The defence, in order:

1. ``check_url`` parses strictly: http/https only, no userinfo, ports 80/443,
   no IP literals in odd encodings (``2130706433``, ``0x7f000001``, ``0177.0.0.1``).
2. It resolves **all** A/AAAA records and refuses the URL if **any** is not a
   public unicast address (a name with one public and one private record is a
   classic rebinding setup, so "any", not "all").
3. ``fetch_url`` connects to the validated IP itself, sending the name only in
   the Host header and TLS SNI, so a second DNS answer cannot redirect the
   connection (DNS rebinding). Certificates are still verified against the
   name, because httpcore uses ``sni_hostname`` as ``server_hostname``.
4. Redirects are followed by hand, at most three, each hop re-validated.
5. Bodies are streamed and cut off at ``max_bytes``; the whole fetch has a deadline.

Environment proxies are ignored on purpose (``trust_env=False``): a proxy
would resolve the name itself and undo the pinning.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network

import httpx

from reelforge.errors import FetchFailed, InvalidRequest, PayloadTooLarge, UnsafeURL, describe

IPAddress = IPv4Address | IPv6Address

MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
_MAX_URL_LENGTH = 4096
_ALLOWED_PORTS = (80, 443)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)

# Named ranges give a precise reason; anything else not global is caught after.
_BLOCKED_V4 = [
    (ip_network(net), why)
    for net, why in [
        ("0.0.0.0/8", "a 'this network' address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services live)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    ]
]
_BLOCKED_V6 = [
    (ip_network(net), why)
    for net, why in [
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
]
_NAT64 = ip_network("64:ff9b::/96")

_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# WHATWG URL parsers treat a host whose last label is a number as IPv4
# ("127.1", "0x7f000001"); so do C resolvers via inet_aton.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # IDNA-encoded name or IP text; what goes into Host and SNI
    port: int
    ips: list[IPAddress]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == _DEFAULT_PORTS[self.url.scheme] else f"{name}:{self.port}"


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, for the forms that reach one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from (e.g. "a loopback address"), or None if it is public."""
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            # The v4 address decides: ::ffff:8.8.8.8 is as public as 8.8.8.8, and
            # Python 3.11 calls ::ffff:127.0.0.1 "global", so never trust is_global here.
            inner = blocked_reason(embedded)
            return None if inner is None else f"an IPv6 form of {embedded}, {inner}"
        table = _BLOCKED_V6
    else:
        table = _BLOCKED_V4
    for network, why in table:
        if ip in network:
            return why
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved or not ip.is_global:
        return "a special-purpose address that is not publicly routable"
    return None


def _refuse(subject: str, ip: IPAddress, why: str, verb: str, param: str) -> UnsafeURL:
    return UnsafeURL(
        f"{subject} {verb} {ip}, {why}; only public addresses are fetched.", param=param
    )


def _parse(
    url: str, subject: str, param: str, allowed_schemes: tuple[str, ...], allow_hosts: frozenset[str] = frozenset()
) -> tuple[httpx.URL, str, int]:
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest(f"{subject} must be a non-empty URL.", param=param)
    url = url.strip()
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidRequest(f"{subject} is longer than {_MAX_URL_LENGTH} characters.", param=param)
    # Parsers disagree about backslashes and control characters (the root of
    # most parser-differential SSRF bugs), so refuse them rather than guess.
    if "\\" in url or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise UnsafeURL(f"{subject} contains backslashes, spaces or control characters.", param=param)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in allowed_schemes or scheme not in _DEFAULT_PORTS:
        allowed = " and ".join(allowed_schemes)
        raise UnsafeURL(
            f"{subject} uses the '{scheme or '(none)'}' scheme; only {allowed} URLs are fetched.",
            param=param,
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise InvalidRequest(f"{subject} is not a valid URL ({describe(exc)}).", param=param) from None
    if parsed.userinfo:
        raise UnsafeURL(f"{subject} contains credentials (user:password@); they are not allowed.", param=param)
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    # raw_host is already IDNA-encoded (xn--...) and lower-cased by httpx.
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    if port not in _ALLOWED_PORTS and not _allowed(host, port, allow_hosts):
        raise UnsafeURL(f"{subject} uses port {port}; only ports 80 and 443 are fetched.", param=param)
    if not host:
        raise InvalidRequest(f"{subject} has no host.", param=param)
    return parsed, host, port


def _literal_ip(host: str, subject: str, param: str) -> IPAddress | None:
    """The IP for an IP-literal host, None for a name; odd encodings are refused."""
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            raise UnsafeURL(f"{subject} has an invalid IPv6 host '{host}'.", param=param) from None
    if _DOTTED_QUAD.fullmatch(host):
        try:
            return IPv4Address(host)  # refuses leading zeros, which some stacks read as octal
        except ValueError:
            pass
    elif not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    # A numeric host that is not plain dotted decimal: decimal, octal, hex or short form.
    try:
        normalised = IPv4Address(socket.inet_aton(host))
    except OSError:
        raise UnsafeURL(f"{subject} has an invalid host '{host}'.", param=param) from None
    why = blocked_reason(normalised)
    if why is not None:
        raise _refuse(subject, normalised, why, f"has host '{host}', which is", param)
    raise UnsafeURL(
        f"{subject} writes the IP address {normalised} as '{host}'; "
        "write IPv4 addresses as four decimal numbers.",
        param=param,
    )


def _resolve(host: str, port: int, subject: str, param: str) -> list[IPAddress]:
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise UnsafeURL(f"{subject} has an invalid host name '{host}'.", param=param)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"{subject}: host '{host}' could not be resolved ({describe(exc)}).", param=param) from None
    ips: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in ips:
            ips.append(ip)
    if not ips:
        raise FetchFailed(f"{subject}: host '{host}' has no addresses.", param=param)
    return ips


def _allowed(host: str, port: int, allow_hosts: frozenset[str]) -> bool:
    """Whether the operator named this host (or host:port) as fetchable despite the rules
    (setting ``fetch_allow_hosts``, e.g. a media server on the private network, or a test server)."""
    return host in allow_hosts or f"{host}:{port}" in allow_hosts


def _validate(
    url: str, subject: str, param: str, allowed_schemes: tuple[str, ...], allow_hosts: frozenset[str] = frozenset()
) -> _Target:
    parsed, host, port = _parse(url, subject, param, allowed_schemes, allow_hosts)
    if _allowed(host, port, allow_hosts):
        literal = _literal_ip(host, subject, param)
        return _Target(parsed, host, port, [literal] if literal is not None else _resolve(host, port, subject, param))
    literal = _literal_ip(host, subject, param)
    if literal is not None:
        why = blocked_reason(literal)
        if why is not None:
            raise _refuse(subject, literal, why, "points to", param)
        return _Target(parsed, host, port, [literal])
    ips = _resolve(host, port, subject, param)
    for ip in ips:
        why = blocked_reason(ip)
        if why is not None:
            raise _refuse(subject, ip, why, "resolves to", param)
    return _Target(parsed, host, port, ips)


def check_url(url: str, param: str, allowed_schemes: tuple[str, ...] = ("https", "http")) -> list[IPAddress]:
    """Validate ``url`` for fetching and return the addresses it may be fetched from.

    Raises UnsafeURL (the message says why), InvalidRequest for a malformed URL,
    or FetchFailed when the name does not resolve. Does DNS, never HTTP.
    """
    return _validate(url, param, param, tuple(allowed_schemes)).ips


def _redirect_target(
    current_url: str, location: str, param: str, allowed_schemes: tuple[str, ...], allow_hosts: frozenset[str] = frozenset()
) -> _Target:
    try:
        target = str(httpx.URL(current_url).join(location))
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise FetchFailed(f"{param} redirects to an invalid URL ({describe(exc)}).", param=param) from None
    return _validate(target, f"{param} redirects to {target}, which", param, allowed_schemes, allow_hosts)


def check_redirect(
    current_url: str, location: str, param: str, allowed_schemes: tuple[str, ...] = ("https", "http")
) -> tuple[str, list[IPAddress]]:
    """Validate one redirect hop: resolve ``location`` against ``current_url`` and check it fully.

    Returns the absolute target URL and its validated addresses.
    """
    target = _redirect_target(current_url, location, param, tuple(allowed_schemes))
    return str(target.url), target.ips


def _remaining(deadline: float, subject: str, param: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed(f"{subject} timed out after {timeout:g} s.", param=param)
    return left


def _get_pinned(
    target: _Target,
    *,
    param: str,
    max_bytes: int,
    deadline: float,
    timeout: float,
    verify: bool | ssl.SSLContext = True,
) -> tuple[str | None, bytes]:
    """GET ``target`` over a connection to one of its validated IPs.

    Returns ``(location, b"")`` for a redirect and ``(None, body)`` for a 200.
    A fresh client per hop: a pooled connection opened for one name must never
    carry a request for another.
    """
    last_error: Exception | None = None
    for ip in target.ips:
        left = _remaining(deadline, param, param, timeout)
        limits = httpx.Timeout(left, connect=min(CONNECT_TIMEOUT, left))
        with httpx.Client(verify=verify, trust_env=False, follow_redirects=False, timeout=limits) as client:
            request = client.build_request(
                "GET",
                target.url.copy_with(host=str(ip)),
                # identity: Content-Length then means the bytes we will hold.
                headers={"Host": target.host_header, "Accept-Encoding": "identity", "User-Agent": "reelforge"},
                extensions={"sni_hostname": target.host},
            )
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc  # unreachable address or bad certificate: try the next record
                continue
            try:
                return _read_response(
                    response, target, param=param, max_bytes=max_bytes, deadline=deadline, timeout=timeout
                )
            finally:
                response.close()
    raise FetchFailed(f"{param}: could not connect to {target.host} ({last_error}).", param=param)


def _read_response(
    response: httpx.Response, target: _Target, *, param: str, max_bytes: int, deadline: float, timeout: float
) -> tuple[str | None, bytes]:
    status = response.status_code
    if status in _REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise FetchFailed(f"{param}: HTTP {status} redirect without a Location header.", param=param)
        return location, b""
    if status != 200:
        raise FetchFailed(f"{param}: fetching {target.url} answered HTTP {status}; expected 200.", param=param)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(
            f"{param} is {declared} bytes; at most {max_bytes} bytes are fetched.", param=param
        )
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"{param} is larger than {max_bytes} bytes; fetching stopped.", param=param)
        # Per-read timeouts alone let a server drip one byte at a time forever.
        _remaining(deadline, param, param, timeout)
    return None, bytes(body)


def fetch_url(
    url: str,
    *,
    param: str,
    max_bytes: int,
    timeout: float,
    allowed_schemes: tuple[str, ...] = ("https", "http"),
    allow_hosts: frozenset[str] = frozenset(),
) -> bytes:
    """Fetch a user-supplied URL under the SSRF rules and return the body.

    Raises UnsafeURL / InvalidRequest before any connection for a refused URL,
    FetchFailed for HTTP errors, timeouts (``timeout`` covers the whole fetch,
    redirects included) and too many redirects, PayloadTooLarge over ``max_bytes``.
    The bytes are not interpreted: callers sniff them (``inputs.decode_image``).
    """
    allowed_schemes = tuple(allowed_schemes)
    deadline = time.monotonic() + timeout
    allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
    target = _validate(url, param, param, allowed_schemes, allow_hosts)
    try:
        for hop in range(MAX_REDIRECTS + 1):
            location, body = _get_pinned(
                target, param=param, max_bytes=max_bytes, deadline=deadline, timeout=timeout
            )
            if location is None:
                return body
            if hop == MAX_REDIRECTS:
                break
            target = _redirect_target(str(target.url), location, param, allowed_schemes, allow_hosts)
    except httpx.TimeoutException:
        raise FetchFailed(f"{param} timed out after {timeout:g} s.", param=param) from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{param} could not be fetched ({describe(exc)}).", param=param) from None
    raise FetchFailed(f"{param} redirected more than {MAX_REDIRECTS} times.", param=param)
