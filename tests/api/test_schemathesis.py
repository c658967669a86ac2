"""Schemathesis fuzzes the OpenAPI document against a live server: every operation, every phase
(examples, coverage, fuzzing, stateful), all checks, a fixed seed and a fixed number of examples.

The server runs keyed (a metered key with plenty of credits and no rate limit, made with the CLI), so
the auth checks have something to enforce and creates are priced and charged; with no worker, created
jobs stay queued. The few checks tuned for this API, and why, are in schemathesis.toml beside this file.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveServer

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261201
# Per operation and phase: about 4,800 requests in under 2 minutes on a 2-core machine.
MAX_EXAMPLES = 100
PHASES = "examples,coverage,fuzzing,stateful"


def _create_key(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELFORGE_")}
    out = subprocess.run(
        [sys.executable, "-m", "reelforge.cli", "keys", "create", "--name", "schemathesis", "--credits", "1000000000",
         "--rate-limit", "unlimited", "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.slow
def test_openapi_contract_holds_under_fuzzing(tmp_path):
    data_dir = tmp_path / "data"
    key = _create_key(data_dir)
    server = LiveServer(data_dir, workers=0).start()
    report = tmp_path / "requests.har"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
             server.base_url + "/openapi.json", "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
             # No --checks flag: every check runs by default, and a flag would override the two that
             # schemathesis.toml turns off for Vyro's documented 400-for-a-missing-token.
             "--phases", PHASES, "--report", "har", "--report-har-path", str(report),
             "--no-color"],
            env={**os.environ, "REELFORGE_FUZZ_KEY": key}, capture_output=True, text=True, timeout=600, check=False)
    finally:
        server.stop()
    output = run.stdout + run.stderr
    entries = json.loads(report.read_text())["log"]["entries"] if report.exists() else []
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    server_errors = [f"{e['request']['method']} {e['request']['url']} -> {e['response']['status']}"
                     for e in entries if e["response"]["status"] >= 500]
    print(f"schemathesis: {len(entries)} requests, seed {SEED}, {MAX_EXAMPLES} examples per operation and phase; "
          f"statuses {dict(sorted(statuses.items()))}")
    print(output[-3000:])
    assert entries, output[-5000:]
    assert not server_errors, "\n".join(server_errors[:20]) + "\n" + server.log()
    assert run.returncode == 0, output[-20000:]
