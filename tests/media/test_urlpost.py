"""POSTing to webhook receivers: the fetcher's SSRF rules, a connection pinned to the checked address,
no redirects followed, and bounded waits; against real local servers."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from email.utils import formatdate

import httpx
import pytest

import tests.media.test_urlfetch as fetcher_tests
from reelforge.errors import InvalidRequest, UnsafeURL
from reelforge.media import urlfetch
from reelforge.media.urlpost import _post_pinned, _retry_after, check_receiver, post
from tests.receiver import Receiver

# Exactly the non-public forms the fetcher's tests refuse, read from their parametrisation so the two
# lists cannot drift apart: a webhook URL must be refused for every one of them.
FETCHER_REFUSED = [url for url, _reason in fetcher_tests.test_non_public_addresses_are_refused.pytestmark[0].args[1]]
LOOPBACK_SPELLINGS = ["http://localhost:{port}/hook", "http://2130706433:{port}/hook", "http://127.1:{port}/hook",
                      "http://0x7f000001:{port}/hook", "http://[::ffff:127.0.0.1]:{port}/hook",
                      "http://[::1]:{port}/hook", "http://127.0.0.2:{port}/hook"]
HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc"}


def pinned(url: str, ip: str) -> urlfetch._Target:
    """A target as the SSRF check would return it, for a name that resolves nowhere."""
    parsed = httpx.URL(url)
    return urlfetch._Target(parsed, parsed.host, parsed.port or 80, [ipaddress.ip_address(ip)])


def test_fetcher_list_was_found():
    assert len(FETCHER_REFUSED) >= 25 and "http://169.254.169.254/latest/meta-data/" in FETCHER_REFUSED


@pytest.mark.parametrize("url", FETCHER_REFUSED)
def test_every_form_the_fetcher_refuses_is_refused_as_a_receiver(url):
    with pytest.raises(UnsafeURL) as info:
        check_receiver(url, param="url")
    assert info.value.param == "url"
    assert "only public addresses are fetched" in info.value.message


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_allowing_a_host_allows_that_name_only_not_other_spellings_of_its_address(spelling):
    allow = frozenset({"127.0.0.1"})
    check_receiver("http://127.0.0.1:8123/hook", param="url", allow_hosts=allow)
    with pytest.raises(InvalidRequest, match="url"):
        check_receiver(spelling.format(port=8123), param="url", allow_hosts=allow)


@pytest.mark.parametrize(("url", "fragment"), [
    ("ftp://example.com/hook", "'ftp' scheme"),
    ("http://user:pw@93.184.216.34/hook", "credentials"),
    ("http://93.184.216.34:8080/hook", "port 8080"),
])
def test_malformed_or_disallowed_receiver_urls_are_refused(url, fragment):
    with pytest.raises(UnsafeURL, match=fragment):
        check_receiver(url, param="url")


def test_a_public_receiver_passes_the_check():
    check_receiver("https://93.184.216.34/hook", param="url")


def test_a_refused_url_is_never_contacted_and_reads_as_an_attempt():
    with Receiver() as receiver:
        for spelling in LOOPBACK_SPELLINGS:
            result = post(spelling.format(port=receiver.port), b"{}", HEADERS, timeout=5)
            assert result.status_code is None and result.error.startswith("refused:"), (spelling, result)
        assert receiver.requests == []


def test_an_allowed_receiver_gets_the_body_and_headers_under_its_name():
    with Receiver() as receiver:
        result = post(receiver.url("/hook?x=1", host="localhost"), b'{"a":1}', HEADERS, timeout=5,
                      allow_hosts=frozenset({"localhost"}))
        assert (result.status_code, result.error) == (200, None)
        (got,) = receiver.requests
    assert got.path == "/hook?x=1" and got.body == b'{"a":1}'
    assert got.headers["host"] == f"localhost:{receiver.port}"
    assert got.headers["content-type"] == "application/json"
    assert {k: got.headers[k] for k in HEADERS} == HEADERS


def test_the_connection_goes_to_the_checked_address_and_the_name_only_into_host():
    """The name resolves nowhere, so reaching the receiver at all proves the POST connected to the
    validated IP without asking DNS again (a rebinding answer has nothing to move)."""
    name = "hooks.reelforge-no-such-host.invalid"
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(name, 80)
    with Receiver() as receiver:
        result = _post_pinned(pinned(f"http://{name}:{receiver.port}/in", "127.0.0.1"), b"{}", HEADERS, timeout=5)
        assert result.status_code == 200, result
        (got,) = receiver.requests
    assert got.headers["host"] == f"{name}:{receiver.port}" and got.path == "/in"


def test_each_checked_address_is_tried_in_turn():
    with Receiver() as receiver:
        target = pinned(f"http://hooks.example:{receiver.port}/", "127.0.0.2")
        target = urlfetch._Target(target.url, target.host, target.port, [*target.ips, ipaddress.ip_address("127.0.0.1")])
        assert _post_pinned(target, b"{}", HEADERS, timeout=5).status_code == 200
        assert len(receiver.requests) == 1


def test_no_address_answering_is_a_failed_attempt():
    with Receiver() as receiver:
        port = receiver.port
    result = _post_pinned(pinned(f"http://hooks.example:{port}/", "127.0.0.1"), b"{}", HEADERS, timeout=5)
    assert result.status_code is None and "could not connect to hooks.example" in result.error


def test_a_redirect_is_not_followed_and_is_not_a_success():
    with Receiver() as elsewhere, Receiver([(302, {"Location": elsewhere.url("/stolen")})]) as receiver:
        result = post(receiver.url(), b"{}", HEADERS, timeout=5, allow_hosts=frozenset({"127.0.0.1"}))
        assert result.status_code == 302 and "redirect (not followed" in result.error
        assert len(receiver.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.parametrize("status", [400, 404, 410, 500, 503])
def test_non_2xx_answers_are_reported_with_their_status(status):
    with Receiver([status]) as receiver:
        result = post(receiver.url(), b"{}", HEADERS, timeout=5, allow_hosts=frozenset({"127.0.0.1"}))
    assert (result.status_code, result.error) == (status, f"HTTP {status}")


def test_retry_after_is_read_in_seconds_and_as_a_date():
    with Receiver([(429, {"Retry-After": "7"})]) as receiver:
        result = post(receiver.url(), b"{}", HEADERS, timeout=5, allow_hosts=frozenset({"127.0.0.1"}))
    assert (result.status_code, result.retry_after) == (429, 7.0)
    in_two_minutes = _retry_after(formatdate(time.time() + 120, usegmt=True))
    assert in_two_minutes is not None and 100 < in_two_minutes <= 120
    assert _retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert _retry_after("soon") is None and _retry_after(None) is None


@pytest.fixture
def raw_server():
    """A loopback socket server whose connections are handled by the test's ``handle(conn)``."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    handlers = []

    def start(handle):
        def loop():
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        handlers.append(thread)
        return listener.getsockname()[1]

    yield start
    stop.set()
    for thread in handlers:
        thread.join(5)
    listener.close()


def test_a_receiver_that_never_answers_times_out(raw_server):
    def silent(conn, stop):
        stop.wait(10)
        conn.close()

    port = raw_server(silent)
    result = post(f"http://127.0.0.1:{port}/", b"{}", HEADERS, timeout=0.5, allow_hosts=frozenset({"127.0.0.1"}))
    assert result.status_code is None and result.error == "timed out after 0.5 s"


def test_an_endless_answer_body_is_not_read(raw_server):
    """Only the status counts; a receiver streaming a body forever cannot hold the deliverer."""
    def endless(conn, stop):
        conn.recv(65536)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"1000\r\n" + b"x" * 4096 + b"\r\n")
        except OSError:  # the client hung up: what it should do
            pass
        finally:
            conn.close()

    port = raw_server(endless)
    result = post(f"http://127.0.0.1:{port}/", b"{}", HEADERS, timeout=2, allow_hosts=frozenset({"127.0.0.1"}))
    assert (result.status_code, result.error) == (200, None)
