"""The job store on SQLAlchemy Core: SQLite and PostgreSQL, one implementation."""

from reelforge.store.store import Heartbeat, JobStore, Page, RequeueResult

__all__ = ["Heartbeat", "JobStore", "Page", "RequeueResult"]
