"""Session fixtures shared by every test folder: a throwaway PostgreSQL, a throwaway S3 server and the tiny model."""

import os

# Before anything imports huggingface_hub (which reads this once): tests never touch the hub.
os.environ["HF_HUB_OFFLINE"] = "1"

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.pgcluster import PostgresCluster, PostgresUnavailable  # noqa: E402
from tests.s3server import S3Server, S3Unavailable  # noqa: E402
from tests.throwaway import session_server  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A superuser URL on a throwaway PostgreSQL cluster, shared by the session.

    Tests that write should make their own database with ``tests.pgcluster.create_database``.
    """
    def start() -> PostgresCluster:
        cluster = PostgresCluster()
        cluster.start()
        return cluster

    for cluster in session_server(start, PostgresUnavailable):
        yield cluster.url


@pytest.fixture
def pg_store(postgres_url):
    """A migrated JobStore on a fresh database of the session's PostgreSQL."""
    import uuid

    from reelforge.store import JobStore
    from tests.pgcluster import create_database

    store = JobStore(create_database(postgres_url, f"store_{uuid.uuid4().hex[:16]}"))
    store.migrate()
    yield store
    store.close()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder holding ``ltx-tiny-random``, built in code once and saved with ``save_pretrained``,
    so the catalog's builtin entry resolves through the production loader without a build per test."""
    from reelforge.engine.tiny_random import build_tiny_ltx

    models = tmp_path_factory.mktemp("models")
    build_tiny_ltx(models / "ltx-tiny-random")
    return models


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on loopback, shared by the session; make a bucket or prefix per test."""
    def start() -> S3Server:
        server = S3Server()
        server.start()
        return server

    yield from session_server(start, S3Unavailable)
