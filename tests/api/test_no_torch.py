"""House rule 1: the API process never imports torch or diffusers."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_api_process_serves_requests_without_importing_torch(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from reelforge.settings import Settings
        from reelforge.store import JobStore
        from reelforge.api.app import create_app
        from reelforge.service.videos import VideoService
        import reelforge.cli, reelforge.worker.supervisor  # what `serve` imports in the API process

        settings = Settings(overrides={{"data_dir": {str(tmp_path)!r}}})
        store = JobStore(settings.database_url)
        store.migrate()
        with TestClient(create_app(service=VideoService.open(settings, store=store)), base_url="http://localhost") as c:  # open mode: a loopback Host
            v = c.post("/v1/videos", json={{"prompt": "x", "size": "256x256"}}).json()
            assert v["status"] == "queued", v
            assert c.get("/v1/videos/" + v["id"]).status_code == 200
            assert c.get("/v1/videos").status_code == 200
            assert c.get("/v1/models").status_code == 200
            assert c.delete("/v1/videos/" + v["id"]).status_code == 200
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusers", "transformers"))
        print("HEAVY", heavy)
        sys.exit(1 if heavy else 0)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY []" in proc.stdout
