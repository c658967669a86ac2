"""Webhook delivery end to end with real parts: jobs ended through a real SQLite JobStore put the
deliveries in the outbox, a started Deliverer works them off, and real local receivers answer per a
script. Schedules are compressed to fractions of a second; gaps are asserted only from below."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from reelforge.errors import InvalidRequest
from reelforge.jobs import JobSpec, Task
from reelforge.service.webhooks import WebhookService
from reelforge.settings import Settings
from reelforge.store import Delivery, JobStore, Outbox, WebhookEndpoints
from tests.live import LiveServer
from tests.media.test_urlpost import FETCHER_REFUSED
from tests.receiver import Receiver

SPEC = JobSpec(
    model="reelforge-tiny", task=Task.T2V, prompt="a red fox in the snow", seed=7, num_inference_steps=4,
    guidance_scale=5.0, fps=8, num_frames=17, width=64, height=64, seconds=2,
)
ACCOUNT = "acct_a"
BOTH = ["video.completed", "video.failed"]
PUBLIC_IP = "93.184.216.34"  # resolves nowhere here, but the SSRF rules judge it public


def render_openai(d: Delivery) -> dict:
    """The thin OpenAI event of API-COMPAT §2.6 (in the server the API's dialect renders it)."""
    return {"id": d.event_id, "object": "event", "created_at": int(d.created_at), "type": d.event_type,
            "data": {"id": f"video_{d.job_id}"}}


def render_novita(d: Delivery) -> dict:
    return {"event_type": d.event_type, "payload": {"task": {"task_id": d.job_id}}}


@pytest.fixture
def store(tmp_path):
    s = JobStore(f"sqlite:///{tmp_path}/jobs.sqlite3")
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def make_service(store):
    """``make(**settings)``: a WebhookService whose Deliverer runs (stopped at the end of the test)."""
    running = []

    def make(start: bool = True, **overrides) -> WebhookService:
        values = {"webhook_allow_hosts": "127.0.0.1", "webhook_retry_schedule": "0.3,0.6", "webhook_timeout": 5.0,
                  **overrides}
        service = WebhookService(store, Settings(values, environ={}))
        service.deliverer.renderers.update(openai=render_openai, novita=render_novita)
        if start:
            service.deliverer.start()
            running.append(service.deliverer)
        return service

    yield make
    for deliverer in running:
        deliverer.stop()


def end_job(store, status="completed", *, account=ACCOUNT, extras=None):
    job = store.create(SPEC.replace(extras=extras or {}), account=account)
    worker = f"w-{uuid.uuid4().hex[:6]}"
    assert store.claim(worker, 30).id == job.id
    if status == "completed":
        assert store.complete(job.id, worker, {"artifacts": {}})
    elif status == "failed":
        assert store.fail(job.id, worker, "generation_failed", "boom")
    else:
        store.request_cancel(job.id)
        assert store.mark_cancelled(job.id, worker)
    return job


def settled(store, job_id: str, timeout: float = 20.0) -> list[Delivery]:
    """The job's deliveries once none is pending any more."""
    outbox = Outbox(store)
    deadline = time.monotonic() + timeout
    while True:
        got = [d for d in outbox.list(ACCOUNT, limit=100)[0] if d.job_id == job_id]
        if got and all(d.status != "pending" for d in got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries of {job_id} still pending: {got}")
        time.sleep(0.05)


def verify(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def attempts(store, delivery_id):
    return [(a.number, a.status_code) for a in Outbox(store).attempts(delivery_id)]


# --- retries ---


def test_500_twice_then_200_delivers_the_same_webhook_id_on_the_schedule(store, make_service):
    service = make_service()
    with Receiver([500, 500], then=200) as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store)
        first, second, third = receiver.wait_for(3)
        (delivery,) = settled(store, job.id)

    assert {r.headers["webhook-id"] for r in (first, second, third)} == {delivery.id}
    assert first.body == second.body == third.body  # rendered once, sent byte for byte each time
    for request in (first, second, third):
        event = verify(endpoint.secret, request)
        assert (event["type"], event["data"], event["object"]) == ("video.completed", {"id": f"video_{job.id}"},
                                                                  "event")
        assert event["id"] == delivery.event_id
    # The waits after each failed attempt follow "0.3,0.6".
    assert second.at - first.at >= 0.3
    assert third.at - second.at >= 0.6
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert attempts(store, delivery.id) == [(1, 500), (2, 500), (3, 200)]
    recorded = Outbox(store).attempts(delivery.id)
    assert recorded[1].started_at - recorded[0].started_at >= 0.3
    assert recorded[2].started_at - recorded[1].started_at >= 0.6
    assert [a.error for a in recorded] == ["HTTP 500", "HTTP 500", None]
    # The owner sees the same record through the service.
    seen, seen_attempts = service.delivery(ACCOUNT, delivery.id)
    assert seen.status == "delivered" and len(seen_attempts) == 3


def test_an_exhausted_schedule_fails_the_delivery(store, make_service):
    service = make_service(webhook_retry_schedule="0.1,0.1")
    with Receiver(then=503) as receiver:
        service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store, "failed")
        (delivery,) = settled(store, job.id)
        assert len(receiver.requests) == 3
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "HTTP 503")
    assert delivery.next_attempt_at is None and delivery.finished_at is not None
    assert attempts(store, delivery.id) == [(1, 503), (2, 503), (3, 503)]
    assert json.loads(receiver.requests[0].body)["type"] == "video.failed"


