"""Characters per account (OpenAI's /v1/videos/characters). Every query takes the owning account:
another account's character reads as missing."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from reelforge.errors import NotFound, shown
from reelforge.store.store import JobStore
from reelforge.store.tables import characters

ID_PREFIX = "char_"


class CharacterNotFound(NotFound):
    def __init__(self, character_id: str, param: str = "character_id"):
        super().__init__(f"No character found with id {shown(character_id)}.", param=param)


@dataclass(frozen=True)
class Character:
    id: str
    account: str
    name: str
    video_key: str  # the clip it was made from
    image_key: str  # its reference frame (PNG)
    created_at: float


class CharacterStore:
    def __init__(self, store: JobStore):
        self.store = store
        self.engine = store.engine

    def create(self, account: str, *, name: str, video_key: str, image_key: str) -> Character:
        row = dict(id=ID_PREFIX + uuid.uuid4().hex, account=account, name=name, video_key=video_key,
                   image_key=image_key, created_at=time.time())
        with self.store._write() as conn:
            conn.execute(sa.insert(characters).values(**row))
        return Character(**row)

    def get(self, character_id: str, account: str, *, param: str = "character_id") -> Character:
        c = characters.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(characters).where(c.id == character_id, c.account == account)).first()
        if row is None:
            raise CharacterNotFound(character_id, param)
        return Character(**row._mapping)
