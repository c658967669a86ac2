"""Logs carry no secrets: signed-URL signatures and API keys are redacted before any line is written.

A signed artifact URL is a capability: whoever reads it can download the video without a key, so
the access log must not hold a working one. The path stays, so the log still says what was fetched.
Keys never travel in URLs by our design, but a client may put one there anyway (``?api_key=...``),
and our own messages must not be the one place that repeats a key.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from ..accounts import KEY_PREFIX

REDACTED = "REDACTED"
_SIGNATURE = re.compile(r"(?i)((?:^|[?&;\s])signature=)[^&\s\"']+")
_KEY = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")


def _clear(text: str) -> bool:
    """True where none of the three can match. The filter sees every line, and nearly every one (each
    access line of a poll) holds nothing to redact: plain substring tests tell so in a tenth of one
    regex scan. ASCII only, where lower() is exactly what the patterns' IGNORECASE matches."""
    if not text.isascii():
        return False
    low = text.lower()
    return "signature=" not in low and "bearer" not in low and KEY_PREFIX not in text


def redact(text: str) -> str:
    if _clear(text):
        return text
    text = _SIGNATURE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _KEY.sub(KEY_PREFIX + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments in place. The arguments stay a tuple of the same
    length, because uvicorn's access formatter unpacks them (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging setup with the filter on both of its handlers (access and error), so it
    holds from the first line uvicorn writes."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config


def install_root() -> None:
    """The same filter on the root logger's handlers, which write our own (reelforge.*) lines."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
