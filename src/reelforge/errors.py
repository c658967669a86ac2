"""The typed exception tree.

Every error has a stable ``code`` and, where it concerns one input, the ``param``
that was wrong. Nothing here knows HTTP: ``reelforge.api.errors`` maps these
classes to statuses and each surface renders its own envelope.
"""

from __future__ import annotations

import re

# Error messages quote a rejected value only this far: a 10 MB value must not make a 10 MB error.
QUOTE_CHARS = 80
_HEAP_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def shown(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, cut to a short prefix that says how long the whole value was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, (str, bytes)) else f"{len(text)} characters as text"
    return f"{text[:limit]}... ({size})"


def describe(exc: BaseException) -> str:
    """An exception as a user may read it: never empty, and without heap addresses
    (``<_io.BytesIO object at 0x7f...>`` tells a caller about our memory, not their input)."""
    text = _HEAP_ADDRESS.sub("", str(exc)).strip()
    text = text if len(text) <= 300 else text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ReelforgeError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(ReelforgeError):
    """The request names a bad value; the message says which and what is allowed."""

    code = "invalid_value"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"


class UnsupportedContentType(UnsupportedMediaType):
    """The request body's own Content-Type (or charset) is one this route does not read (HTTP 415)."""


class MethodNotAllowed(InvalidRequest):
    code = "method_not_allowed"


class UnsafeURL(InvalidRequest):
    """A user-supplied URL points somewhere we refuse to fetch (private, loopback, odd scheme)."""

    code = "unsafe_url"


class FetchFailed(InvalidRequest):
    code = "fetch_failed"


class NotFound(ReelforgeError):
    code = "not_found"


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"No video found with id {shown(job_id)}.", param="video_id")


class ModelNotFound(InvalidRequest):
    code = "model_not_found"


class LinkExpired(NotFound):
    """A signed artifact URL whose expiry has passed."""

    code = "link_expired"


class Conflict(ReelforgeError):
    """The job is in a state that does not allow the operation (e.g. content before completion)."""

    code = "invalid_state"


class Unavailable(ReelforgeError):
    code = "unavailable"


class Unauthenticated(ReelforgeError):
    """No API key, or one that is unknown or revoked."""

    code = "invalid_api_key"


class Forbidden(ReelforgeError):
    """The caller may not do this whoever they are, e.g. a web page of a foreign origin."""

    code = "forbidden"


class UnknownHost(Forbidden):
    """The request's ``Host`` names a server we do not answer for (DNS rebinding, a stray proxy)."""

    code = "unknown_host"


class InsufficientCredits(ReelforgeError):
    """The job costs more than the account holds; nothing was charged or queued."""

    code = "insufficient_credits"

    def __init__(self, required: int, available: int):
        super().__init__(f"This video costs {required} credits and the account has {available}.")
        self.required = required
        self.available = available


class RateLimited(ReelforgeError):
    code = "rate_limit_exceeded"

    def __init__(self, limit: int, window: int, retry_after: int):
        super().__init__(f"Rate limit reached: {limit} requests per {window} s for this API key. "
                         f"Retry in {retry_after} s.")
        self.retry_after = retry_after


class IdempotencyInFlight(Conflict):
    """A request with this Idempotency-Key is still being processed."""

    code = "idempotency_key_in_use"


class IdempotencyMismatch(InvalidRequest):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_key_reused"


# --- Raised inside workers; never reach HTTP directly, but end up on the job row. ---


class JobCancelled(ReelforgeError):
    """Raised from the per-step callback to abort a pipeline between steps."""

    code = "cancelled"


class LeaseLost(ReelforgeError):
    """Another worker owns the job now (our lease expired); stop without writing results."""

    code = "lease_lost"


class WorkerStopping(ReelforgeError):
    """Raised from the per-step callback when the worker shuts down: the job goes back to the queue."""

    code = "worker_stopping"


class GenerationFailed(ReelforgeError):
    code = "generation_failed"


class WaitTimeout(ReelforgeError):
    """A synchronous create waited longer than it may for its video (HTTP 504)."""

    code = "timeout"


class ModelUnavailable(ReelforgeError):
    """The model's weights are not where reelforge looked; the message says where and how to get them."""

    code = "model_unavailable"
