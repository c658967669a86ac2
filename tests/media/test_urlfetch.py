"""SSRF rules. This machine has no internet, so public fetches cannot be
tested end to end; instead we test every refusal, and the pinned transport
against real local servers (HTTP and TLS) by calling it directly."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from reelforge.errors import FetchFailed, InvalidRequest, PayloadTooLarge, UnsafeURL
from reelforge.media import urlfetch
from reelforge.media.urlfetch import blocked_reason, check_redirect, check_url, fetch_url

P = "input_reference.image_url"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Serves a few fixed routes and records every request it gets."""

    requests: list[tuple[str, str]]  # set per server class

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.requests.append((self.path, self.headers.get("Host", "")))
        if self.path == "/redirect":
            self._send(302, b"", {"Location": "http://10.0.0.1/x"})
        elif self.path == "/big":
            self._send(200, b"x" * 5000)
        elif self.path == "/big-no-length":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"y" * 5000)
        elif self.path == "/missing":
            self._send(404, b"nope")
        else:
            self._send(200, b"hello")

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serve(port=0, tls: ssl.SSLContext | None = None):
    handler = type("Handler", (Recorder,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.requests
    finally:
        server.shutdown()
        server.server_close()


def target(url: str, ip: str) -> urlfetch._Target:
    parsed = httpx.URL(url)
    return urlfetch._Target(parsed, parsed.host, parsed.port, [ipaddress.ip_address(ip)])


def get_pinned(t, *, max_bytes=10_000, verify=True):
    return urlfetch._get_pinned(
        t, param=P, max_bytes=max_bytes, deadline=time.monotonic() + 10, timeout=10, verify=verify
    )


# --- check_url: refusals -------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost/a.png", "resolves to 127.0.0.1, a loopback address"),
        ("http://LOCALHOST./a.png", "a loopback address"),
        ("http://127.0.0.1/a.png", "points to 127.0.0.1, a loopback address"),
        ("https://[::1]/a.png", "::1, a loopback address"),
        ("http://2130706433/", "127.0.0.1, a loopback address"),
        ("http://0x7f000001/", "127.0.0.1, a loopback address"),
        ("http://017700000001/", "127.0.0.1, a loopback address"),
        ("http://127.1/", "127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "127.0.0.1, a loopback address"),
        ("http://10.1.2.3/", "a private address"),
        ("http://172.16.5.4/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://100.127.255.254/", "carrier-grade NAT"),
        ("http://0.0.0.0/", "'this network'"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://255.255.255.255/", "a reserved address"),
        ("http://192.0.2.7/", "not publicly routable"),
        ("http://198.18.0.1/", "not publicly routable"),
        ("http://[::ffff:127.0.0.1]/", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:a9fe:a9fe]/", "an IPv6 form of 169.254.169.254"),
        ("http://[64:ff9b::a00:1]/", "an IPv6 form of 10.0.0.1, a private address"),
        ("http://[2002:7f00:1::1]/", "an IPv6 form of 127.0.0.1"),
        ("http://[::]/", "an unspecified address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://[fd00::1]/", "a private (unique local) address"),
        ("http://[ff02::1]/", "a multicast address"),
        ("http://[::127.0.0.1]/", "not publicly routable"),
        ("http://[2001:db8::1]/", "not publicly routable"),
    ],
)
def test_non_public_addresses_are_refused(url, reason):
    with pytest.raises(UnsafeURL) as info:
        check_url(url, P)
    assert info.value.param == P
    assert info.value.message.startswith(P)
    assert reason in info.value.message
    assert "only public addresses are fetched" in info.value.message


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "'file' scheme"),
        ("ftp://example.com/a.png", "'ftp' scheme"),
        ("data:image/png;base64,AAAA", "'data' scheme"),
        ("gopher://example.com/", "'gopher' scheme"),
        ("example.com/a.png", "scheme"),
        ("http://user:pw@example.com/a.png", "credentials"),
        ("http://user@example.com/a.png", "credentials"),
        ("http://example.com:8080/a.png", "port 8080"),
        ("https://example.com:22/", "port 22"),
        ("http://example.com\\@10.0.0.1/", "backslashes"),
        ("http://exa mple.com/", "spaces"),
        ("http://134744072/", "four decimal numbers"),
        ("http://exa%20mple.com/", "invalid host name"),
    ],
)
def test_malformed_or_disallowed_urls_are_refused(url, fragment):
    with pytest.raises(UnsafeURL) as info:
        check_url(url, P)
    assert fragment in info.value.message and P in info.value.message


