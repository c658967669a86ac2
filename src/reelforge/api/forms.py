"""Read a request body that may be JSON or multipart into one nested dict.

The OpenAI SDKs serialise nested objects in multipart with bracket keys
(``input_reference[image_url]``) and arrays as ``key[]``; this rebuilds them.
Uploaded files stay ``UploadFile`` values; every other multipart value is a string.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from ..errors import InvalidRequest, UnsupportedMediaType

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    m = _KEY.match(key)
    if not m:
        raise InvalidRequest(f"Malformed form field name '{key}'.", param=key)
    parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":  # "key[]" appends to a list
            if not isinstance(node, list):
                raise InvalidRequest(f"Form field '{key}' mixes list and object forms.", param=key)
            # "a[][x]=1&a[][y]=2" is one object {x, y}: fill the last one until a key repeats.
            nxt = parts[i + 1] if not last else None
            if nxt and node and isinstance(node[-1], dict) and nxt not in node[-1]:
                node = node[-1]
                continue
            node.append(value if last else {})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise InvalidRequest(f"Form field '{key}' mixes list and object forms.", param=key)
        if last:
            node[part] = value
        else:
            nxt_is_list = parts[i + 1] == ""
            node = node.setdefault(part, [] if nxt_is_list else {})


def nest_form(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items:
        _assign(out, key, value)
    return out


async def read_body(request: Request, *, max_bytes: int) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # max_part_size bounds in-memory (non-file) fields such as a data URL in input_reference[image_url].
        form = await request.form(max_files=8, max_fields=200, max_part_size=max_bytes)
        return nest_form(list(form.multi_items()))
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return data
    raise UnsupportedMediaType(
        f"Unsupported Content-Type '{ctype}'. Send application/json or multipart/form-data."
    )


def is_upload(value: Any) -> bool:
    return isinstance(value, UploadFile)


def parse_fields(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate a parsed body against a dialect's wire model; the first problem becomes an
    InvalidRequest naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing":
            raise InvalidRequest(f"'{param}' is required.", param=param) from None
        raise InvalidRequest(f"Invalid {param} {err.get('input')!r}: {err['msg']}.", param=param) from None
