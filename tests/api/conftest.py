from __future__ import annotations

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
