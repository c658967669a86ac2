"""The playground at / in a real headless Chromium (Debian's), against a live server with one worker.

Each flow is one test that asserts what a person sees: the progress number rising, a cancelled job
marked cancelled, a <video> that plays an mp4 of the promised length, the gallery after a reload,
an uploaded image's preview, a server error beside the field it names. Every visit refuses requests
to any other host and fails on console errors, so the page is self-contained.

REELFORGE_SCREENSHOTS=1 writes the README's screenshots to docs/playground-*.png.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, Response, expect

from reelforge.cli import main as cli
from tests.api.conftest import same_origin_only
from tests.live import LiveServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOTS = os.environ.get("REELFORGE_SCREENSHOTS") == "1"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
JOB_TIMEOUT = 60_000  # ms; a tiny job takes a few seconds, more on a busy 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("playground"), workers=1,
                      env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}).start()
    yield live
    live.stop()


@dataclass
class Visit:
    page: Page
    base_url: str
    left: list[str] = field(default_factory=list)  # requests to any other host: aborted
    failed: list[str] = field(default_factory=list)  # requests that did not complete
    errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url): console errors, page exceptions
    responses: list[Response] = field(default_factory=list)

    def open(self) -> Page:
        self.page.goto(self.base_url + "/")
        # The model picker fills from /v1/models, then the gallery loads its first page.
        expect(self.page.locator("#model option").first).to_be_attached()
        expect(self.page.locator("#gallery")).not_to_have_attribute("aria-busy", "true")
        return self.page

    def shot(self, name: str, *, full_page: bool = False) -> None:
        if SCREENSHOTS:
            self.page.screenshot(path=DOCS / f"playground-{name}.png", full_page=full_page)

    def assert_clean(self, allowed_errors: tuple[str, ...] = ()) -> None:
        """Nothing left the origin, nothing failed, and the console holds no error but the allowed
        ones (Chromium logs every 4xx answer to a fetch as a console error)."""
        self.page.wait_for_load_state("networkidle")
        assert self.left == [], f"requests left the server: {self.left}"
        # ERR_ABORTED: the page stops an event stream it no longer shows (a reload, another job).
        assert [f for f in self.failed if "ERR_ABORTED" not in f] == [], f"requests failed: {self.failed}"
        unexpected = [e for e in self.errors if not any(a in e[0] for a in allowed_errors)]
        assert unexpected == [], f"console errors: {unexpected}"


@pytest.fixture
def visit(server, browser):
    """A fresh browser context in which only the server's own origin is reachable."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    v = Visit(page, server.base_url)
    same_origin_only(context, server.base_url, v.left)
    page.on("requestfailed", lambda req: v.failed.append(f"{req.url}: {req.failure}"))
    page.on("console", lambda msg: v.errors.append((msg.text, msg.location.get("url", ""))) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: v.errors.append((str(exc), "")))
    page.on("response", lambda r: v.responses.append(r))
    yield v
    context.close()


def _record(page: Page, selector: str) -> None:
    """Keep every text the element shows, however briefly, in window.__seen[selector]."""
    page.evaluate("""(sel) => {
        window.__seen = window.__seen || {};
        const el = document.querySelector(sel);
        const seen = window.__seen[sel] = [el.textContent];
        new MutationObserver(() => seen.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""", selector)


def _seen(page: Page, selector: str) -> list[str]:
    return page.evaluate("(sel) => window.__seen[sel]", selector)


def _submit(page: Page) -> dict:
    """Press Generate; the created Video as the server answered it."""
    with page.expect_response(lambda r: r.url.endswith("/v1/videos") and r.request.method == "POST") as created:
        page.get_by_role("button", name="Generate").click()
    assert created.value.status == 200, created.value.text()
    video = created.value.json()
    expect(page.locator("#job-id")).to_have_text(video["id"])
    return video


