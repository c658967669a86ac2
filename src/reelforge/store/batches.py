"""Which queued jobs may share one pipeline call, and the query that finds them.

Two jobs are compatible when everything that shapes the pipeline call is equal: the model, the
task, size, frame count, fps, steps, guidance, LoRAs, the speed tier and every family option.
What may differ is what a pipeline takes per sample: the prompt (and its style), the negative
prompt, the seed and, for image-to-video, the first frame. Anything not named per-sample must
match, so a field added to ``JobSpec`` later keeps jobs apart until someone decides otherwise.

Edits, extensions, keyframes and multi-prompt jobs run alone: each needs its own source clip,
last frame or chain of calls.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import sqlalchemy as sa

from reelforge.jobs import JobSpec, Task
from reelforge.store.tables import jobs

# Fields a batched pipeline call takes per sample, or that never reach the pipeline.
PER_SAMPLE = frozenset({"prompt", "style", "negative_prompt", "seed", "input_image", "resize_method", "title", "extras",
                        "adjustments"})
BATCHABLE_TASKS = (Task.T2V, Task.I2V)
# How many queued jobs after the oldest a claim looks at for compatible ones: the SQL already
# keeps only the same model, task, size and frame count, so this bounds a pathological queue.
SCAN_PER_SLOT = 16

# BatchLimit(spec) -> how many jobs (the first included) may run with this one; 1 means alone.
BatchLimit = Callable[[JobSpec], int]


def batch_key(spec: JobSpec) -> str | None:
    """Equal for compatible specs; None for a spec that always runs alone."""
    if spec.task not in BATCHABLE_TASKS or spec.segments or spec.last_image or spec.input_video:
        return None
    shared = {k: v for k, v in spec.to_dict().items() if k not in PER_SAMPLE}
    return json.dumps(shared, sort_keys=True, default=str)


def candidates(head: JobSpec, head_seq: int, slots: int, *, lock: bool = True) -> sa.Select:
    """Queued jobs after ``head`` that may be compatible with it, oldest first; with ``lock``, locked
    for this transaction on PostgreSQL (rows another claim holds are skipped, never waited on)."""
    spec = jobs.c.spec
    query = (
        sa.select(jobs.c.seq, jobs.c.spec)
        .where(
            jobs.c.status == "queued", jobs.c.cancel_requested == sa.false(), jobs.c.deleted == sa.false(),
            jobs.c.seq > head_seq,
            spec["model"].as_string() == head.model, spec["task"].as_string() == head.task.value,
            spec["width"].as_integer() == head.width, spec["height"].as_integer() == head.height,
            spec["num_frames"].as_integer() == head.num_frames,
        )
        .order_by(jobs.c.seq)
        .limit(SCAN_PER_SLOT * slots)
    )
    return query.with_for_update(skip_locked=True) if lock else query


def pick(head: JobSpec, rows: list[Any], slots: int) -> list[int]:
    """The seqs of the first ``slots`` rows compatible with ``head``."""
    key = batch_key(head)
    chosen: list[int] = []
    for row in rows:
        if len(chosen) == slots:
            break
        if batch_key(JobSpec.from_dict(row.spec)) == key:
            chosen.append(row.seq)
    return chosen
