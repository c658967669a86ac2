"""The store fixtures: every contract test runs on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
from tests.pgcluster import create_database

from reelforge.store import JobStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/not-yet-created/jobs.sqlite3"
    # Looked up lazily so `-k sqlite` runs without starting PostgreSQL.
    server = request.getfixturevalue("postgres_url")
    return create_database(server, f"store_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def store(store_url: str):
    s = JobStore(store_url)
    s.migrate()
    yield s
    s.close()


def run_threads(n: int, target) -> list:
    """Run target(i) in n threads started together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as e:  # surfaced below: an exception in a thread must fail the test
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results