def _decode(mp4: bytes) -> tuple[int, float]:
    """(frames, seconds) of an mp4, decoded with PyAV."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, frames / float(stream.average_rate)


def test_page_is_served_self_only_and_shadows_no_route(server):
    page = httpx.get(server.base_url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "http" not in csp  # no other origin is named
    assert page.headers["cache-control"] == "no-cache"
    # Unhashed names must revalidate; the ETag makes that a 304 with no body.
    again = httpx.get(server.base_url + "/web/app.js", headers={"If-None-Match": httpx.get(
        server.base_url + "/web/app.js").headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    missing = httpx.get(server.base_url + "/web/nothing.js")
    assert missing.status_code == 404 and "nothing.js" in missing.json()["error"]["message"]
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.base_url + "/v1/models").json()["object"] == "list"
    assert "swagger" in httpx.get(server.base_url + "/docs").text.lower()
    assert "/" not in httpx.get(server.base_url + "/openapi.json").json()["paths"]


def test_form_follows_the_model_and_every_control_has_a_label(visit):
    page = visit.open()
    page.keyboard.press("Tab")  # a keyboard's first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to the form"
    tiny = page.locator("#model option[value='reelforge-tiny']")
    expect(tiny).to_have_text("reelforge-tiny (built-in)")
    assert page.locator("#model").input_value() == "reelforge-tiny"
    expect(page.locator("#model-note")).to_contain_text("built-in tiny model")
    expect(page.locator("#model option[value='svd-xt']")).to_contain_text("not installed")
    expect(page.locator("#size option[value='256x256']")).to_have_text("256x256 (256p)")
    expect(page.locator("#num_inference_steps")).to_have_attribute("placeholder", "20")
    expect(page.locator("#last-frame-field")).to_be_hidden()  # the tiny model takes no last frame
    expect(page.locator("#options-box")).to_be_hidden()  # its one option, strength, is for edits

    expect(page.locator("#speed option")).to_have_text(["exact (as plain diffusers)"])  # no DiT cache

    page.locator("#model").select_option("ltx-tiny-random")
    expect(page.locator("#speed option")).to_have_count(2)  # a transformer family: exact and fast
    page.locator("#speed").select_option("fast")
    expect(page.locator("#last-frame-field")).to_be_visible()  # keyframes
    expect(page.locator("#num_inference_steps")).to_have_attribute("placeholder", "8")
    page.get_by_label("frames", exact=True).check()
    expect(page.locator("#num_frames-help")).to_have_text("8k+1, at most 161.")
    page.locator("#model").select_option("svd-xt")
    expect(page.locator("#option-motion_bucket_id")).to_be_visible()
    expect(page.locator("#model-note")).to_contain_text("not on this server")

    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
        .map(el => el.outerHTML)""")
    assert unlabelled == []
    visit.assert_clean()


