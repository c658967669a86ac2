"""Webhook endpoints and deliveries as an account manages them (OpenAI's /v1/webhook_endpoints).

A receiver URL passes the SSRF rules here, at registration (and on every change), and again at
each delivery (``media.urlpost``). Private receivers are allowed only by name, through
``webhook_allow_hosts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..media.urlpost import PostResult, check_receiver
from ..settings import Settings
from ..store import Delivery, DeliveryAttempt, Endpoint, JobStore, Outbox, WebhookEndpoints
from .delivery import Deliverer, new_secret

EVENT_TYPES = ("video.completed", "video.failed")
MAX_NAME = 256
MAX_PAGE = 100


@dataclass(frozen=True)
class TestResult:
    endpoint: Endpoint
    event_type: str
    delivery: Delivery
    result: PostResult

    @property
    def success(self) -> bool:
        return self.result.status_code is not None and 200 <= self.result.status_code < 300


class WebhookNotReached(InvalidRequest):
    """A test event got no HTTP answer from the endpoint's URL (refused, unreachable, timed out)."""

    code = "webhook_not_reached"

    def __init__(self, message: str):
        super().__init__(message, param="url")


class WebhookService:
    def __init__(self, store: JobStore, settings: Settings):
        self.settings = settings
        self.endpoints = WebhookEndpoints(store)
        self.outbox = Outbox(store)
        # The API sets the renderers (the bodies are its dialects') and runs it as a background task.
        self.deliverer = Deliverer(store, settings)

    # --- endpoints ---

    def create(self, account: str, *, name: Any, url: Any, event_types: Any) -> Endpoint:
        return self.endpoints.create(account, name=_name(name), url=self._url(url),
                                     event_types=_event_types(event_types), secret=new_secret())

    def get(self, account: str, endpoint_id: str) -> Endpoint:
        return self.endpoints.get(endpoint_id, account)

    def list(self, account: str, *, after: str | None = None, limit: int = 20) -> tuple[list[Endpoint], bool]:
        return self.endpoints.list(account, after=after, limit=_limit(limit))

    def update(self, account: str, endpoint_id: str, **changes: Any) -> Endpoint:
        """Change any of name, url, event_types; ``status="active"`` re-enables an endpoint a 410 disabled."""
        values: dict[str, Any] = {}
        if changes.get("name") is not None:
            values["name"] = _name(changes["name"])
        if changes.get("url") is not None:
            values["url"] = self._url(changes["url"])
        if changes.get("event_types") is not None:
            values["event_types"] = _event_types(changes["event_types"])
        if changes.get("status") is not None:
            if changes["status"] not in ("active", "disabled"):
                raise InvalidRequest(f"status must be 'active' or 'disabled', got {changes['status']!r}.",
                                     param="status")
            values["status"] = changes["status"]
        if not values:  # nothing to change: updated_at stays, as OpenAI's "unchanged updates" do
            return self.endpoints.get(endpoint_id, account)
        return self.endpoints.update(endpoint_id, account, **values)

    def delete(self, account: str, endpoint_id: str) -> Endpoint:
        return self.endpoints.delete(endpoint_id, account)

    def rotate_secret(self, account: str, endpoint_id: str, *, keep_old_secret: bool) -> Endpoint:
        """A new secret; with ``keep_old_secret`` the old one also signs for webhook_rotation_grace seconds."""
        grace = self.settings.webhook_rotation_grace if keep_old_secret else 0.0
        return self.endpoints.rotate_secret(endpoint_id, account, secret=new_secret(), grace_seconds=grace)

    def send_test(self, account: str, endpoint_id: str, event_type: Any) -> TestResult:
        """POST a sample event of ``event_type`` to the endpoint now, whatever event types it
        subscribes to, as a recorded delivery (retried like any other if the receiver fails it). Its
        body is the "openai" renderer's, with no video behind it. WebhookNotReached if no HTTP answer came."""
        endpoint = self.endpoints.get(endpoint_id, account)
        kind = _event_type(event_type, "event_type")
        # Not due: the background deliverer must not take the first attempt, whose answer is ours to report.
        delivery = self.outbox.add(account, endpoint.url, "openai", kind, endpoint_id=endpoint.id, due=False)
        result = self.deliverer.deliver_now(delivery.id)
        if result is None or result.status_code is None:
            why = result.error if result is not None else "another deliverer took it"
            raise WebhookNotReached(f"The test event to {endpoint.url} got no HTTP answer ({why}); "
                                    f"delivery {delivery.id} records the attempt.")
        return TestResult(endpoint, kind, self.outbox.get(delivery.id), result)

    def send_simulated(self, account: str, url: str, *, kind: str, event_type: str, payload: Any) -> Delivery:
        """Queue one per-request webhook whose body is ``payload`` as given (a Novita test-mode result);
        ``url`` has passed ``check_url``. Signed with the account secret, delivered by the outbox."""
        return self.outbox.add(account, url, kind, event_type, payload=payload)

    # --- deliveries ---

    def deliveries(self, account: str, *, endpoint_id: str | None = None, job_id: str | None = None,
                   after: str | None = None, limit: int = 20) -> tuple[list[Delivery], bool]:
        if endpoint_id is not None:
            self.endpoints.get(endpoint_id, account)  # a foreign or unknown endpoint is not found
        return self.outbox.list(account, endpoint_id=endpoint_id, job_id=job_id, after=after, limit=_limit(limit))

    def delivery(self, account: str, delivery_id: str) -> tuple[Delivery, list[DeliveryAttempt]]:
        delivery = self.outbox.get(delivery_id, account)
        return delivery, self.outbox.attempts(delivery.id)

    def account_secret(self, account: str) -> str:
        """The secret that signs this account's per-request webhooks (Novita's extra.webhook.url)."""
        return self.endpoints.account_secret(account, new_secret())

    def check_url(self, url: Any, param: str) -> str:
        """A per-request webhook URL, checked as an endpoint's would be."""
        return self._url(url, param)

    def _url(self, url: Any, param: str = "url") -> str:
        if not isinstance(url, str) or not url.strip():
            raise InvalidRequest(f"{param} must be a non-empty http(s) URL.", param=param)
        check_receiver(url.strip(), param=param, allow_hosts=self.settings.webhook_allow_host_set)
        return url.strip()


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidRequest(f"name must be a string of 1 to {MAX_NAME} characters, got {name!r}.", param="name")
    return name


def _event_type(value: Any, param: str) -> str:
    if value not in EVENT_TYPES:
        raise InvalidRequest(f"{param} {value!r} is not an event this server sends; allowed: {', '.join(EVENT_TYPES)}.",
                             param=param)
    return value


def _event_types(values: Any) -> list[str]:
    if not isinstance(values, list) or not values:
        raise InvalidRequest(f"event_types must be a non-empty list; allowed: {', '.join(EVENT_TYPES)}.",
                             param="event_types")
    out: list[str] = []
    for value in values:
        if _event_type(value, "event_types") not in out:
            out.append(value)
    return out


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit!r}.", param="limit")
    return limit
