"""Public job ids that are UUIDs (Vyro, Segmind, Novita, AI/ML): one rule for writing and reading them.

Only the canonical lower-case form we hand out names a job; anything else (upper case, no dashes,
braces) is "not found", the same answer as an unknown id, so ids cannot be probed by variation.
"""

from __future__ import annotations

import re
import uuid

from ..errors import JobNotFound

PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CANONICAL = re.compile(PATTERN)


def public_uuid(job_id: str) -> str:
    """Our job id (32 hex digits) as the UUID the dialects show."""
    return str(uuid.UUID(job_id))


def job_id_from_uuid(public: str) -> str:
    """Our job id from a UUID we handed out; JobNotFound for anything else."""
    if not _CANONICAL.fullmatch(public):
        raise JobNotFound(public)
    return uuid.UUID(public).hex
