"""bench/scaling.py's engine stand-in must keep overriding the worker's real per-job hook: when the
hook's signature changed (batching), the bench broke with nothing to tell, since no test runs it."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from reelforge.worker.runner import Worker

SCALING = Path(__file__).resolve().parents[2] / "bench" / "scaling.py"


def test_the_stand_in_overrides_the_workers_per_job_hook_with_its_signature():
    spec = importlib.util.spec_from_file_location("bench_scaling", SCALING)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    stand_in = module.FixedTimeWorker._execute
    assert stand_in is not Worker._execute
    assert inspect.signature(stand_in) == inspect.signature(Worker._execute)
