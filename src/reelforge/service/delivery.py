"""Working the webhook outbox: render, sign, POST, and decide what happens next.

Every API process (``serve``) runs one ``Deliverer``. Why there and not in the workers or in a
``reelforge deliver`` process: the bodies are the dialects' own responses (Novita's payload is its
task-result, with signed artifact links), which only the API knows how to render; a deployment
always has an API process, and several replicas share the outbox safely (claims with leases, see
``store.outbox``), so nothing else needs deploying. Workers stay free of egress to the internet.

What an answer means (Standard Webhooks): 2xx delivered; 410 Gone disables the endpoint; 429, 502
and 504 wait for ``Retry-After`` when the receiver sends one; everything else (3xx included, never
followed) waits for the next step of ``webhook_retry_schedule``; after its last step the delivery
has failed. Every POST carries ``webhook-id`` (the same on each retry), ``webhook-timestamp`` and
``webhook-signature`` (one ``v1,`` signature per active secret: two while a rotated secret's grace
period lasts).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any, Callable

from standardwebhooks import Webhook

from ..errors import describe
from ..media.urlpost import PostResult, post
from ..settings import Settings
from ..store import Delivery, EventLog, JobStore, Outbox, WebhookEndpoints
from ..store.event_wakeups import EventWakeups
from ..store.outbox import CHANNEL as OUTBOX_CHANNEL, DELIVERED, FAILED, PENDING

log = logging.getLogger("reelforge.webhooks")

# Render a delivery's body (a JSON-able payload) from its kind: set by the API, which knows the dialects.
Renderer = Callable[[Delivery], Any]
THROTTLE_STATUSES = (429, 502, 504)
MAX_RETRY_AFTER = 24 * 3600.0
POLL_SECONDS = 0.2  # how often an idle deliverer looks for due deliveries (SQLite)
PUSHED_POLL_SECONDS = 1.0  # the same where NOTIFY wakes it (PostgreSQL); also finds retries falling due
PRUNE_SECONDS = 3600.0
CONCURRENCY = 8  # POSTs in flight at once: one slow receiver must not hold up the others


def sign(delivery_id: str, timestamp: int, body: str, keys: list[str]) -> str:
    """The webhook-signature header: one ``v1,<base64 HMAC-SHA256>`` per secret, space-separated."""
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return " ".join(Webhook(secret).sign(delivery_id, when, body) for secret in keys)


class Deliverer:
    def __init__(self, store: JobStore, settings: Settings, renderers: dict[str, Renderer] | None = None):
        self.outbox = Outbox(store)
        self.endpoints = WebhookEndpoints(store)
        self.events = EventLog(store.engine)
        self.settings = settings
        self.renderers: dict[str, Renderer] = dict(renderers or {})
        self.owner = f"deliverer-{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pruned_at = 0.0
        # On PostgreSQL the transaction that ends a job notifies its account's events, and its
        # deliveries are in the outbox by then: that wakes an idle deliverer at once. The poll stays
        # as the safety net (and is all SQLite has).
        self._woken = threading.Event()
        self._wakeups = EventWakeups(store.engine, lambda _account: self._woken.set(), channel=OUTBOX_CHANNEL)
        self.poll = PUSHED_POLL_SECONDS if self._wakeups.pushed else POLL_SECONDS

    @property
    def lease_seconds(self) -> float:
        return self.settings.webhook_timeout + 30.0

    # --- the Background protocol (api.app) ---

    def start(self) -> None:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._run, name="deliverer", daemon=True)
        self._thread.start()
        self._wakeups.start()

    def stop(self) -> None:
        """Deliveries in flight finish (each is bounded by webhook_timeout); unclaimed ones wait in the outbox."""
        self._stop.set()
        self._woken.set()
        self._wakeups.stop()
        if self._thread is not None:
            self._thread.join(self.settings.webhook_timeout + 5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _run(self) -> None:
        assert self._pool is not None
        in_flight: set[Future[Any]] = set()
        while not self._stop.is_set():
            in_flight = {f for f in in_flight if not f.done()}
            # Claim only what can be sent now, and claim again as soon as any POST is done: waiting
            # for a whole batch would let one slow receiver hold up every other delivery.
            room = CONCURRENCY - len(in_flight)
            try:
                self._prune()
                claimed = self.outbox.claim(self.owner, lease_seconds=self.lease_seconds, limit=room) if room else []
            except Exception:  # the store went away for a moment: the outbox keeps everything, try again
                log.exception("working the webhook outbox failed; retrying")
                claimed = []
            in_flight.update(self._pool.submit(self._deliver_logged, d) for d in claimed)
            if claimed and len(claimed) == room:
                continue  # more may be due already
            if len(in_flight) >= CONCURRENCY:
                wait(in_flight, timeout=self.poll, return_when=FIRST_COMPLETED)
            else:
                self._woken.wait(self._idle_wait())
                self._woken.clear()

    def _idle_wait(self) -> float:
        """Until the next wake-up, the poll, or the earliest retry falling due, whichever is first."""
        if not self._wakeups.pushed:
            return self.poll
        try:
            due = self.outbox.next_due()
        except Exception:  # the store is away: the next loop logs it
            return self.poll
        return self.poll if due is None else min(self.poll, max(0.01, due - time.time()))

    def _deliver_logged(self, delivery: Delivery) -> None:
        try:
            self.deliver(delivery)
        except Exception:  # its lease lapses and the delivery is tried again; nothing is lost
            log.exception("webhook delivery %s failed unexpectedly; it will be retried", delivery.id)

    def _prune(self) -> None:
        now = time.time()
        if now - self._pruned_at < PRUNE_SECONDS:
            return
        self._pruned_at = now
        horizon = now - self.settings.event_retention
        self.events.prune(horizon)
        self.outbox.prune(horizon)

    # --- one delivery ---

    def deliver_now(self, delivery_id: str) -> PostResult | None:
        """Make the next attempt of ``delivery_id`` here and now (a test event); None if another
        deliverer holds it."""
        claimed = self.outbox.claim(self.owner, lease_seconds=self.lease_seconds, delivery_id=delivery_id)
        return self.deliver(claimed[0]) if claimed else None

    def deliver(self, delivery: Delivery) -> PostResult:
        """One attempt of a claimed delivery, recorded with what follows from its answer."""
        started = time.time()
        keys, url, refusal = self._receiver(delivery)
        if refusal is not None:
            result = PostResult(None, None, refusal)
            self._finish(delivery, started, result, FAILED)
            return result
        try:
            body = delivery.body or self.outbox.freeze_body(delivery.id, self._render(delivery))
        except Exception as exc:  # nothing to send (the job is gone): retrying cannot fix it
            result = PostResult(None, None, f"could not render the event: {describe(exc)}")
            self._finish(delivery, started, result, FAILED)
            return result
        timestamp = int(time.time())
        headers = {"webhook-id": delivery.id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(delivery.id, timestamp, body, keys)}
        result = post(url, body.encode(), headers, timeout=self.settings.webhook_timeout,
                      allow_hosts=self.settings.webhook_allow_host_set)
        outcome, next_at = self._next(delivery, result)
        # Disable before recording the attempt: once the delivery reads as failed by a 410, its endpoint
        # is already off; a crash in between leaves the delivery leased, and its retry finds it disabled.
        if result.status_code == 410 and delivery.endpoint_id is not None:
            self.endpoints.disable(delivery.endpoint_id, f"The receiver answered 410 Gone to delivery {delivery.id}.")
        self._finish(delivery, started, result, outcome, next_at)
        return result

    def _receiver(self, delivery: Delivery) -> tuple[list[str], str, str | None]:
        """The secrets to sign with and the URL to POST to, or why nothing may be sent. An endpoint's
        URL is read now, not when the event happened: an owner who moved the receiver wants retries there."""
        if delivery.endpoint_id is None:
            return [self.endpoints.account_secret(delivery.account, new_secret())], delivery.url, None
        endpoint = self.endpoints.find(delivery.endpoint_id)
        if endpoint is None or endpoint.deleted_at is not None:
            return [], delivery.url, "the webhook endpoint was deleted"
        if endpoint.status != "active":
            return [], delivery.url, f"the webhook endpoint is disabled ({endpoint.disabled_reason or 'by its owner'})"
        return endpoint.secrets(), endpoint.url, None

    def _render(self, delivery: Delivery) -> str:
        payload = delivery.payload if delivery.payload is not None else self.renderers[delivery.kind](delivery)
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)

    def _next(self, delivery: Delivery, result: PostResult) -> tuple[str, float | None]:
        status = result.status_code
        if status is not None and 200 <= status < 300:
            return DELIVERED, None
        if status == 410:
            return FAILED, None
        delays = self.settings.webhook_retry_delays
        retry = delivery.attempts - 1  # delivery.attempts counts this one
        if retry >= len(delays):
            return FAILED, None
        wait = delays[retry]
        if status in THROTTLE_STATUSES and result.retry_after is not None:
            wait = min(result.retry_after, MAX_RETRY_AFTER)
        elif wait >= 60:
            wait *= random.uniform(0.9, 1.1)  # jitter, so receivers that came back are not hit all at once
        return PENDING, time.time() + wait

    def _finish(self, delivery: Delivery, started: float, result: PostResult, outcome: str,
                next_at: float | None = None) -> None:
        self.outbox.finish_attempt(
            delivery, self.owner, started_at=started, duration_ms=int((time.time() - started) * 1000),
            status_code=result.status_code, error=result.error, outcome=outcome, next_attempt_at=next_at)
        if outcome == FAILED:
            log.warning("webhook delivery %s to %s failed for good after %d attempts: %s",
                        delivery.id, delivery.url, delivery.attempts, result.error)


def new_secret() -> str:
    """A Standard Webhooks secret: 32 random bytes (256 bits), base64, with the whsec_ prefix."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