def test_make_a_video_end_to_end(visit, server):
    page = visit.open()
    page.get_by_label("Prompt", exact=True).fill("a red circle moving right on a navy background")
    page.get_by_label("Size", exact=True).select_option("256x256")
    # More steps than the default, so the worker reports progress several times on the way.
    page.get_by_label("Steps").fill("80")
    visit.shot("form")
    _record(page, "#job-percent")
    _record(page, "#job-eta")
    video = _submit(page)

    page.wait_for_function("() => parseInt(document.getElementById('job-percent').textContent) >= 25", timeout=JOB_TIMEOUT)
    page.evaluate("window.scrollTo(0, 0)")
    visit.shot("progress")
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=JOB_TIMEOUT)

    shown = [int(t.rstrip("%")) for t in _seen(page, "#job-percent") if t]
    assert shown == sorted(shown), f"the progress went back: {shown}"
    assert len({p for p in shown if 0 < p < 100}) >= 2, f"the progress did not rise in steps: {shown}"
    assert shown[-1] == 100
    assert any(t.endswith("s left") or t == "almost done" for t in _seen(page, "#job-eta"))

    # The player: the mp4 the page fetched plays, at the length the server promised.
    page.wait_for_function("() => document.getElementById('player').readyState >= 2", timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.getElementById('player').currentTime > 0")
    duration = page.evaluate("document.getElementById('player').duration")
    promised = float(video["seconds"])
    assert abs(duration - promised) <= 0.1, (duration, promised)
    fetched = [r for r in visit.responses if f"/v1/videos/{video['id']}/content?variant=video" in r.url]
    assert len(fetched) == 1 and fetched[0].headers["content-type"] == "video/mp4"
    mp4 = httpx.get(fetched[0].url).content
    assert len(mp4) == int(fetched[0].headers["content-length"])
    frames, seconds = _decode(mp4)
    assert frames == video["num_frames"] and abs(seconds - promised) <= 0.1

    print(visit.failed)
    params = page.locator("#job-params")
    expect(params).to_contain_text("80")  # the steps asked for are shown back
    expect(params).to_contain_text(str(httpx.get(f"{server.base_url}/v1/videos/{video['id']}").json()["seed"]))
    expect(page.locator(f"#gallery .card[data-id='{video['id']}'] .badge")).to_have_text("Completed")
    visit.assert_clean()


def test_cancel_a_running_job(visit, server):
    page = visit.open()
    page.get_by_label("Prompt", exact=True).fill("a white square moving up")
    page.get_by_label("Size", exact=True).select_option("256x256")
    page.get_by_label("Steps").fill("100")  # the most the model takes: seconds of work to interrupt
    video = _submit(page)
    expect(page.locator("#job-status")).to_have_text("In progress", timeout=JOB_TIMEOUT)
    page.get_by_role("button", name="Cancel", exact=True).click()

    expect(page.locator("#job-status")).to_have_text("Cancelled", timeout=JOB_TIMEOUT)
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_be_hidden()
    expect(page.locator(f"#gallery .card[data-id='{video['id']}'] .badge")).to_have_text("Cancelled")
    expect(page.locator("#player")).to_be_hidden()
    polled = httpx.get(f"{server.base_url}/v1/videos/{video['id']}").json()
    assert polled["status"] == "failed" and polled["error"]["code"] == "cancelled" and polled["progress"] < 100
    visit.assert_clean()


def test_gallery_after_a_reload_shows_the_jobs_newest_first(visit, server):
    page = visit.open()
    page.get_by_label("Size", exact=True).select_option("256x256")
    ids = []
    for prompt in ("a blue triangle moving left", "a green star standing still"):
        page.get_by_label("Prompt", exact=True).fill(prompt)
        ids.append(_submit(page)["id"])

    page.reload()  # the jobs live in the server: nothing is lost
    cards = page.locator("#gallery .card")
    expect(cards.first).to_have_attribute("data-id", ids[1])
    listed = [v["id"] for v in httpx.get(server.base_url + "/v1/videos?order=desc&limit=12").json()["data"]]
    assert cards.evaluate_all("els => els.map(e => e.dataset.id)") == listed
    assert listed[:2] == ids[::-1]
    # The reloaded page follows the unfinished jobs to the end, and shows their thumbnails.
    for video_id in ids:
        card = page.locator(f"#gallery .card[data-id='{video_id}']")
        expect(card.locator(".badge")).to_have_text("Completed", timeout=JOB_TIMEOUT)
        expect(card.locator(".thumb img")).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=card.locator(".thumb img").element_handle())
    visit.shot("gallery", full_page=True)

    # A card opens its video; "use these settings again" puts them back in the form.
    page.locator(f"#gallery .card[data-id='{ids[0]}'] button").click()
    expect(page.locator("#job-id")).to_have_text(ids[0])
    seed = httpx.get(f"{server.base_url}/v1/videos/{ids[0]}").json()["seed"]
    page.get_by_role("button", name="Use these settings again").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a blue triangle moving left")
    expect(page.get_by_label("Seed", exact=True)).to_have_value(str(seed))
    expect(page.get_by_label("Prompt", exact=True)).to_be_focused()

    # At phone width: one column, and nothing wider than the screen.
    page.set_viewport_size(PHONE)
    page.locator("#job-title").scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    boxes = [page.locator(s).bounding_box() for s in ("#create", "#job", "#gallery-section")]
    assert len({round(b["x"]) for b in boxes}) == 1 and boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
    page.evaluate("window.scrollTo(0, 0)")
    visit.shot("phone", full_page=True)
    visit.assert_clean()


def test_upload_an_image_for_image_to_video(visit, tmp_path):
    picture = tmp_path / "first-frame.png"
    image = Image.new("RGB", (96, 64), "navy")
    ImageDraw.Draw(image).ellipse((30, 14, 66, 50), fill="red")
    image.save(picture)

    page = visit.open()
    page.get_by_label("First frame (image-to-video)").set_input_files(picture)
    preview = page.get_by_role("img", name="Preview of the first frame")
    expect(preview).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 96", arg=preview.element_handle())
    page.get_by_label("Prompt", exact=True).fill("a red circle moving right")
    page.get_by_label("Size", exact=True).select_option("256x256")
    with page.expect_request(lambda r: r.url.endswith("/v1/videos") and r.method == "POST") as sent:
        _submit(page)
    assert sent.value.headers["content-type"].startswith("multipart/form-data")
    assert b'name="input_reference"; filename="first-frame.png"' in sent.value.post_data_buffer

    expect(page.locator("#job-status")).to_have_text("Completed", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-params")).to_contain_text("yes, fitted by crop")
    page.wait_for_function("() => document.getElementById('player').readyState >= 2", timeout=JOB_TIMEOUT)

    page.get_by_role("button", name="Remove").first.click()
    expect(preview).to_be_hidden()
    visit.assert_clean()


def test_remix_download_and_delete_a_video(visit, server):
    page = visit.open()
    page.get_by_label("Prompt", exact=True).fill("a cyan square moving down")
    page.get_by_label("Size", exact=True).select_option("256x256")
    source = _submit(page)
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=JOB_TIMEOUT)

    page.get_by_role("button", name="Remix", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("New prompt").fill("an orange square moving down")
    with page.expect_response(lambda r: r.url.endswith(f"/v1/videos/{source['id']}/remix")) as remixed:
        dialog.get_by_role("button", name="Start", exact=True).click()
    remix = remixed.value.json()
    expect(dialog).to_be_hidden()
    expect(page.locator("#job-id")).to_have_text(remix["id"])
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=JOB_TIMEOUT)
    expect(page.locator("#job-params")).to_contain_text(f"Remix of{source['id']}")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download MP4", exact=True).click()
    assert download.value.suggested_filename == f"{remix['id']}.mp4"
    assert _decode(Path(download.value.path()).read_bytes())[0] == remix["num_frames"]

    delete = page.locator("#act-delete")
    delete.click()  # the first press only asks
    expect(delete).to_have_text("Press again to delete")
    assert httpx.get(f"{server.base_url}/v1/videos/{remix['id']}").status_code == 200
    delete.click()
    expect(page.locator(f"#gallery .card[data-id='{remix['id']}']")).to_have_count(0)
    expect(page.locator("#job-empty")).to_be_visible()
    assert httpx.get(f"{server.base_url}/v1/videos/{remix['id']}").status_code == 404
    visit.assert_clean()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    """A server with an API key and no worker: its jobs stay queued."""
    data = tmp_path_factory.mktemp("playground-keyed")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["keys", "create", "--data-dir", str(data), "--name", "pat", "--unlimited"]) == 0
    live = LiveServer(data, workers=0).start()
    yield live, out.getvalue().strip()
    live.stop()