def test_an_unreachable_receiver_is_retried_and_then_failed(store, make_service):
    service = make_service(webhook_retry_schedule="0.1")
    with Receiver() as receiver:
        url = receiver.url()
    service.create(ACCOUNT, name="hook", url=url, event_types=BOTH)  # nothing listens there any more
    job = end_job(store)
    (delivery,) = settled(store, job.id)
    assert delivery.status == "failed" and attempts(store, delivery.id) == [(1, None), (2, None)]
    assert "could not connect" in delivery.last_error


@pytest.mark.parametrize("status", [429, 504])
def test_throttling_answers_wait_for_retry_after(store, make_service, status):
    service = make_service(webhook_retry_schedule="0.1")
    with Receiver([(status, {"Retry-After": "1"})], then=200) as receiver:
        service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store)
        first, second = receiver.wait_for(2)
        (delivery,) = settled(store, job.id)
    assert second.at - first.at >= 1.0  # Retry-After, not the schedule's 0.1
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.id
    assert attempts(store, delivery.id) == [(1, status), (2, 200)]


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(store, make_service):
    service = make_service(webhook_retry_schedule="0.2")
    with Receiver() as elsewhere, Receiver([(307, {"Location": elsewhere.url("/stolen")})], then=200) as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store)
        first, second = receiver.wait_for(2)
        (delivery,) = settled(store, job.id)
        assert elsewhere.requests == []
    assert second.at - first.at >= 0.2
    verify(endpoint.secret, second)
    recorded = Outbox(store).attempts(delivery.id)
    assert [(a.status_code, a.error is not None) for a in recorded] == [(307, True), (200, False)]
    assert "not followed" in recorded[0].error
    assert delivery.status == "delivered"


# --- 410 ---


def test_410_disables_the_endpoint_and_later_events_are_not_delivered(store, make_service):
    service = make_service()
    with Receiver([410], then=200) as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store)
        (delivery,) = settled(store, job.id)
        assert (delivery.status, attempts(store, delivery.id)) == ("failed", [(1, 410)])  # no retry after 410
        disabled = WebhookEndpoints(store).get(endpoint.id, ACCOUNT)
        assert disabled.status == "disabled" and "410" in disabled.disabled_reason

        # A later job's end finds no active endpoint: nothing is even enqueued.
        later = end_job(store, "failed")
        assert service.deliveries(ACCOUNT, job_id=later.id)[0] == []
        # A delivery already in the outbox for it (a retry, a test event) is not sent either.
        stale = Outbox(store).add(ACCOUNT, endpoint.url, "openai", "video.completed", payload={"x": 1},
                                  endpoint_id=endpoint.id, job_id=later.id)
        deadline = time.monotonic() + 20
        while Outbox(store).get(stale.id).status == "pending":
            assert time.monotonic() < deadline, "the stale delivery was never worked off"
            time.sleep(0.05)
        stale = Outbox(store).get(stale.id)
        assert stale.status == "failed" and "disabled" in stale.last_error
        assert len(receiver.requests) == 1

        # Its owner turns it back on: deliveries resume.
        service.update(ACCOUNT, endpoint.id, status="active")
        again = end_job(store)
        (resumed,) = settled(store, again.id)
        assert resumed.status == "delivered" and len(receiver.requests) == 2


