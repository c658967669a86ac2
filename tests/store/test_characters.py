"""Characters in the store, on SQLite and PostgreSQL: made per account, and another account's reads as missing."""

from __future__ import annotations

import pytest

from reelforge.store import CharacterNotFound, CharacterStore


def test_a_character_is_read_back_by_its_account_only(store):
    chars = CharacterStore(store)
    made = chars.create("alice", name="Red square", video_key="characters/a/video.mp4",
                        image_key="characters/a/reference.png")
    assert made.id.startswith("char_") and made.created_at > 0
    assert chars.get(made.id, "alice") == made
    with pytest.raises(CharacterNotFound) as info:
        chars.get(made.id, "bob")
    assert info.value.param == "character_id" and made.id in info.value.message
    assert chars.create("alice", name="Red square", video_key="v", image_key="i").id != made.id
