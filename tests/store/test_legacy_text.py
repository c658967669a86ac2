"""A job stored before the API checked text (issue 10) can hold a lone surrogate in its prompt. SQLite
keeps it (PostgreSQL's jsonb never accepted one); reading it back must not poison the account's list."""

from __future__ import annotations

import json

from reelforge.jobs import JobSpec, Task
from reelforge.store import JobStore

SPEC = JobSpec(model="reelforge-tiny", task=Task.T2V, prompt="a cat \ud800", seed=7, num_inference_steps=4,
               guidance_scale=5.0, fps=8, num_frames=17, width=64, height=64, seconds=2)


def test_a_stored_lone_surrogate_reads_back_as_a_replacement_character(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'old.db'}")
    store.migrate()
    job = store.create(SPEC, account="acct_1")
    page = store.list("acct_1", after=None, limit=10, order="desc")
    for got in (store.get(job.id), page.jobs[0]):
        assert got.spec.prompt == "a cat \ufffd"
        json.dumps(got.spec.to_dict(), ensure_ascii=False).encode("utf-8")  # what a response must do
    store.close()