def test_a_deleted_endpoints_pending_delivery_is_not_sent(store, make_service):
    service = make_service(start=False)
    with Receiver() as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        job = end_job(store)
        service.delete(ACCOUNT, endpoint.id)
        service.deliverer.start()
        try:
            (delivery,) = settled(store, job.id)
        finally:
            service.deliverer.stop()
        assert receiver.requests == []
    assert delivery.status == "failed" and "deleted" in delivery.last_error


# --- signatures ---


def test_a_rotated_secret_in_its_grace_period_signs_alongside_the_new_one(store, make_service):
    service = make_service(webhook_rotation_grace=3600.0)
    with Receiver() as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        rotated = service.rotate_secret(ACCOUNT, endpoint.id, keep_old_secret=True)
        end_job(store)
        (request,) = receiver.wait_for(1)
    assert rotated.secret != endpoint.secret
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert verify(endpoint.secret, request) == verify(rotated.secret, request)


def test_a_rotation_without_grace_signs_with_the_new_secret_only(store, make_service):
    service = make_service()
    with Receiver() as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        rotated = service.rotate_secret(ACCOUNT, endpoint.id, keep_old_secret=False)
        end_job(store)
        (request,) = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    verify(rotated.secret, request)
    with pytest.raises(WebhookVerificationError):
        verify(endpoint.secret, request)


def test_each_subscribed_endpoint_gets_its_own_signed_delivery(store, make_service):
    service = make_service()
    with Receiver() as a, Receiver() as b:
        ea = service.create(ACCOUNT, name="a", url=a.url("/a"), event_types=BOTH)
        eb = service.create(ACCOUNT, name="b", url=b.url("/b"), event_types=["video.failed"])
        end_job(store, "completed")
        job = end_job(store, "cancelled")
        (ra1, ra2), (rb,) = a.wait_for(2), b.wait_for(1)
        settled(store, job.id)
        assert len(b.requests) == 1  # b does not subscribe to video.completed
    assert sorted(verify(ea.secret, r)["type"] for r in (ra1, ra2)) == ["video.completed", "video.failed"]
    event = verify(eb.secret, rb)
    assert (event["type"], event["data"]) == ("video.failed", {"id": f"video_{job.id}"})
    with pytest.raises(WebhookVerificationError):
        verify(ea.secret, rb)
    assert rb.headers["webhook-id"] not in {ra1.headers["webhook-id"], ra2.headers["webhook-id"]}


def test_a_per_request_webhook_is_signed_with_the_accounts_secret(store, make_service):
    service = make_service()
    with Receiver() as receiver:
        job = end_job(store, extras={"webhook": {"url": receiver.url("/novita")}})
        (request,) = receiver.wait_for(1)
    assert verify(service.account_secret(ACCOUNT), request) == {"event_type": "ASYNC_TASK_RESULT",
                                                               "payload": {"task": {"task_id": job.id}}}


# --- SSRF ---


