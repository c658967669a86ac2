"""A real webhook receiver for tests: an HTTP server on a loopback port that answers POSTs per a script."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass
from typing import Any

# One scripted answer: a status, or (status, headers).
Answer = int | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    at: float  # time.time() on arrival: the same clock as the outbox's next_attempt_at
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int  # what it was answered


class Receiver:
    """Answers the n-th request with ``script[n]``, and ``then`` once the script has run out."""

    def __init__(self, script: list[Answer] | tuple[Answer, ...] = (), *, then: Answer = 200,
                 host: str = "127.0.0.1", port: int = 0):
        self.script = list(script)
        self.then = then
        self.requests: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    n = len(receiver.requests)
                    answer = receiver.script[n] if n < len(receiver.script) else receiver.then
                    status, headers = answer if isinstance(answer, tuple) else (answer, {})
                    receiver.requests.append(Received(time.time(), self.path,
                                                      {k.lower(): v for k, v in self.headers.items()}, body, status))
                    receiver._cond.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # a redirect target is asked with GET if anything follows it

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        """The first ``n`` requests, once they have arrived; AssertionError if they do not in ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(f"the receiver got {len(self.requests)} requests, expected {n}: {self.requests}")
            return self.requests[:n]

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