def test_an_api_key_is_asked_for_kept_and_forgotten(keyed_server, browser):
    server, key = keyed_server
    context = browser.new_context(viewport=DESKTOP)
    v = Visit(context.new_page(), server.base_url)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server.base_url)
                  else (v.left.append(r.request.url), r.abort()))
    v.page.on("console", lambda msg: v.errors.append((msg.text, "")) if msg.type == "error" else None)
    page = v.page
    page.goto(server.base_url + "/")
    key_error = page.locator("[data-error-for='api_key']")
    expect(key_error).to_contain_text("API key")  # the server's 401 message, beside the key field
    expect(page.get_by_label("API key")).to_be_focused()

    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#model option[value='reelforge-tiny']")).to_be_attached()
    expect(key_error).to_be_hidden()
    expect(page.locator("#gallery-empty")).to_be_visible()  # this account has no videos yet
    assert page.evaluate("localStorage.getItem('reelforge.apiKey')") == key

    page.reload()  # the key is remembered: the page works at once
    expect(page.get_by_label("API key")).to_have_value(key)
    expect(page.locator("#gallery")).not_to_have_attribute("aria-busy", "true")
    page.get_by_label("Prompt", exact=True).fill("a purple circle standing still")
    video = _submit(page)  # no worker: it waits in the queue, and the page says so
    expect(page.locator("#job-status")).to_have_text("Queued")
    expect(page.locator("#job-eta")).to_have_text("waiting for a worker")
    expect(page.locator(f"#gallery .card[data-id='{video['id']}'] .badge")).to_have_text("Queued")

    page.get_by_role("button", name="Forget").click()
    expect(key_error).to_contain_text("API key")
    expect(page.locator("#gallery .card")).to_have_count(0)  # nothing the key showed stays
    assert page.evaluate("localStorage.getItem('reelforge.apiKey')") is None
    v.assert_clean(allowed_errors=("the server responded with a status of 401",))
    context.close()


def test_a_validation_error_shows_beside_its_field(visit):
    page = visit.open()
    before = page.locator("#gallery .card").count()
    page.get_by_label("Prompt", exact=True).fill("a yellow star moving down")
    page.get_by_label("Size", exact=True).select_option("256x256")
    page.get_by_label("Seed", exact=True).fill("4294967296")
    page.get_by_role("button", name="Generate").click()

    error = page.locator("[data-param='seed'] > .error")
    expect(error).to_have_text("Invalid seed 4294967296: seed (or -1 for random) must be between 0 and 4294967295.")
    expect(error).to_be_visible()
    seed = page.get_by_label("Seed", exact=True)
    expect(seed).to_have_attribute("aria-invalid", "true")
    expect(seed).to_be_focused()
    assert seed.get_attribute("aria-describedby").split()[-1] == error.get_attribute("id")

    # Fixed, the next problem shows beside its own field and the first one's message goes.
    page.get_by_role("button", name="Pick a random seed").click()
    page.get_by_label("frames", exact=True).check()
    page.get_by_label("Frames", exact=True).fill("999")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-param='num_frames'] > .error")).to_contain_text("Invalid num_frames 999")
    expect(error).to_be_hidden()
    expect(seed).not_to_have_attribute("aria-invalid", "true")
    assert page.locator("#gallery .card").count() == before  # nothing was queued
    visit.assert_clean(allowed_errors=("the server responded with a status of 400",))
