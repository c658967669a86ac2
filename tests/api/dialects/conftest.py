"""A live server for the vendor dialects: real HTTP, a worker, API keys, and a local image host.

The seed documents' media URLs point at hosts this machine cannot reach, so tests swap them for
``images.url(...)`` on a local server, which the server may fetch because the test names it in
``REELFORGE_FETCH_ALLOW_HOSTS`` (by default loopback stays forbidden).
"""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from reelforge.cli import main as cli
from reelforge.store import AccountStore, JobStore
from tests.live import LiveServer, free_port


def png(color=(200, 30, 30), size=(320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(color=(30, 30, 200), size=(640, 360)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


class ImageHost:
    """Serves fixed images over HTTP on 127.0.0.1 (a stand-in for the documents' public image URLs)."""

    def __init__(self):
        self.files = {"/red.png": (png(), "image/png"), "/blue.jpg": (jpeg(), "image/jpeg")}
        self.port = free_port()
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body, kind = files.get(self.path, (None, None))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str = "red.png") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def start(self) -> "ImageHost":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()


def create_key(data_dir: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["keys", "create", "--data-dir", str(data_dir), *args]) == 0
    return out.getvalue().strip()


@dataclass
class Rig:
    server: LiveServer
    images: ImageHost
    # alice: 1000 credits (a fresh account for every test); bob: unlimited; poor: 0 credits; slow: 2 creates/min
    keys: dict[str, str]
    accounts: AccountStore

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def credits(self, who: str) -> int | None:
        return self.accounts.authenticate(self.keys[who]).credits


def fresh_window(base_url: str, key: str, min_left: float = 20.0) -> None:
    """Rate limits count in fixed windows; a test that fills one must not straddle two. Wait for the
    next window when fewer than ``min_left`` seconds of this one remain (reads report it, uncounted)."""
    r = httpx.get(base_url + "/v1/models", headers={"Authorization": f"Bearer {key}", "x-api-key": key}, timeout=30)
    left = int(r.headers["X-RateLimit-Reset"]) - time.time()
    if left < min_left:
        time.sleep(max(0.0, left) + 0.5)


@pytest.fixture(scope="module")
def rig(tmp_path_factory, tiny_models_dir):
    data = tmp_path_factory.mktemp("dialect")
    keys = {
        "alice": create_key(data, "--name", "alice", "--credits", "1000", "--rate-limit", "1000/min"),
        "bob": create_key(data, "--name", "bob", "--unlimited", "--rate-limit", "1000/min"),
        "poor": create_key(data, "--name", "poor", "--credits", "0", "--rate-limit", "1000/min"),
        "slow": create_key(data, "--name", "slow", "--unlimited", "--rate-limit", "2/min"),
    }
    images = ImageHost().start()
    server = LiveServer(data, models_dir=tiny_models_dir, workers=1, env={
        "REELFORGE_PROGRESS_INTERVAL": "0.2", "REELFORGE_FETCH_ALLOW_HOSTS": f"127.0.0.1:{images.port}",
    }).start()
    store = JobStore(f"sqlite:///{data}/reelforge.db")
    yield Rig(server, images, keys, AccountStore(store))
    store.close()
    server.stop()
    images.stop()


@pytest.fixture(autouse=True)
def fresh_alice(rig):
    """Each test gets its own metered account: a job from an earlier test that fails or is cancelled
    later refunds its own account, not the balance this test is counting."""
    rig.keys["alice"] = create_key(rig.server.data_dir, "--name", "alice", "--credits", "1000",
                                   "--rate-limit", "1000/min")
