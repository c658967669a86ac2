"""OpenAI's webhook endpoints, so the official SDK's ``client.webhooks.*`` works unchanged
(API-COMPAT.md §2.6, §2.6a), and the extension routes an account reads its deliveries with.

SDK: ``POST/GET /v1/webhook_endpoints``, ``GET/POST/DELETE /v1/webhook_endpoints/{id}``,
``POST .../{id}/rotate_secret``, ``POST .../{id}/test`` and ``GET /v1/webhook_event_types``. The
signing secret is shown only by create and rotate_secret; every other view has ``signing_secret_hint``.
Extensions: ``status`` and ``disabled_reason`` on an endpoint (a receiver that answered 410 Gone
disabled it; ``update(status="active")`` re-enables it), ``GET .../{id}/deliveries``,
``GET /v1/webhook_deliveries`` (every delivery of the account, per-request webhooks included) and
``GET /v1/webhook_deliveries/{id}`` with its attempts, and Replicate's
``GET /v1/webhooks/default/secret``: the account secret that signs per-request webhooks (Novita's
``extra.webhook.url``). Another account's endpoint or delivery is not found (404).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ..accounts import Account
from ..service.videos import VideoService
from ..service.webhooks import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint
from . import contract
from .auth import creator, reader
from .deps import service
from .forms import WireModel, parse_fields, read_body
from .openai import ID_PREFIX, job_id
from .openai_schemas import ErrorEnvelope

router = APIRouter(prefix="/v1", tags=["webhooks"])
_EVENT_TYPE = {"type": "string", "enum": list(EVENT_TYPES)}


# --- wire -> service ---------------------------------------------------------------------------


class _Body(WireModel):
    model_config = ConfigDict(extra="ignore")  # the SDK's extra_body may carry fields we do not know


class CreateEndpointBody(_Body):
    name: str = Field(description="A human-readable name for the endpoint.")
    url: str = Field(description="The URL that receives deliveries: public http(s), or a host named in "
                                 "webhook_allow_hosts.")
    event_types: list[str] = Field(description="The events that trigger deliveries.",
                                   json_schema_extra={"items": dict(_EVENT_TYPE), "minItems": 1})


class UpdateEndpointBody(_Body):
    name: str | None = None
    url: str | None = None
    event_types: list[str] | None = Field(None, json_schema_extra={"items": dict(_EVENT_TYPE), "minItems": 1})
    status: Literal["active", "disabled"] | None = Field(
        None, description="Extension: 'active' re-enables an endpoint that a 410 Gone disabled.")


class RotateSecretBody(_Body):
    keep_old_secret_active_for_24_hours: bool = Field(
        False, description="Keep signing with the previous secret too, for webhook_rotation_grace seconds "
                           "(24 h by default); false invalidates it at once.")


class TestEndpointBody(_Body):
    event_type: str = Field(description="The event type of the sample delivery.", json_schema_extra=dict(_EVENT_TYPE))


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    return parse_fields(model, data, missing="Missing required parameter: '{param}'.",
                        missing_code="missing_required_parameter", invalid="Invalid value {value} for '{param}': {msg}.")


# --- service -> wire ---------------------------------------------------------------------------


def _when(t: float | None) -> int | None:
    return int(t) if t is not None else None


def render_endpoint(endpoint: Endpoint, *, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "created_at": int(endpoint.created_at),
        "updated_at": _when(endpoint.updated_at),
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "signing_secret_hint": "whsec_..." + endpoint.secret[-4:],
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
    }
    if with_secret:
        out["signing_secret"] = endpoint.secret
    return out


def render_delivery(delivery: Delivery, attempts: list[DeliveryAttempt] | None = None) -> dict[str, Any]:
    out = {
        "id": delivery.id,
        "object": "webhook_delivery",
        "webhook_endpoint_id": delivery.endpoint_id,
        "url": delivery.url,
        "kind": delivery.kind,
        "event_type": delivery.event_type,
        "event_id": delivery.event_id,
        "video_id": ID_PREFIX + delivery.job_id if delivery.job_id else None,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        "next_attempt_at": _when(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": int(delivery.created_at),
        "finished_at": _when(delivery.finished_at),
    }
    if attempts is not None:
        out["body"] = delivery.body
        out["attempts"] = [{"number": a.number, "started_at": a.started_at, "duration_ms": a.duration_ms,
                            "status_code": a.status_code, "error": a.error} for a in attempts]
    return out


# --- the wire shapes, for the OpenAPI document -------------------------------------------------


class WebhookEndpoint(BaseModel):
    id: str = Field(pattern=r"^we_")
    object: Literal["webhook_endpoint"]
    created_at: int
    updated_at: int | None
    name: str
    url: str
    event_types: list[str]
    signing_secret_hint: str = Field(description="The secret's last characters, to tell secrets apart.")
    status: Literal["active", "disabled"] = Field(description="Extension: disabled after a 410 Gone, or by update.")
    disabled_reason: str | None = Field(description="Extension: why it is disabled.")


class WebhookEndpointWithSecret(WebhookEndpoint):
    signing_secret: str = Field(pattern=r"^whsec_", description="Only in create and rotate_secret answers.")


class WebhookEndpointList(BaseModel):
    object: Literal["list"]
    data: list[WebhookEndpoint]
    first_id: str | None
    last_id: str | None
    has_more: bool


class WebhookEndpointDeleted(BaseModel):
    id: str
    object: Literal["webhook_endpoint.deleted"]
    deleted: bool


class WebhookEndpointTestResult(BaseModel):
    object: Literal["webhook_endpoint.test"]
    webhook_endpoint_id: str
    event_type: str
    status_code: int = Field(description="What the receiver answered.")
    success: Literal[True]
    delivery_id: str = Field(description="Extension: the recorded delivery (GET /v1/webhook_deliveries/{id}).")


class WebhookEventTypeList(BaseModel):
    object: Literal["list"]
    data: list[str]


class WebhookAttempt(BaseModel):
    number: int
    started_at: float
    duration_ms: int
    status_code: int | None = Field(description="None: no HTTP answer (refused, unreachable, timed out).")
    error: str | None


class WebhookDelivery(BaseModel):
    id: str = Field(description="Also the webhook-id header, the same on every attempt.")
    object: Literal["webhook_delivery"]
    webhook_endpoint_id: str | None = Field(description="None for a per-request webhook (Novita extra.webhook.url).")
    url: str
    kind: Literal["openai", "novita"] = Field(description="The body's shape.")
    event_type: str
    event_id: str
    video_id: str | None
    status: Literal["pending", "delivered", "failed"]
    attempt_count: int
    next_attempt_at: int | None
    last_status_code: int | None
    last_error: str | None
    created_at: int
    finished_at: int | None


class WebhookDeliveryDetail(WebhookDelivery):
    body: str | None = Field(description="The bytes every attempt sends, once the first has rendered them.")
    attempts: list[WebhookAttempt]


class WebhookDeliveryList(BaseModel):
    object: Literal["list"]
    data: list[WebhookDelivery]
    first_id: str | None
    last_id: str | None
    has_more: bool


class WebhookSecret(BaseModel):
    key: str = Field(pattern=r"^whsec_")


# --- routes ------------------------------------------------------------------------------------

_ERRORS = contract.errors(ErrorEnvelope, (400, 401, 404, 422, 500))
_WRITE_ERRORS = contract.errors(ErrorEnvelope, (400, 401, 404, 413, 415, 422, 429, 500))
_AUTH = contract.security()
_BY_ID = ("retrieve_webhook_endpoint", "update_webhook_endpoint", "delete_webhook_endpoint",
          "rotate_webhook_secret", "test_webhook_endpoint", "list_webhook_endpoint_deliveries")
_ENDPOINT_LINKS = contract.links("/id", "webhook_endpoint_id", *_BY_ID)


@router.post("/webhook_endpoints", summary="Create a webhook endpoint", operation_id="create_webhook_endpoint",
             responses={200: contract.ok(WebhookEndpointWithSecret, links=_ENDPOINT_LINKS), **_WRITE_ERRORS},
             openapi_extra=contract.extra(contract.body(CreateEndpointBody, example={
                 "name": "videos", "url": "https://example.com/webhooks/openai",
                 "event_types": ["video.completed", "video.failed"]}), _AUTH))
async def create_webhook_endpoint(request: Request, svc: VideoService = Depends(service),
                                  acct: Account = Depends(creator())):
    body = _parse(CreateEndpointBody, await read_body(request))
    endpoint = await run_in_threadpool(svc.webhooks.create, acct.id, name=body.name, url=body.url,
                                       event_types=body.event_types)
    return render_endpoint(endpoint, with_secret=True)


@router.get("/webhook_endpoints", summary="List webhook endpoints, newest first", operation_id="list_webhook_endpoints",
            responses={200: contract.ok(WebhookEndpointList), **_ERRORS}, openapi_extra=_AUTH)
def list_webhook_endpoints(after: str | None = None, limit: int = Query(20, ge=1, le=100),
                           svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    endpoints, has_more = svc.webhooks.list(acct.id, after=after, limit=limit)
    return contract.list_page([render_endpoint(e) for e in endpoints], has_more)


@router.get("/webhook_endpoints/{webhook_endpoint_id}", summary="Retrieve a webhook endpoint",
            operation_id="retrieve_webhook_endpoint",
            responses={200: contract.ok(WebhookEndpoint), **_ERRORS}, openapi_extra=_AUTH)
def retrieve_webhook_endpoint(webhook_endpoint_id: str, svc: VideoService = Depends(service),
                              acct: Account = Depends(reader())):
    return render_endpoint(svc.webhooks.get(acct.id, webhook_endpoint_id))


@router.post("/webhook_endpoints/{webhook_endpoint_id}", summary="Update a webhook endpoint",
             operation_id="update_webhook_endpoint",
             responses={200: contract.ok(WebhookEndpoint), **_WRITE_ERRORS},
             openapi_extra=contract.extra(contract.body(UpdateEndpointBody, required=False,
                                                        example={"name": "videos (renamed)"}), _AUTH))
async def update_webhook_endpoint(request: Request, webhook_endpoint_id: str, svc: VideoService = Depends(service),
                                  acct: Account = Depends(reader())):
    body = _parse(UpdateEndpointBody, await read_body(request))
    endpoint = await run_in_threadpool(svc.webhooks.update, acct.id, webhook_endpoint_id,
                                       **body.model_dump(exclude_none=True))
    return render_endpoint(endpoint)


@router.delete("/webhook_endpoints/{webhook_endpoint_id}", summary="Delete a webhook endpoint",
               operation_id="delete_webhook_endpoint",
               responses={200: contract.ok(WebhookEndpointDeleted), **_ERRORS}, openapi_extra=_AUTH)
def delete_webhook_endpoint(webhook_endpoint_id: str, svc: VideoService = Depends(service),
                            acct: Account = Depends(reader())):
    endpoint = svc.webhooks.delete(acct.id, webhook_endpoint_id)
    return {"id": endpoint.id, "object": "webhook_endpoint.deleted", "deleted": True}


@router.post("/webhook_endpoints/{webhook_endpoint_id}/rotate_secret", summary="Rotate an endpoint's signing secret",
             operation_id="rotate_webhook_secret",
             responses={200: contract.ok(WebhookEndpointWithSecret), **_WRITE_ERRORS},
             openapi_extra=contract.extra(contract.body(RotateSecretBody, required=False, example={
                 "keep_old_secret_active_for_24_hours": True}), _AUTH))
async def rotate_webhook_secret(request: Request, webhook_endpoint_id: str, svc: VideoService = Depends(service),
                                acct: Account = Depends(reader())):
    body = _parse(RotateSecretBody, await read_body(request))
    endpoint = await run_in_threadpool(svc.webhooks.rotate_secret, acct.id, webhook_endpoint_id,
                                       keep_old_secret=body.keep_old_secret_active_for_24_hours)
    return render_endpoint(endpoint, with_secret=True)


@router.post("/webhook_endpoints/{webhook_endpoint_id}/test", summary="Send a sample event to an endpoint now",
             operation_id="test_webhook_endpoint",
             responses={200: contract.ok(WebhookEndpointTestResult), **_WRITE_ERRORS},
             openapi_extra=contract.extra(contract.body(TestEndpointBody, example={"event_type": "video.completed"}),
                                          _AUTH))
async def test_webhook_endpoint(request: Request, webhook_endpoint_id: str, svc: VideoService = Depends(service),
                                acct: Account = Depends(creator())):
    body = _parse(TestEndpointBody, await read_body(request))
    sent = await run_in_threadpool(svc.webhooks.send_test, acct.id, webhook_endpoint_id, body.event_type)
    return {"object": "webhook_endpoint.test", "webhook_endpoint_id": sent.endpoint.id, "event_type": sent.event_type,
            "status_code": sent.result.status_code, "success": True, "delivery_id": sent.delivery.id}


@router.get("/webhook_endpoints/{webhook_endpoint_id}/deliveries", summary="An endpoint's deliveries (extension)",
            operation_id="list_webhook_endpoint_deliveries",
            responses={200: contract.ok(WebhookDeliveryList), **_ERRORS}, openapi_extra=_AUTH)
def list_webhook_endpoint_deliveries(webhook_endpoint_id: str, after: str | None = None,
                                     limit: int = Query(20, ge=1, le=100), svc: VideoService = Depends(service),
                                     acct: Account = Depends(reader())):
    deliveries, has_more = svc.webhooks.deliveries(acct.id, endpoint_id=webhook_endpoint_id, after=after, limit=limit)
    return contract.list_page([render_delivery(d) for d in deliveries], has_more)


@router.get("/webhook_event_types", summary="The event types this server sends", operation_id="list_webhook_event_types",
            responses={200: contract.ok(WebhookEventTypeList), **_ERRORS}, openapi_extra=_AUTH)
def list_webhook_event_types(_: Account = Depends(reader())):
    return {"object": "list", "data": list(EVENT_TYPES)}


@router.get("/webhook_deliveries", summary="The account's webhook deliveries, newest first (extension)",
            operation_id="list_webhook_deliveries",
            responses={200: contract.ok(WebhookDeliveryList), **_ERRORS}, openapi_extra=_AUTH)
def list_webhook_deliveries(video_id: str | None = None, after: str | None = None,
                            limit: int = Query(20, ge=1, le=100), svc: VideoService = Depends(service),
                            acct: Account = Depends(reader())):
    deliveries, has_more = svc.webhooks.deliveries(acct.id, job_id=job_id(video_id) if video_id else None,
                                                   after=after, limit=limit)
    return contract.list_page([render_delivery(d) for d in deliveries], has_more)


@router.get("/webhook_deliveries/{delivery_id}", summary="One webhook delivery and its attempts (extension)",
            operation_id="retrieve_webhook_delivery",
            responses={200: contract.ok(WebhookDeliveryDetail), **_ERRORS}, openapi_extra=_AUTH)
def retrieve_webhook_delivery(delivery_id: str, svc: VideoService = Depends(service),
                              acct: Account = Depends(reader())):
    return render_delivery(*svc.webhooks.delivery(acct.id, delivery_id))


@router.get("/webhooks/default/secret", summary="The secret that signs the account's per-request webhooks (extension)",
            operation_id="retrieve_webhook_default_secret",
            responses={200: contract.ok(WebhookSecret), **_ERRORS}, openapi_extra=_AUTH)
def retrieve_webhook_default_secret(svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    return {"key": svc.webhooks.account_secret(acct.id)}
