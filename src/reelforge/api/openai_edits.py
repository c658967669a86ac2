"""The OpenAI Videos surface, part two: edits, extensions and characters (API-COMPAT.md §2.6a).

``video`` is an uploaded clip or ``{"id": "video_..."}`` of a completed video of the caller's; the
SDK sends either as multipart (the object as the field ``video[id]``), and JSON works too. What
runs behind each route is in ``service.edits`` and ``service.characters``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from ..accounts import Account
from ..errors import InvalidRequest, JobNotFound
from ..service.characters import Character
from ..service.edits import EditRequest, SourceVideo
from ..service.videos import VideoService
from . import contract
from .adjustments import created_headers
from .auth import creator, reader
from .deps import service
from .forms import is_upload, read_body
from .idempotency import idempotency
from .openai import _AUTH, _CREATE_ERRORS, _READ_ERRORS, _VIDEO, ID_PREFIX, SURFACE, _parse, _video_response
from .openai_schemas import (CharacterBody, CharacterForm, CharacterObject, EditVideoBody, EditVideoForm,
                             ExtendVideoBody, ExtendVideoForm)

# No prefix: these routes are included in ``openai.router``, which has it.
router = APIRouter()  # included by api.openai's router, which tags it


def _source(value: Any) -> SourceVideo:
    """``video`` as the wire sent it: a file, or an object naming a completed video."""
    if is_upload(value):
        return SourceVideo(upload=value.file.read())  # read_body's cap bounds the whole form, this file included
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        video_id = value["id"]
        if not video_id.startswith(ID_PREFIX):
            raise JobNotFound(video_id)
        return SourceVideo(job_id=video_id[len(ID_PREFIX):], param="video.id")
    raise InvalidRequest("Invalid 'video': send a video file, or an object {\"id\": \"video_...\"} naming a "
                         "completed video.", param="video")


def _request(body: EditVideoBody | ExtendVideoBody) -> EditRequest:
    fields = body.model_dump(exclude={"video"})
    return EditRequest(source=_source(body.video), **fields)


def _body(model: type, multipart: type, example: dict[str, Any]) -> dict[str, Any]:
    return contract.extra(contract.body(model, multipart=multipart, example=example), _AUTH)


@router.post("/videos/edits", summary="Edit a video with a new prompt (video-to-video)",
             responses={**_VIDEO, **_CREATE_ERRORS}, openapi_extra=_body(EditVideoBody, EditVideoForm, {
                 "prompt": "the same shapes, but blue", "video": {"id": "video_0123456789abcdef0123456789abcdef"}}))
async def edit_video(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    data = await read_body(request)
    body = _parse(EditVideoBody, data)
    idem = idempotency(request, "openai:edit", data)
    done = await run_in_threadpool(lambda: svc.edits.edit(_request(body), account=acct, surface=SURFACE,
                                                          idempotency=idem))
    return _video_response(request, done.job, created_headers(done))


@router.post("/videos/extensions", summary="Extend a completed video; the result is the stitched whole",
             responses={**_VIDEO, **_CREATE_ERRORS}, openapi_extra=_body(ExtendVideoBody, ExtendVideoForm, {
                 "prompt": "the ball rolls on", "seconds": 4,
                 "video": {"id": "video_0123456789abcdef0123456789abcdef"}}))
async def extend_video(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    data = await read_body(request)
    body = _parse(ExtendVideoBody, data)
    idem = idempotency(request, "openai:extend", data)
    done = await run_in_threadpool(lambda: svc.edits.extend(_request(body), account=acct, surface=SURFACE,
                                                            idempotency=idem))
    return _video_response(request, done.job, created_headers(done))


def _character(character: Character) -> dict[str, Any]:
    return {"id": character.id, "created_at": int(character.created_at), "name": character.name}


_CHARACTER = {200: contract.ok(CharacterObject, "The character")}


@router.post("/videos/characters", summary="Create a character from a short clip",
             responses={**_CHARACTER, **_CREATE_ERRORS},
             openapi_extra=contract.extra(contract.body(multipart=CharacterForm), _AUTH))
async def create_character(request: Request, svc: VideoService = Depends(service), acct: Account = Depends(creator())):
    body = _parse(CharacterBody, await read_body(request))
    character = await run_in_threadpool(
        lambda: svc.characters.create(body.name, _source(body.video), account=acct))
    return _character(character)


@router.get("/videos/characters/{character_id}", summary="Retrieve a character",
            responses={**_CHARACTER, **_READ_ERRORS}, openapi_extra=_AUTH)
def get_character(character_id: str, svc: VideoService = Depends(service), acct: Account = Depends(reader())):
    return _character(svc.characters.get(character_id, account=acct.id))
