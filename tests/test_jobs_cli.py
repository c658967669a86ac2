"""`reelforge jobs ...` and `reelforge generate --server`, run as a user runs them (a subprocess), against a live
server: output, files written and exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import av
import httpx
import pytest

from tests.api.test_accounts import create_key
from tests.live import LiveServer, free_port

# A clip that takes the worker several seconds on a CPU, so a test can watch or cancel it mid-way.
LONG = {"prompt": "a green square moving up", "size": "720x1280", "seconds": "12", "num_inference_steps": 100}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("jobs-cli"), env={"REELFORGE_PROGRESS_INTERVAL": "0.2"}).start()
    yield srv
    srv.stop()


def reelforge(*args: str, server: LiveServer | None = None, columns: int = 100, timeout: float = 120,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
    clean.update({"COLUMNS": str(columns), "HF_HUB_OFFLINE": "1", **(env or {})})
    if server is not None:
        clean["REELFORGE_SERVER"] = server.base_url
    return subprocess.run([sys.executable, "-m", "reelforge.cli", *args], env=clean, capture_output=True, text=True,
                          timeout=timeout)


def create(server: LiveServer, **fields) -> dict:
    response = httpx.post(server.base_url + "/v1/videos", json={"prompt": "a red circle moving right", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def wait(server: LiveServer, video_id: str, *, until=lambda v: v["status"] in ("completed", "failed"),
         timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = httpx.get(f"{server.base_url}/v1/videos/{video_id}").json()
        if until(video):
            return video
        time.sleep(0.1)
    raise AssertionError(f"{video_id} did not get there in {timeout}s: {video}")


def decoded_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_generate_server_submits_follows_and_downloads(server, tmp_path):
    out = tmp_path / "clip.mp4"
    run = reelforge("generate", "a blue star moving left", "-o", str(out), "--server", server.base_url,
                    "--size", "256x256", "--seconds", "4", "--seed", "7")
    assert run.returncode == 0, run.stderr
    assert "submitted video_" in run.stderr and "100%" in run.stderr
    assert f"wrote {out} (32 frames, 256x256, 8 fps, seed 7)" in run.stderr
    assert decoded_frames(out.read_bytes()) == 32
    # It ran on the server: the job is there, with what was asked.
    video_id = run.stderr.split("submitted ")[1].split()[0]
    video = httpx.get(f"{server.base_url}/v1/videos/{video_id}").json()
    assert (video["status"], video["seed"], video["size"]) == ("completed", 7, "256x256")


def test_generate_server_reports_the_servers_validation_error(server, tmp_path):
    run = reelforge("generate", "a cat", "-o", str(tmp_path / "x.mp4"), "--server", server.base_url, "--size", "999x3")
    assert run.returncode == 2
    assert "Invalid size '999x3'" in run.stderr and "256x256" in run.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_generate_server_refuses_in_process_flags(server, tmp_path):
    run = reelforge("generate", "a cat", "-o", str(tmp_path / "x.mp4"), "--server", server.base_url,
                    "--device", "cpu")
    assert run.returncode == 2 and "--device applies in-process only" in run.stderr


def test_list_shows_newest_first_and_fits_the_terminal(server):
    first = create(server, prompt="first of the list " * 4)
    second = create(server, prompt="second of the list")
    for columns in (80, 160):
        run = reelforge("jobs", "list", server=server, columns=columns)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0].split()[:2] == ["id", "status"]
        ids = [line.split()[0] for line in lines[1:]]
        assert ids.index(second["id"]) < ids.index(first["id"])  # newest first
        assert all(len(line) <= columns for line in lines), (columns, lines)
    wide = reelforge("jobs", "list", server=server, columns=160).stdout
    assert "model" in wide.splitlines()[0] and "reelforge-tiny" in wide
    page = reelforge("jobs", "list", "--json", "--limit", "1", server=server)
    import json

    body = json.loads(page.stdout)
    assert len(body["data"]) == 1 and body["has_more"] is True
    assert "more: reelforge jobs list --after" in reelforge("jobs", "list", "--limit", "1", server=server).stderr


def test_show_prints_every_field_and_names_an_unknown_id(server):
    video = wait(server, create(server, size="256x256", seed=11)["id"])
    run = reelforge("jobs", "show", video["id"], server=server)
    assert run.returncode == 0, run.stderr
    fields = {line.split()[0]: line.split(None, 1)[1].strip() for line in run.stdout.splitlines() if line.strip()}
    assert fields["status"] == "completed" and fields["seed"] == "11" and fields["size"] == "256x256"
    missing = reelforge("jobs", "show", "video_0000", server=server)
    assert missing.returncode == 2 and "No video found with id 'video_0000'" in missing.stderr


def test_watch_follows_a_running_job_to_completion(server):
    video = create(server, **{**LONG, "seconds": "4", "num_inference_steps": 60})
    run = reelforge("jobs", "watch", video["id"], server=server)
    assert run.returncode == 0, run.stderr
    assert f"{video['id']} completed: 32 frames, 720x1280, 4 s" in run.stdout
    assert "100%" in run.stderr


def test_cancel_stops_a_running_job_and_watch_reports_it(server):
    video = create(server, **LONG)
    wait(server, video["id"], until=lambda v: v["status"] == "in_progress")
    run = reelforge("jobs", "cancel", video["id"], server=server)
    assert run.returncode == 0, run.stderr
    assert video["id"] in run.stdout and ("cancelled" in run.stdout or "cancel requested" in run.stdout)
    ended = wait(server, video["id"])
    assert ended["error"]["code"] == "cancelled"
    watch = reelforge("jobs", "watch", video["id"], server=server)
    assert watch.returncode == 1 and f"{video['id']} cancelled" in watch.stderr
    again = reelforge("jobs", "cancel", video["id"], server=server)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout


def test_download_writes_each_variant_whole(server, tmp_path):
    video = wait(server, create(server, size="256x256")["id"])
    for variant, magic in (("video", b"ftyp"), ("thumbnail", None), ("gif", b"GIF8")):
        out = tmp_path / f"out.{variant}"
        run = reelforge("jobs", "download", video["id"], "--variant", variant, "-o", str(out), server=server)
        assert run.returncode == 0, run.stderr
        served = httpx.get(f"{server.base_url}/v1/videos/{video['id']}/content", params={"variant": variant}).content
        assert out.read_bytes() == served and f"wrote {out} ({variant}, {len(served)} bytes)" in run.stdout
        if magic:
            assert magic in served[:12]
    assert decoded_frames((tmp_path / "out.video").read_bytes()) == 32
    assert list(tmp_path.glob(".*.part")) == []


def test_download_of_an_unfinished_job_is_refused_and_writes_nothing(server, tmp_path):
    video = create(server, **LONG)
    out = tmp_path / "early.mp4"
    run = reelforge("jobs", "download", video["id"], "-o", str(out), server=server)
    assert run.returncode == 2 and run.stderr.startswith("error:")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    httpx.post(f"{server.base_url}/v1/videos/{video['id']}/cancel")


def test_delete_removes_the_job(server):
    video = wait(server, create(server, size="256x256")["id"])
    run = reelforge("jobs", "delete", video["id"], server=server)
    assert run.returncode == 0 and f"deleted {video['id']}" in run.stdout
    assert reelforge("jobs", "show", video["id"], server=server).returncode == 2
    assert httpx.get(f"{server.base_url}/v1/videos/{video['id']}").status_code == 404


def test_an_unreachable_server_is_named_with_exit_3():
    url = f"http://127.0.0.1:{free_port()}"
    run = reelforge("jobs", "list", "--server", url)
    assert run.returncode == 3
    assert f"cannot reach the reelforge server at {url}" in run.stderr


def test_a_server_with_keys_needs_one_and_shows_only_its_jobs(tmp_path):
    data = tmp_path / "keyed"
    alice = create_key(data, "--name", "alice", "--unlimited")
    bob = create_key(data, "--name", "bob", "--unlimited")
    srv = LiveServer(data, workers=0).start()
    try:
        made = httpx.post(srv.base_url + "/v1/videos", json={"prompt": "alice's clip"},
                          headers={"Authorization": f"Bearer {alice}"}).json()
        nokey = reelforge("jobs", "list", server=srv)
        assert nokey.returncode == 2 and "--api-key" in nokey.stderr
        mine = reelforge("jobs", "list", "--api-key", alice, server=srv)
        assert mine.returncode == 0 and made["id"] in mine.stdout
        theirs = reelforge("jobs", "show", made["id"], server=srv, env={"REELFORGE_API_KEY": bob})
        assert theirs.returncode == 2 and "No video found" in theirs.stderr
    finally:
        srv.stop()


def test_the_client_commands_never_load_torch():
    # `reelforge jobs` runs on laptops that have no torch; it must start fast where they do.
    code = ("import sys; from reelforge.cli import build_parser; import reelforge.jobs_cli, reelforge.remote; "
            "build_parser(); print('torch' in sys.modules, 'reelforge.store' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["False", "False"], run.stderr