def test_every_form_the_fetcher_refuses_is_refused_at_registration_and_on_update(make_service):
    service = make_service(start=False, webhook_allow_hosts="")
    endpoint = service.create(ACCOUNT, name="hook", url=f"https://{PUBLIC_IP}/hook", event_types=BOTH)
    accepted = []
    for url in FETCHER_REFUSED:  # one store for all of them: a parametrised test would migrate one each
        for attempt in (lambda: service.create(ACCOUNT, name="hook", url=url, event_types=BOTH),
                        lambda: service.update(ACCOUNT, endpoint.id, url=url)):
            try:
                attempt()
            except InvalidRequest as exc:
                assert exc.param == "url", (url, exc)
            else:
                accepted.append(url)
    assert accepted == []
    assert [e.id for e in service.list(ACCOUNT)[0]] == [endpoint.id]
    assert service.get(ACCOUNT, endpoint.id).url == f"https://{PUBLIC_IP}/hook"


@contextmanager
def receiver_on_port_80():
    """A receiver where a standard-port URL on loopback would land, or None where port 80 is not ours:
    with it, "nothing reached the receiver" means the refusal stopped a POST that would have arrived."""
    try:
        receiver = Receiver(port=80)
    except OSError:
        yield None
        return
    with receiver:
        yield receiver


def assert_refused_at_delivery(store, job_id, receiver):
    (delivery,) = settled(store, job_id)
    recorded = Outbox(store).attempts(delivery.id)
    assert delivery.status == "failed" and len(recorded) == 2  # refusals are retried on the schedule, then fail
    for attempt in recorded:
        assert attempt.status_code is None
        assert attempt.error.startswith("refused:") and "resolves to 127.0.0.1, a loopback address" in attempt.error
    if receiver is not None:
        assert receiver.requests == []


def test_a_receiver_url_that_resolves_to_loopback_by_delivery_time_is_refused(store, make_service):
    """Registered while the URL passed; by delivery its name resolves to loopback. (The row is
    changed in the store, as a registration made back when the name resolved publicly would be.)"""
    service = make_service(webhook_retry_schedule="0.1")
    endpoint = service.create(ACCOUNT, name="hook", url=f"http://{PUBLIC_IP}/hook", event_types=BOTH)
    WebhookEndpoints(store).update(endpoint.id, ACCOUNT, url="http://localhost/hook")
    with receiver_on_port_80() as receiver:
        job = end_job(store)
        assert_refused_at_delivery(store, job.id, receiver)


@pytest.fixture
def hosts_file():
    """``point(name, ip)``: make ``name`` resolve to ``ip`` through /etc/hosts (restored after),
    i.e. a DNS answer that really changes under the running code."""
    path = Path("/etc/hosts")
    try:
        original = path.read_text()
        with path.open("a"):
            pass
    except OSError:
        pytest.skip("/etc/hosts is not writable here")
    names: dict[str, str] = {}

    def point(name: str, ip: str) -> None:
        names[name] = ip
        lines = "".join(f"{address} {host}\n" for host, address in names.items())
        with path.open("r+") as f:  # in place: /etc/hosts is often a bind mount that cannot be replaced
            f.write(original.rstrip("\n") + "\n" + lines)
            f.truncate()

    yield point
    with path.open("r+") as f:
        f.write(original)
        f.truncate()


def test_a_name_rebound_to_loopback_after_registration_is_refused_at_delivery(store, make_service, hosts_file):
    name = f"hooks-{uuid.uuid4().hex[:8]}.reelforge.test"
    hosts_file(name, PUBLIC_IP)
    assert socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)[0][4][0] == PUBLIC_IP
    service = make_service(webhook_retry_schedule="0.1")
    endpoint = service.create(ACCOUNT, name="hook", url=f"http://{name}/hook", event_types=BOTH)  # public: allowed
    hosts_file(name, "127.0.0.1")
    with receiver_on_port_80() as receiver:
        job = end_job(store)
        assert_refused_at_delivery(store, job.id, receiver)
    assert service.get(ACCOUNT, endpoint.id).status == "active"  # a refusal is not the receiver's 410


