"""Wire schemas of Syllaby's v2 text-to-video API (seed 002, API-COMPAT.md §5): the create body, and
its validation errors as Laravel words them (one message per dotted field path, e.g. ``modifiers.image.0``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import InvalidRequest

MIN_WORDS, MAX_WORDS = 5, 1500
MAX_TITLE = 255


class Modifiers(BaseModel):
    # Unknown names are kept (not dropped) so the menu check can refuse them by name: a misspelt
    # modifier that silently fell back to a default would still cost the caller credits.
    model_config = ConfigDict(extra="allow")

    duration: int | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    audio: str | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    image: list[str] | None = None
    video: list[str] | None = None


class CreateBody(BaseModel):
    """POST /text-to-video."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str
    title: str | None = Field(None, max_length=MAX_TITLE)
    modifiers: Modifiers | None = None


_MESSAGES = {
    "missing": "The {f} field is required.",
    "string_type": "The {f} field must be a string.",
    "int_type": "The {f} field must be an integer.",
    "int_parsing": "The {f} field must be an integer.",
    "int_from_float": "The {f} field must be an integer.",
    "list_type": "The {f} field must be an array.",
    "model_type": "The {f} field must be an object.",
    "model_attributes_type": "The {f} field must be an object.",
    "string_too_long": "The {f} field must not be greater than " + str(MAX_TITLE) + " characters.",
}


def parse_create(data: dict[str, Any]) -> CreateBody:
    try:
        body = CreateBody.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        template = _MESSAGES.get(err["type"], "The {f} field is invalid: {msg}.")
        raise InvalidRequest(template.format(f=field, msg=err["msg"]), param=field) from None
    words = len(body.prompt.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise InvalidRequest(f"The prompt field must be between {MIN_WORDS} and {MAX_WORDS:,} words; it has {words}.",
                             param="prompt")
    return body
