"""UUID job ids on the vendor dialects: one rule, and only the canonical form names a job."""

from __future__ import annotations

import uuid

import pytest

from reelforge.api.ids import job_id_from_uuid, public_uuid
from reelforge.errors import JobNotFound


def test_round_trip_and_only_the_canonical_form():
    job = uuid.uuid4().hex
    public = public_uuid(job)
    assert public == str(uuid.UUID(job)) and job_id_from_uuid(public) == job
    for other in (public.upper(), job, "{" + public + "}", "urn:uuid:" + public, public + " ", "nope"):
        with pytest.raises(JobNotFound):
            job_id_from_uuid(other)
