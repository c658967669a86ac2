"""The openai-poll-after-ms hint follows the job: the SDK's poll loop keeps the pace of its first read."""

from __future__ import annotations

import pytest

from reelforge.api.openai import poll_after_ms
from reelforge.jobs import Job, JobSpec, JobStatus, Task

SPEC = JobSpec(model="reelforge-tiny", task=Task.T2V, prompt="p", seed=0, num_inference_steps=20, guidance_scale=4.0,
               fps=8, num_frames=8, width=64, height=64, seconds=1)


@pytest.mark.parametrize(("eta_in", "hint"), [(None, "500"), (0.4, "200"), (2.0, "500"), (6.0, "1500"),
                                              (600.0, "2000"), (-3.0, "200")])
def test_the_hint_is_a_quarter_of_the_time_left_within_bounds(eta_in, hint):
    now = 1000.0
    job = Job(id="j", account="a", surface="openai", status=JobStatus.IN_PROGRESS, spec=SPEC,
              eta_at=None if eta_in is None else now + eta_in)
    assert poll_after_ms(job, now) == hint
