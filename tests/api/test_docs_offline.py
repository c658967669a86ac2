"""/docs and /redoc render in a real headless Chromium with every request to another host refused:
the assets come from the installed package (fastapi-offline), so the docs work with no internet."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Page

from tests.api.conftest import same_origin_only
from tests.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("docs-serve"), workers=0).start()
    yield live
    live.stop()


@dataclass
class Visit:
    page: Page
    left: list[str] = field(default_factory=list)  # requests to any other host: aborted, so offline
    failed: list[str] = field(default_factory=list)  # any request that did not complete
    errors: list[str] = field(default_factory=list)  # console errors and uncaught page exceptions


@pytest.fixture
def visit(server, browser):
    """A fresh browser context in which only the server's own origin is reachable."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    v = Visit(page)
    same_origin_only(context, server.base_url, v.left)
    page.on("requestfailed", lambda req: v.failed.append(f"{req.url}: {req.failure}"))
    page.on("console", lambda msg: v.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: v.errors.append(str(exc)))
    yield v
    context.close()


def _operations(server) -> list[dict]:
    spec = httpx.get(server.base_url + "/openapi.json").json()
    verbs = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [op for item in spec["paths"].values() for verb, op in item.items() if verb in verbs]


def _offline_clean(v: Visit) -> None:
    v.page.wait_for_load_state("networkidle")  # late requests (fonts, images) count too
    assert v.left == [], f"requests left the server: {v.left}"
    assert v.failed == [], f"requests failed: {v.failed}"
    assert v.errors == [], f"console errors: {v.errors}"


def test_swagger_ui_renders_every_operation_offline(server, visit, tmp_path):
    page = visit.page
    page.goto(server.base_url + "/docs")
    create = page.locator(".opblock-summary-description", has_text="Create a video")
    create.first.wait_for(state="visible", timeout=30_000)
    # Swagger UI lists each operation as one .opblock: all of the spec's are there, not only the first.
    assert page.locator(".opblock").count() == len(_operations(server))
    page.screenshot(path=tmp_path / "docs.png")
    print("screenshot:", tmp_path / "docs.png")
    _offline_clean(visit)


def test_redoc_renders_every_operation_offline(server, visit, tmp_path):
    page = visit.page
    page.goto(server.base_url + "/redoc")
    page.locator("h2", has_text="Create a video").first.wait_for(state="visible", timeout=30_000)
    # ReDoc's middle panel has one section "operation/<operationId>" for each operation of the spec.
    sections = page.eval_on_selector_all("[data-section-id^='operation/']",
                                         "els => els.map(e => e.dataset.sectionId)")
    assert sorted(sections) == sorted("operation/" + op["operationId"] for op in _operations(server))
    page.screenshot(path=tmp_path / "redoc.png")
    print("screenshot:", tmp_path / "redoc.png")
    _offline_clean(visit)