def test_only_the_allowed_name_reaches_a_private_receiver(store, make_service):
    """webhook_allow_hosts=127.0.0.1 lets that host through, not another name for the same address."""
    service = make_service(webhook_retry_schedule="0.1")
    with Receiver() as receiver:
        endpoint = service.create(ACCOUNT, name="hook", url=receiver.url(), event_types=BOTH)
        with pytest.raises(InvalidRequest):
            service.update(ACCOUNT, endpoint.id, url=receiver.url(host="localhost"))
        job = end_job(store)
        (delivery,) = settled(store, job.id)
        assert delivery.status == "delivered"
        assert receiver.requests[0].headers["host"] == f"127.0.0.1:{receiver.port}"


# --- one slow receiver ---


def test_a_slow_receiver_does_not_hold_up_other_deliveries(store, make_service):
    release = threading.Event()
    hung = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hold():
        conn, _ = hung.accept()
        accepted.append(conn)
        release.wait(30)
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    service = make_service(webhook_timeout=30.0)
    try:
        with Receiver() as fast:
            service.create(ACCOUNT, name="slow", url=f"http://127.0.0.1:{hung.getsockname()[1]}/", event_types=BOTH)
            service.create(ACCOUNT, name="fast", url=fast.url(), event_types=BOTH)
            end_job(store)
            fast.wait_for(1)
            later = end_job(store)
            fast.wait_for(2, timeout=10)  # while the slow POST of the first job is still waiting
            assert accepted and not release.is_set()
            assert json.loads(fast.requests[1].body)["data"] == {"id": f"video_{later.id}"}
    finally:
        release.set()
        hung.close()


# --- durability across a SIGKILL of the server ---


def test_a_delivery_pending_when_the_server_is_killed_is_delivered_after_the_restart(tmp_path):
    data = tmp_path / "data"
    args = ("--webhook-allow-hosts", "127.0.0.1", "--webhook-retry-schedule", "3")
    store = JobStore(Settings({"data_dir": str(data)}, environ={}).database_url)
    store.migrate()
    outbox = Outbox(store)
    with Receiver([500], then=200) as receiver:
        server = LiveServer(data, workers=0, args=args).start()
        try:
            endpoint = _create_endpoint(server, store, receiver.url())
            job = end_job(store, account=endpoint["account"])  # the job's end puts the delivery in the outbox
            (first,) = receiver.wait_for(1)
            deadline = time.monotonic() + 20
            while not outbox.attempts(first.headers["webhook-id"]):
                assert time.monotonic() < deadline, f"the first attempt was never recorded\n{server.log()}"
                time.sleep(0.05)
        finally:
            server.kill()  # well within the 3 s before the retry
        (pending,) = [d for d in outbox.list(endpoint["account"])[0] if d.job_id == job.id]
        assert (pending.status, pending.attempts, pending.last_status_code) == ("pending", 1, 500)
        assert len(receiver.requests) == 1

        server = LiveServer(data, workers=0, args=args).start()
        try:
            _, second = receiver.wait_for(2, timeout=30)
        finally:
            server.stop()
        delivered = outbox.get(pending.id)
    store.close()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == pending.id
    assert first.body == second.body
    assert Webhook(endpoint["secret"]).verify(second.body, second.headers)["data"] == {"id": f"video_{job.id}"}
    assert (delivered.status, [(a.number, a.status_code) for a in outbox.attempts(pending.id)]) == (
        "delivered", [(1, 500), (2, 200)])


def _create_endpoint(server: LiveServer, store: JobStore, url: str) -> dict:
    """Through the HTTP API where it has the route; otherwise straight through the service on the
    server's own database (the account of an unauthenticated local server)."""
    response = httpx.post(f"{server.base_url}/v1/webhook_endpoints",
                          json={"name": "hook", "url": url, "event_types": BOTH})
    if response.status_code != 404:
        assert response.status_code == 200, response.text
        body = response.json()
        return {"account": WebhookEndpoints(store).find(body["id"]).account, "secret": body["signing_secret"]}
    service = WebhookService(store, Settings({"webhook_allow_hosts": "127.0.0.1"}, environ={}))
    endpoint = service.create("local", name="hook", url=url, event_types=BOTH)
    return {"account": endpoint.account, "secret": endpoint.secret}
