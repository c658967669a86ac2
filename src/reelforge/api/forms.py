"""Read a request body that may be JSON or multipart into one nested dict.

The OpenAI SDKs serialise nested objects in multipart with bracket keys
(``input_reference[image_url]``) and arrays as ``key[]``; this rebuilds them.
Uploaded files stay ``UploadFile`` values; every other multipart value is a string.
"""

from __future__ import annotations

import codecs
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from starlette.datastructures import UploadFile
from starlette.requests import Request

from ..errors import InvalidRequest, UnsupportedContentType, shown

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
            # "a[][x]=1&a[][y]=2" is one object {x, y}. The OpenAI SDK sends a list of objects column by
            # column (x1, x2, y1, y2), others row by row (x1, y1, x2, y2): either way a value belongs to the
            # first object that lacks its key, else to a new one.
            nxt = parts[i + 1] if not last else None
            free = next((o for o in node if isinstance(o, dict) and nxt not in o), None) if nxt else None
            if free is not None:
                node = free
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


# Deeper than any wire schema nests (the deepest is about 4); also far below the parser's recursion limit.
MAX_JSON_DEPTH = 32
# Characters no text field has a use for: C0 controls other than tab, newline and carriage return,
# DEL, and C1 controls (these also catch invalid UTF-8 in multipart, which Starlette reads as latin-1).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(f"The request body contains {name}, which is not a JSON number; send a finite number.")


def _is_utf8(charset: str | None) -> bool:
    """Whether a declared charset is UTF-8 (absent means UTF-8); UnsupportedContentType if it is no
    charset Python knows."""
    if charset is None:
        return True
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        raise UnsupportedContentType(f"Unknown charset {shown(charset)}; send UTF-8.") from None


def _decode_json(raw: bytes, charset: str | None) -> Any:
    if not _is_utf8(charset):
        # Honour the declared charset rather than reading every body as UTF-8.
        try:
            raw = raw.decode(charset)
        except LookupError:  # a codec that is not a text encoding (rot13, base64...)
            raise UnsupportedContentType(f"Unsupported charset {shown(charset)}; send UTF-8 JSON.") from None
        except UnicodeDecodeError:
            raise InvalidRequest(f"The request body is not valid {charset} text.") from None
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    except ValueError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None


def _param(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def check_text(value: Any, path: list[Any] | None = None, depth: int = 0) -> None:
    """Every string in a parsed body (keys too) is valid Unicode without stray control characters,
    and the structure is no deeper than MAX_JSON_DEPTH, before any of it reaches the service: a lone
    surrogate cannot be stored or rendered as UTF-8, so it must never become a job."""
    path = path or []
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels (at '{_param(path)}').",
                             param=_param(path))
    if isinstance(value, str):
        for pattern, what in ((_SURROGATE, "a lone UTF-16 surrogate"), (_CONTROL, "a control character")):
            m = pattern.search(value)
            if m:
                raise InvalidRequest(
                    f"'{_param(path)}' contains {what} (U+{ord(m.group()):04X}) at position {m.start()}; "
                    "send valid Unicode text.", param=_param(path))
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path + [key], depth + 1)
            check_text(item, path + [key], depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, path + [i], depth + 1)


async def read_body(request: Request) -> dict[str, Any]:
    """The body as a dict, whatever its type. The server's upload cap bounds what is read, and the
    middleware (api.limits) has refused a longer declared body before this runs."""
    max_bytes = request.app.state.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "")
    ctype = content_type.split(";")[0].strip().lower()
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    charset = params.get("charset", "").strip('"').strip().lower() or None
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if not _is_utf8(charset):
            raise UnsupportedContentType(f"Unsupported charset {shown(charset)} for {ctype}; send UTF-8.")
        # max_part_size bounds in-memory (non-file) fields such as a data URL in input_reference[image_url].
        form = await request.form(max_files=8, max_fields=200, max_part_size=max_bytes)
        data = nest_form(list(form.multi_items()))
    elif ctype in ("application/json", "") or ctype.endswith("+json"):
        raw = await request.body()
        if not raw:
            return {}
        data = _decode_json(raw, charset)
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
    else:
        raise UnsupportedContentType(
            f"Unsupported Content-Type {shown(ctype)}. Send application/json or multipart/form-data."
        )
    check_text(data)
    return data


def _numeric_only(annotation: Any) -> bool | None:
    """True where ``annotation`` takes numbers but not booleans, None where it takes no numbers."""
    if annotation is bool or annotation is Any:
        return False
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        verdicts = [_numeric_only(a) for a in typing.get_args(annotation)]
        return None if all(v is None for v in verdicts) else all(v is not False for v in verdicts)
    return None


def _bool_in_number(annotation: Any, value: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(value, bool):
        return bool(_numeric_only(annotation))
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return any(_bool_in_number(args[1], v) for v in value.values())
    if origin is list and args and isinstance(value, list):
        return any(_bool_in_number(args[0], v) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_bool_in_number(a, value) for a in args if a is not type(None))
    return False


class WireModel(BaseModel):
    """The base of every dialect's request model. Pydantic's lax mode reads JSON ``true`` as 1 and
    accepts NaN and infinity; a wire number must be a number, and finite. Numeric strings still
    parse, because multipart sends every value as text."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _bool_in_number(field.annotation, value):
            raise ValueError("must be a number, not a boolean")
        if field is not None and _boolean_only(field.annotation) and not _is_boolean(value):
            # Lax mode would also read 0, 1, "yes", "off", "t"... as booleans (found by schemathesis).
            raise ValueError("must be true or false")
        return value


def _boolean_only(annotation: Any) -> bool:
    """``bool`` or ``bool | None``."""
    if annotation is bool:
        return True
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and args == [bool]


def _is_boolean(value: Any) -> bool:
    # Multipart and query strings carry booleans as text.
    return value is None or isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def is_upload(value: Any) -> bool:
    return isinstance(value, UploadFile)


def parse_fields(model: type[BaseModel], data: dict[str, Any], *, missing: str | None = "'{param}' is required.",
                 invalid: str = "Invalid {param} {value}: {msg}.", by_type: dict[str, str] | None = None,
                 brackets: bool = False, missing_code: str | None = None) -> Any:
    """Validate a parsed body against a dialect's wire model; the first problem becomes an
    InvalidRequest naming the field. The wording is the dialect's: templates may use {param}
    (``a.b.0``, or ``a.b[0]`` with ``brackets``), {value} (a short quote of the input) and {msg};
    ``by_type`` words particular pydantic error types (``missing`` among them when ``missing`` is None)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        param = (_param(loc) if loc else "") if brackets else ".".join(str(p) for p in loc)
        words = {"param": param, "value": shown(err.get("input")), "msg": err["msg"]}
        if err["type"] == "missing" and missing is not None:
            raise InvalidRequest(missing.format(**words), param=param or None, code=missing_code) from None
        template = (by_type or {}).get(err["type"], invalid)
        raise InvalidRequest(template.format(**words), param=param or None) from None