def test_https_only_when_asked():
    with pytest.raises(UnsafeURL, match="only https URLs"):
        check_url("http://93.184.216.34/", P, allowed_schemes=("https",))


def test_dotted_octal_is_refused():
    # httpx itself rejects leading zeros; either way it is never fetched.
    with pytest.raises(InvalidRequest, match=P):
        check_url("http://0177.0.0.1/", P)


def test_unresolvable_name_fails_to_fetch():
    with pytest.raises(FetchFailed, match="could not be resolved"):
        check_url("https://reelforge-no-such-host.invalid/a.png", P)


def test_public_literals_pass_and_are_returned():
    assert check_url("https://93.184.216.34/a.png?x=1", P) == [ipaddress.ip_address("93.184.216.34")]
    assert check_url("http://[2606:4700::1111]:80/", P) == [ipaddress.ip_address("2606:4700::1111")]
    assert check_url("https://8.8.8.8:443/", P) == [ipaddress.ip_address("8.8.8.8")]
    assert check_url("  https://8.8.8.8/a.png\n", P) == [ipaddress.ip_address("8.8.8.8")]
    # An embedded public IPv4 is judged by that address.
    assert blocked_reason(ipaddress.ip_address("::ffff:8.8.8.8")) is None
    assert blocked_reason(ipaddress.ip_address("64:ff9b::808:808")) is None


# --- redirects ---------------------------------------------------------------------------

def test_redirect_hop_to_private_address_is_refused():
    with pytest.raises(UnsafeURL) as info:
        check_redirect("https://93.184.216.34/a.png", "http://169.254.169.254/latest", P)
    message = info.value.message
    assert "redirects to http://169.254.169.254/latest" in message and "link-local" in message


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("http://localhost/x", "a loopback address"),
        ("file:///etc/passwd", "'file' scheme"),
        ("//10.0.0.1/x", "a private address"),
        ("http://93.184.216.34:8080/", "port 8080"),
        ("http://u:p@93.184.216.34/", "credentials"),
    ],
)
def test_redirect_hops_get_full_validation(location, fragment):
    with pytest.raises(UnsafeURL, match=fragment):
        check_redirect("https://93.184.216.34/a.png", location, P)


def test_relative_redirect_is_resolved_against_the_current_url():
    url, ips = check_redirect("https://93.184.216.34/dir/a.png", "../b.png?v=2", P)
    assert url == "https://93.184.216.34/b.png?v=2"
    assert ips == [ipaddress.ip_address("93.184.216.34")]


# --- fetch_url never contacts a refused address ---------------------------------------

def test_loopback_server_is_never_contacted():
    with serve() as (port, requests):
        for url in [
            f"http://127.0.0.1:{port}/",
            f"http://localhost:{port}/",
            f"http://[::ffff:127.0.0.1]:{port}/",
            f"http://user:pw@127.0.0.1:{port}/",
        ]:
            with pytest.raises(InvalidRequest):
                fetch_url(url, param=P, max_bytes=1000, timeout=5)
        assert requests == []
        # The server is really there: the pinned transport reaches it.
        assert get_pinned(target(f"http://localhost:{port}/", "127.0.0.1")) == (None, b"hello")
        assert len(requests) == 1


def test_only_the_named_host_and_port_are_allowed_through():
    """fetch_allow_hosts opens exactly what the operator named (here the test server), nothing else."""
    with serve() as (port, requests):
        allow = frozenset({f"127.0.0.1:{port}"})
        assert fetch_url(f"http://127.0.0.1:{port}/a.png", param=P, max_bytes=1000, timeout=5,
                         allow_hosts=allow) == b"hello"
        for url in (f"http://localhost:{port}/a.png", f"http://[::1]:{port}/a.png", "http://127.0.0.2/a.png",
                    f"http://user:pw@127.0.0.1:{port}/"):
            with pytest.raises(InvalidRequest):
                fetch_url(url, param=P, max_bytes=1000, timeout=5, allow_hosts=allow)
        assert len(requests) == 1


