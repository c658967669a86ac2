"""The typed exception tree.

Every error has a stable ``code`` and, where it concerns one input, the ``param``
that was wrong. Nothing here knows HTTP: ``reelforge.api.errors`` maps these
classes to statuses and each surface renders its own envelope.
"""

from __future__ import annotations


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


class UnsafeURL(InvalidRequest):
    """A user-supplied URL points somewhere we refuse to fetch (private, loopback, odd scheme)."""

    code = "unsafe_url"


class FetchFailed(InvalidRequest):
    code = "fetch_failed"


class NotFound(ReelforgeError):
    code = "not_found"


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"No video found with id '{job_id}'.", param="video_id")


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


class ModelUnavailable(ReelforgeError):
    """The model's weights are not where reelforge looked; the message says where and how to get them."""

    code = "model_unavailable"
