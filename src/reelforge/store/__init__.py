"""The job store on SQLAlchemy Core: SQLite and PostgreSQL, one implementation."""

from reelforge.store.accounts import AccountStore
from reelforge.store.store import Heartbeat, JobStore, Page, RequeueResult
from reelforge.store.workers import WorkerInfo, WorkerRegistry

__all__ = ["AccountStore", "Heartbeat", "JobStore", "Page", "RequeueResult", "WorkerInfo", "WorkerRegistry"]