def test_loopback_server_on_port_80_is_never_contacted():
    """Only the address rule stands between these URLs and the server."""
    try:
        context = serve(port=80)
        port, requests = context.__enter__()
    except OSError:
        pytest.skip("cannot bind 127.0.0.1:80 here (needs root and a free port)")
    try:
        for url in [
            "http://localhost/a.png",
            "http://127.0.0.1/a.png",
            "http://2130706433/a.png",
            "http://0x7f000001/a.png",
            "http://[::ffff:127.0.0.1]/a.png",
        ]:
            with pytest.raises(UnsafeURL, match="loopback"):
                fetch_url(url, param=P, max_bytes=1000, timeout=5)
        assert requests == []
        assert httpx.get("http://127.0.0.1/a.png", trust_env=False).text == "hello"
        assert len(requests) == 1
    finally:
        context.__exit__(None, None, None)


# --- the pinned transport, against real local servers -------------------------------

def test_pinned_request_sends_the_name_as_host():
    with serve() as (port, requests):
        location, body = get_pinned(target(f"http://images.example:{port}/a.png?x=1", "127.0.0.1"))
        assert (location, body) == (None, b"hello")
        assert requests == [("/a.png?x=1", f"images.example:{port}")]


def test_pinned_request_reports_redirects_without_following():
    with serve() as (port, requests):
        assert get_pinned(target(f"http://images.example:{port}/redirect", "127.0.0.1")) == (
            "http://10.0.0.1/x",
            b"",
        )
        assert len(requests) == 1


def test_pinned_request_limits():
    with serve() as (port, _requests):
        with pytest.raises(PayloadTooLarge, match="5000 bytes"):  # declared Content-Length
            get_pinned(target(f"http://h.example:{port}/big", "127.0.0.1"), max_bytes=4999)
        with pytest.raises(PayloadTooLarge, match="larger than 4999"):  # counted while streaming
            get_pinned(target(f"http://h.example:{port}/big-no-length", "127.0.0.1"), max_bytes=4999)
        assert get_pinned(target(f"http://h.example:{port}/big", "127.0.0.1"), max_bytes=5000)[1] == b"x" * 5000
        with pytest.raises(FetchFailed, match="HTTP 404"):
            get_pinned(target(f"http://h.example:{port}/missing", "127.0.0.1"))


def test_pinned_request_gives_up_when_no_address_connects():
    with serve() as (port, _requests):
        pass  # closed again: nothing listens on that port now
    with pytest.raises(FetchFailed, match="could not connect"):
        get_pinned(target(f"http://h.example:{port}/", "127.0.0.1"))


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=images.reelforge.test", "-addext", "subjectAltName=DNS:images.reelforge.test"],
        check=True, capture_output=True,
    )
    return cert, key


def test_pinned_tls_sends_sni_and_verifies_the_certificate_against_the_name(tls_cert):
    cert, key = tls_cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    seen_sni = []
    server_ctx.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with serve(tls=server_ctx) as (port, requests):
        good = target(f"https://images.reelforge.test:{port}/a.png", "127.0.0.1")
        assert get_pinned(good, verify=client_ctx) == (None, b"hello")
        assert seen_sni == ["images.reelforge.test"]
        assert requests == [("/a.png", f"images.reelforge.test:{port}")]
        # Same IP, same trusted certificate, other name: the certificate does not
        # cover it, so the connection is refused (checked against the name, not the IP).
        other = target(f"https://other.reelforge.test:{port}/a.png", "127.0.0.1")
        with pytest.raises(FetchFailed, match="could not connect") as info:
            get_pinned(other, verify=client_ctx)
        assert "certificate" in info.value.message.lower()
        assert len(requests) == 1
