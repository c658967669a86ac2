"""The OpenAPI document as a contract: request bodies, responses and security declared from the
dialects' own pydantic models.

Routes read their bodies by hand (``forms.read_body``: multipart, Idempotency-Key fingerprints and
size caps depend on it), so FastAPI cannot see them; each route declares them here instead. Every
model named in a route's declaration goes through one pydantic ``models_json_schema`` call when the
document is built, so models of the same name in two dialects (``CreateBody``, ``LoraRef``) get
distinct components instead of overwriting each other.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode as Mode
from pydantic.json_schema import models_json_schema

BEARER = "bearer"
X_API_KEY = "x-api-key"
SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer", "description": "An API key from `reelforge keys create`. "
             "Not needed in open local mode (no key created yet, loopback only)."},
    X_API_KEY: {"type": "apiKey", "in": "header", "name": "x-api-key",
                "description": "Segmind's header for the same API key."},
}
BINARY = {"type": "string", "format": "binary"}
_MARK = "x-reelforge-model"
_models: dict[str, tuple[type[BaseModel], Mode]] = {}


def schema(model: type[BaseModel], mode: Mode = "serialization") -> dict[str, Any]:
    """A placeholder for ``model``'s schema; ``build`` swaps it for a $ref to its component.
    Request bodies use the validation-mode schema (aliases, lax inputs), responses the serialization one."""
    key = f"{model.__module__}.{model.__qualname__}:{mode}"
    _models[key] = (model, mode)
    return {_MARK: key}


def body(json: type[BaseModel] | None = None, *, multipart: type[BaseModel] | None = None,
         required: bool = True, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a body read by ``read_body``: JSON and/or multipart/form-data, with an
    example request the default catalog serves."""
    content: dict[str, Any] = {}
    if json is not None:
        content["application/json"] = {"schema": schema(json, "validation")}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": schema(multipart, "validation")}
    if example is not None:
        for media in content.values():
            media["example"] = example
    return {"requestBody": {"required": required, "content": content}}


def security(scheme: str = BEARER) -> dict[str, Any]:
    return {"security": [{scheme: []}]}


def extra(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


def ok(model: type[BaseModel], description: str = "Success", links: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {"description": description, "content": {"application/json": {"schema": schema(model)}}}
    if links:
        out["links"] = links
    return out


def links(pointer: str, parameter: str, *operation_ids: str) -> dict[str, Any]:
    """OpenAPI links from a created resource to the operations that take its id: ``pointer`` is the
    id's place in the response body, ``parameter`` the name those operations give it."""
    return {op: {"operationId": op, "parameters": {parameter: f"$response.body#{pointer}"}} for op in operation_ids}


def binary(media_types: Iterable[str], description: str) -> dict[str, Any]:
    return {"description": description, "content": {m: {"schema": BINARY} for m in media_types}}


def errors(envelope: type[BaseModel], statuses: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Error responses of one dialect: every status it can answer, all with its own envelope."""
    return {s: {"description": f"{http.HTTPStatus(s).phrase} (error envelope)",
                "content": {"application/json": {"schema": schema(envelope)}}} for s in statuses}


def list_page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """An OpenAI list answer (videos, webhook endpoints, deliveries): the page and its cursor ends."""
    return {"object": "list", "data": items, "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": has_more}


def _substitute(node: Any, refs: dict[str, dict[str, Any]]) -> Any:
    if isinstance(node, dict):
        if _MARK in node:
            return dict(refs[node[_MARK]])
        return {k: _substitute(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, refs) for v in node]
    return node


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    mapping, defs = models_json_schema(list(_models.values()), ref_template="#/components/schemas/{model}")
    refs = {k: mapping[pair] for k, pair in _models.items()}
    doc = _substitute(doc, refs)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, definition in defs.get("$defs", {}).items():
        if name in schemas and schemas[name] != definition:
            raise RuntimeError(f"two OpenAPI components are both named {name!r}; rename one of the models")
        schemas[name] = definition
    components["securitySchemes"] = SECURITY_SCHEMES
    _guard_responses(doc)
    _check_links(doc)
    return doc


def _guard_responses(doc: dict[str, Any]) -> None:
    """The browser guard (``browsers.py``) answers before any route: 421 for a Host this server does
    not answer for, on every path but /healthz, and 403 for a state-changing request from a foreign
    Origin. Each operation declares them in the envelope it already uses for its other errors."""
    for path, item in doc["paths"].items():
        if path == "/healthz":
            continue
        for method, op in item.items():
            responses = op.get("responses", {}) if isinstance(op, dict) else {}
            envelope = next((r for code, r in sorted(responses.items()) if code[:1] in "45"), None)
            if envelope is None:
                continue
            guard = [421] + ([403] if method.upper() in ("POST", "PUT", "PATCH", "DELETE") else [])
            for status in guard:
                responses.setdefault(str(status), {**envelope, "description": f"{http.HTTPStatus(status).phrase} "
                                                   "(error envelope)"})


def _check_links(doc: dict[str, Any]) -> None:
    """A link naming an operation that does not exist (a renamed route) fails the build, not the client."""
    ops = [op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)]
    known = {op.get("operationId") for op in ops}
    for op in ops:
        for response in op.get("responses", {}).values():
            for link in response.get("links", {}).values():
                if link["operationId"] not in known:
                    raise RuntimeError(f"OpenAPI link to unknown operation {link['operationId']!r}")


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- shapes shared by the paths no dialect owns (/healthz, /readyz, /files) ---------------------


class GenericErrorDetail(BaseModel):
    code: str
    message: str
    param: str | None


class GenericError(BaseModel):
    """The envelope of paths outside every dialect (``errors.generic_renderer``)."""

    error: GenericErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    jobs: dict[str, int] | None = Field(None, description="Jobs by status.")
    workers: int | None = Field(None, description="Live workers: those whose heartbeat is younger than a lease.")
