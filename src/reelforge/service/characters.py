"""Characters (OpenAI's /v1/videos/characters): a named look, taken from a short clip, that later
videos of the same account can start from.

A character keeps its clip and one reference frame, the clip's first, taken at creation. A create
that names it (``character_id`` on POST /v1/videos, an extension of OpenAI's API) runs
image-to-video from that frame, so the character's colours and shapes open the new clip while the
prompt sets what happens next; the job stores its own copy of the frame like any input image.
``character_id`` and ``input_reference`` are exclusive: both would be the first frame.
Characters cost nothing: nothing is generated until a video uses one.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import TYPE_CHECKING

from ..accounts import Account
from ..errors import InvalidRequest, shown
from ..store import Character, CharacterStore
from .specs import VideoRequest

if TYPE_CHECKING:
    from .edits import SourceVideo
    from .videos import VideoService

MAX_NAME_CHARS = 80


class Characters:
    def __init__(self, service: VideoService):
        self.svc = service
        self.store = CharacterStore(service.store)

    def create(self, name: str | None, video: SourceVideo, *, account: Account) -> Character:
        """A character from an uploaded clip (or a completed video of the account), validated like an
        edit's source. Blocking: it decodes the clip."""
        name = check_name(name)
        clip = self.svc.edits.source(video, None, account)
        # A video made here is decoded once for its first frame, through an upload's checks.
        first = clip.first_png or self.svc.edits.source(
            dataclasses.replace(video, upload=clip.data, job_id=None), None, account).first_png
        artifacts = self.svc.artifacts
        stem = f"characters/{secrets.token_hex(16)}"
        video_key, image_key = f"{stem}/video.{clip.suffix}", f"{stem}/reference.png"
        artifacts.put_bytes(video_key, clip.data)
        artifacts.put_bytes(image_key, first)
        try:
            return self.store.create(account.id, name=name, video_key=video_key, image_key=image_key)
        except BaseException:
            artifacts.delete_prefix(stem + "/")
            raise

    def get(self, character_id: str, *, account: str) -> Character:
        return self.store.get(character_id, account)

    def apply(self, req: VideoRequest, account: Account) -> VideoRequest:
        """``req`` with its character's reference frame as the first frame, or as it is without one."""
        if req.character_id is None:
            return req
        if req.image is not None:
            raise InvalidRequest(f"Send one of {req.image_param} or character_id: the character's reference frame "
                                 "is the video's first frame.", param="character_id")
        character = self.store.get(req.character_id, account.id)
        return dataclasses.replace(req, image=self.svc.artifacts.get_bytes(character.image_key),
                                   image_param="character_id", extras={**req.extras, "character_id": character.id})


def check_name(name: str | None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("'name' is required: the character's display name, 1 to 80 characters.", param="name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"'name' is {len(name)} characters long ({shown(name, 40)}); at most {MAX_NAME_CHARS} "
                             "are allowed.", param="name")
    return name
