"""Accounts: who owns jobs, what they may spend, how fast they may submit. Torch-free domain vocabulary.

An account is created together with its API key (``reelforge keys create``); the key is shown once
and only its SHA-256 is stored. The ``local`` account is the open one a loopback server uses while
no key exists: unlimited credits, no rate limit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from .errors import InvalidRequest

KEY_PREFIX = "rf_"
WINDOWS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    credits: int | None  # None: unlimited
    rate_limit: int  # creates per window; 0: unlimited
    rate_window: int  # seconds
    key_prefix: str = ""
    created_at: float = 0.0
    revoked_at: float | None = None

    @property
    def metered(self) -> bool:
        return self.credits is not None

    @property
    def rate_policy(self) -> str:
        return f"{self.rate_limit}/{_window_name(self.rate_window)}" if self.rate_limit else "unlimited"


LOCAL = Account(id="local", name="local", credits=None, rate_limit=0, rate_window=60)


@dataclass(frozen=True)
class RateState:
    """One account's fixed window: how many creates it allows, how many are left, when it resets."""

    limit: int
    remaining: int
    reset_at: int  # epoch seconds
    window: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0


def parse_rate(text: str) -> tuple[int, int]:
    """``"30/min"`` -> (30, 60); ``"0"`` or ``"unlimited"`` -> (0, 60)."""
    if text.strip().lower() in ("0", "unlimited", "none"):
        return 0, 60
    m = _RATE.match(text.lower())
    if not m or m.group(2) not in WINDOWS or int(m.group(1)) < 1:
        raise InvalidRequest(f"Invalid rate limit '{text}': use N/UNIT with N >= 1 and UNIT one of "
                             f"{', '.join(sorted(set(WINDOWS)))} (e.g. 30/min), or 'unlimited'.", param="rate_limit")
    return int(m.group(1)), WINDOWS[m.group(2)]


def _window_name(seconds: int) -> str:
    return {1: "s", 60: "min", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds}s")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a fast unsalted hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()
