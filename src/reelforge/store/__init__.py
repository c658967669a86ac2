"""The job store on SQLAlchemy Core: SQLite and PostgreSQL, one implementation."""

from reelforge.store.accounts import AccountStore
from reelforge.store.characters import Character, CharacterNotFound, CharacterStore
from reelforge.store.events import Event, EventLog
from reelforge.store.outbox import Delivery, DeliveryAttempt, DeliveryNotFound, Outbox
from reelforge.store.stats import Histogram, JobStats
from reelforge.store.store import Heartbeat, JobStore, Page, RequeueResult
from reelforge.store.wakeups import Wakeups
from reelforge.store.webhooks import Endpoint, EndpointNotFound, WebhookEndpoints
from reelforge.store.workers import WorkerInfo, WorkerRegistry

__all__ = ["AccountStore", "Character", "CharacterNotFound", "CharacterStore", "Delivery", "DeliveryAttempt", "DeliveryNotFound", "Endpoint", "EndpointNotFound", "Event",
           "EventLog", "Outbox", "WebhookEndpoints", "Heartbeat", "Histogram", "JobStats", "JobStore", "Page", "RequeueResult", "Wakeups", "WorkerInfo",
           "WorkerRegistry"]
