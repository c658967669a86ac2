"""One table of settings: the only reader of ``REELFORGE_*`` environment variables.

Precedence: an explicit override (a CLI flag) > ``REELFORGE_<NAME>`` > the default.
The CLI's ``--help`` and the README's settings table are generated from ``SETTINGS``.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "REELFORGE_" + self.name.upper()


def _bool(v: str) -> bool:
    if v.lower() in {"1", "true", "yes", "on"}:
        return True
    if v.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (1/0, true/false), got {v!r}")


def _http_url(v: str, what: str) -> str:
    v = v.strip().rstrip("/")
    parts = urlsplit(v)
    if v and (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment):
        raise ValueError(f"expected {what}, got {v!r}")
    return v


def base_url(v: str) -> str:
    return _http_url(v, "a base URL like https://videos.example.com")


def endpoint_url(v: str) -> str:
    return _http_url(v, "an endpoint URL like http://127.0.0.1:8333")


SUBSTITUTE_POLICIES = ("builtin", "off")


def substitute_policy(v: str) -> str:
    v = v.strip().lower()
    if v not in SUBSTITUTE_POLICIES:
        raise ValueError(f"expected one of {', '.join(SUBSTITUTE_POLICIES)}, got {v!r}")
    return v


def retry_schedule(v: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(d) for d in _csv(v))
    except ValueError:
        raise ValueError(f"expected comma-separated seconds like 0,5,300, got {v!r}") from None
    if any(d < 0 for d in delays):
        raise ValueError(f"expected delays that are not negative, got {v!r}")
    return delays


def _csv(v: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in v.split(",") if item.strip())


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "./reelforge-data", "Folder for the SQLite file, artifacts and built-in model weights."),
    Setting("host", "127.0.0.1", "Address the API binds to."),
    Setting("port", 8000, "Port the API listens on.", int),
    Setting("public_url", "", "Base URL clients reach this server at, e.g. https://videos.example.com: every "
            "absolute URL we hand out (signed artifact links, poll URLs) starts with it. Empty: http://HOST:PORT "
            "(the machine's hostname for a 0.0.0.0 or :: bind). Never taken from a request's Host or forwarded "
            "headers.", base_url),
    Setting("allowed_hosts", "", "Comma-separated extra names the API answers to in the Host header, besides "
            "loopback names, HOST and PUBLIC_URL's host; `*`: any. Checked on a loopback bind (the open local "
            "mode), and on any other bind only when set."),
    Setting("cors_origins", "", "Comma-separated origins (scheme://host[:port]) whose web pages may call the API "
            "(CORS); `*`: any. Other origins' POST/PUT/PATCH/DELETE are refused. Empty: this server's own origin only."),
    Setting("trusted_proxies", "", "Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For/-Proto "
            "are believed (for client addresses and the scheme). Empty: none; forwarded headers are ignored."),
    Setting("database", "", "SQLAlchemy URL of the job store; empty means SQLite at DATA_DIR/reelforge.db. "
            "PostgreSQL: postgresql+psycopg://user:pass@host/db"),
    Setting("artifacts", "", "Where artifacts live: a folder, or s3://BUCKET/PREFIX for an S3-compatible bucket "
            "(reached with the S3_* settings; the bucket must exist). Empty: DATA_DIR/artifacts."),
    Setting("s3_endpoint_url", "", "S3 endpoint for an s3:// ARTIFACTS, e.g. http://127.0.0.1:8333 for SeaweedFS or "
            "MinIO (buckets are then addressed by path). Empty: boto3's default (AWS, or AWS_ENDPOINT_URL).",
            endpoint_url),
    Setting("s3_region", "", "Region of the S3 bucket, e.g. us-east-1. Empty: boto3's default (AWS_REGION, "
            "~/.aws/config)."),
    Setting("s3_access_key_id", "", "Access key id for the S3 bucket. Empty: boto3's credential chain "
            "(AWS_ACCESS_KEY_ID, ~/.aws/credentials, an instance role)."),
    Setting("s3_secret_access_key", "", "Secret access key for the S3 bucket; prefer the environment variable to the "
            "flag, which other users can read in the process list. Empty: boto3's credential chain."),
    Setting("models_dir", "", "Where local model weights live; empty means DATA_DIR/models."),
    Setting("workers", 1, "Worker processes `serve` starts (0: API only; run `reelforge worker` elsewhere).", int),
    Setting("default_model", "reelforge-tiny", "Model used when a request names none."),
    Setting("substitute_models", "builtin", "What a request for a model whose weights are not installed here gets. "
            "`builtin`: the default model runs instead (the first installed one that can take the request's "
            "frames), and the response names it and every parameter it could not honour. `off`: the request "
            "is refused at submission, naming where reelforge looked and the `reelforge pull` command.",
            substitute_policy),
    Setting("catalog", "", "A TOML file adding models, aliases, local weight paths and pricing to the catalog."),
    Setting("lease_seconds", 30.0, "How long a claim lasts without a heartbeat before the job is requeued.", float),
    Setting("max_attempts", 3, "Attempts per job before an expired lease fails it.", int),
    Setting("poll_interval", 0.05, "Seconds an idle worker waits between claim attempts (SQLite).", float),
    Setting("notify_poll_seconds", 1.0, "On PostgreSQL, where a NOTIFY wakes idle workers the moment a job is queued: "
            "how often they look for work anyway, in case a notification was missed.", float),
    Setting("drain_seconds", 60.0, "How long a standalone worker told to stop (SIGTERM, Ctrl-C) may spend finishing "
            "its current job before handing it back to the queue; a second signal hands it back at once.", float),
    Setting("max_batch", 4, "Most compatible queued jobs (same model, size, frames, steps, guidance, LoRAs, tier) a "
            "worker runs in one pipeline call; each model's catalog max_batch caps it further (1: one job at a time).",
            int),
    Setting("batch_window", 0.0, "Seconds a worker may wait, counted from the oldest queued job's submission, for "
            "compatible jobs to fill a batch (0: take what is queued now; a job never waits longer).", float),
    Setting("progress_interval", 1.0, "Seconds between progress/heartbeat writes of a running job.", float),
    Setting("max_upload_bytes", 20 * 1024 * 1024, "Largest request body or input image accepted, in bytes.", int),
    Setting("max_input_pixels", 4096 * 4096, "Largest input image accepted, in pixels (decompression-bomb guard).", int),
    Setting("fetch_timeout", 20.0, "Seconds allowed to fetch an input image URL.", float),
    Setting("fetch_allow_hosts", "", "Comma-separated hosts (or host:port) that input-image URLs may reach even though "
            "they are private, loopback or on another port, e.g. a media server on your LAN. Empty: none."),
    Setting("url_signing_key", "", "Secret that signs the expiring artifact URLs the vendor dialects return. Empty: "
            "a random key kept in DATA_DIR/url-signing.key; set it (the same on every replica) when several API "
            "processes serve one job store."),
    Setting("webhook_allow_hosts", "", "Comma-separated hosts (or host:port) that webhook URLs may reach even though "
            "they are private, loopback or on another port, e.g. a receiver on your LAN. Empty: none (off)."),
    Setting("webhook_retry_schedule", "5,300,1800,7200,18000,36000,50400,72000,86400",
            "Seconds between a failed webhook attempt and the next; the first attempt is made at once (Standard "
            "Webhooks: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). After the last "
            "retry fails, the delivery is given up.", retry_schedule),
    Setting("webhook_timeout", 15.0, "Seconds one webhook POST may take, connecting included.", float),
    Setting("webhook_rotation_grace", 86400.0, "Seconds the previous secret of a webhook endpoint keeps signing after "
            "rotate_secret(keep_old_secret_active_for_24_hours=True).", float),
    Setting("event_retention", 7 * 86400.0, "Seconds job events (SSE history) and finished webhook deliveries are "
            "kept.", float),
    Setting("sse_keepalive", 15.0, "Seconds between keep-alive comments on an idle event stream.", float),
    Setting("signed_url_ttl", 3600, "Seconds a signed artifact URL stays valid.", int),
    Setting("artifact_ttl", 0, "Seconds a completed video stays downloadable (0: forever). Reported as expires_at.", int),
    Setting("device", "auto", "Torch device for workers: auto, cuda, mps or cpu."),
    Setting("torch_threads", 0, "CPU threads per worker for torch (0: torch's default).", int),
    Setting("max_resident_models", 1, "Models a worker keeps loaded at once; the least recently used is unloaded first.",
            int),
    Setting("max_resident_memory_gb", 0.0, "Device memory (GiB) a worker's loaded models may take together; the least "
            "recently used are unloaded to fit (0: no budget). Offloaded weights live in host memory and do not count.",
            float),
    Setting("log_level", "info", "Log level: debug, info, warning, error."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class Settings:
    """Resolved settings. Attribute access by setting name; derived paths are properties."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = set(overrides) - set(_BY_NAME)
        if unknown:
            raise KeyError(f"unknown settings: {sorted(unknown)}")
        self._values: dict[str, Any] = {}
        for s in SETTINGS:
            if s.name in overrides:
                value = overrides[s.name]
                self._values[s.name] = s.type(value) if isinstance(value, str) else value
            elif s.env in env:
                try:
                    self._values[s.name] = s.type(env[s.env])
                except ValueError as e:
                    raise ValueError(f"{s.env}={env[s.env]!r}: {e}") from None
            else:
                self._values[s.name] = s.default

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    # Cached: resolve() walks the filesystem, and a create reads these on every request.
    @functools.cached_property
    def data_path(self) -> Path:
        return Path(self._values["data_dir"]).expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self._values["database"] or f"sqlite:///{self.data_path / 'reelforge.db'}"

    @property
    def artifacts_location(self) -> str:
        """ARTIFACTS as ``open_artifacts`` takes it: a URL (s3://bucket/prefix) as given, a folder resolved."""
        value = self._values["artifacts"]
        return value if "://" in value else str(self.artifacts_path)

    @property
    def artifacts_path(self) -> Path:
        """The artifact folder; a ValueError where ARTIFACTS is a URL, which no folder stands for."""
        value = self._values["artifacts"]
        if "://" in value:
            raise ValueError(f"artifacts is {value!r}, a URL, not a folder")
        return Path(value).expanduser().resolve() if value else self.data_path / "artifacts"

    @property
    def allow_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self._values["fetch_allow_hosts"].split(",") if h.strip())

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        value = self._values["webhook_retry_schedule"]
        return retry_schedule(value) if isinstance(value, str) else tuple(value)

    @property
    def webhook_allow_host_set(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self._values["webhook_allow_hosts"].split(",") if h.strip())

    @property
    def public_base(self) -> str:
        """PUBLIC_URL, or http://HOST:PORT; a wildcard bind has no address clients could use, so the
        machine's hostname stands in (``serve`` warns that PUBLIC_URL is better)."""
        if self._values["public_url"]:
            return self._values["public_url"]
        host = self._values["host"]
        if host in WILDCARD_HOSTS:
            host = socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._values['port']}"

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        return tuple(h.lower() for h in _csv(self._values["allowed_hosts"]))

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.rstrip("/") for o in _csv(self._values["cors_origins"]))

    @property
    def trusted_proxy_list(self) -> tuple[str, ...]:
        return _csv(self._values["trusted_proxies"])

    @functools.cached_property
    def models_path(self) -> Path:
        return Path(self._values["models_dir"]).expanduser().resolve() if self._values["models_dir"] else self.data_path / "models"


def settings_markdown() -> str:
    """The README's settings table (a test keeps the README in step with this)."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `--{s.name.replace('_', '-')}` | `{s.env}` | `{s.default!r}` | {s.help} |")
    return "\n".join(rows)
