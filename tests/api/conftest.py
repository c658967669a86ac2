from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from openai import OpenAI

from tests.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models_dir):
    srv = LiveServer(tmp_path_factory.mktemp("serve"), models_dir=tiny_models_dir,
                     env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    # Unchanged SDK; only the base URL (and a dummy key, which the local account ignores).
    return OpenAI(base_url=server.base_url + "/v1", api_key="sk-local", max_retries=0)


# Debian's chromium: `playwright install` downloads browsers, which CI cannot; the README test command
# installs this one with apt-get first.
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, for the pages the API serves (/docs, /redoc, the playground).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the main thread
    while it is open, and a later test's ``asyncio.run()`` would find it there and fail."""
    from playwright.sync_api import sync_playwright

    # A missing browser is a broken setup, not a reason to skip: the README test command installs it.
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the README test command does)")
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def same_origin_only(context, base_url: str, left: list[str]) -> None:
    """Abort every request ``context`` makes to a host other than the server's, noting it in
    ``left``: a page we serve must work offline. On the context, not a page, so that requests from
    workers and popups are seen too."""
    origin = urlsplit(base_url).netloc

    def route(r) -> None:
        if urlsplit(r.request.url).netloc == origin:
            r.continue_()
        else:
            left.append(r.request.url)
            r.abort()

    context.route("**/*", route)
