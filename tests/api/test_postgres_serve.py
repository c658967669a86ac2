"""The same service on PostgreSQL: `serve --database postgresql+psycopg://...`."""

from __future__ import annotations

import uuid

from openai import OpenAI

from tests.live import LiveServer
from tests.pgcluster import create_database


def test_serve_on_postgresql_end_to_end(tmp_path, postgres_url, tiny_models_dir):
    url = create_database(postgres_url, f"serve_{uuid.uuid4().hex[:12]}")
    server = LiveServer(tmp_path, models_dir=tiny_models_dir, database=url, workers=2).start()
    try:
        client = OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
        jobs = [client.videos.create(prompt=f"pg {i}", size="256x256", extra_body={"num_frames": 9, "num_inference_steps": 2})
                for i in range(4)]
        done = [client.videos.poll(j.id, poll_interval_ms=100) for j in jobs]
        assert [d.status for d in done] == ["completed"] * 4
        assert len(client.videos.download_content(done[0].id).read()) > 0
        assert [v.id for v in client.videos.list(order="asc")] == [j.id for j in jobs]
    finally:
        server.stop()
