"""The user catalog: a TOML file that adds models, aliases, local weight paths and pricing.

    [models.my-wan]                     # a new model id
    base = "wan2.1-t2v-1.3b"            # inherit every limit and default from a catalog entry
    source = "/srv/models/wan-finetune" # a local diffusers folder or a hub repo id
    description = "Our fine-tune"
    aliases = ["veo-3-fast"]
    default_steps = 30                  # any scalar field of the base entry may be overridden
    default_speed = "fast"              # the speed tier of requests that name none (DiT families)
    credits_per_second = { "480p" = 1, "720p" = 2 }
    memory = { policy = "model_offload", vae_tiling = true }   # either key may be left out (the base's)

    [aliases]
    "pixverse/v5/text-to-video" = "my-wan"

Torch-free: the API reads it to validate requests.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from .entry import MEMORY_POLICIES, MemoryPolicy, ModelEntry

_OVERRIDABLE = {"source", "description", "default_size", "default_seconds", "fps", "default_steps", "max_steps",
                "default_guidance", "native_max_pixels", "owned_by", "max_frames", "default_speed", "max_batch"}
_TUPLES = {"sizes", "durations", "aliases"}


class CatalogFileError(ValueError):
    pass


def load_catalog_file(path: Path, builtin: dict[str, ModelEntry]) -> tuple[list[ModelEntry], dict[str, str]]:
    """(new or replaced entries, extra aliases). Errors name the file, the key and what is allowed."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CatalogFileError(f"catalog file {path}: {e}") from None
    unknown = set(data) - {"models", "aliases"}
    if unknown:
        raise CatalogFileError(f"catalog file {path}: unknown section(s) {sorted(unknown)}; allowed: models, aliases")
    entries: list[ModelEntry] = []
    known = dict(builtin)
    for model_id, table in (data.get("models") or {}).items():
        entry = _entry(path, model_id, dict(table), known)
        known[model_id] = entry
        entries.append(entry)
    aliases = {}
    for alias, target in (data.get("aliases") or {}).items():
        if target not in known:
            raise CatalogFileError(f"catalog file {path}: alias '{alias}' points at unknown model '{target}'; "
                                   f"known: {', '.join(sorted(known))}")
        aliases[alias] = target
    return entries, aliases


def _entry(path: Path, model_id: str, table: dict[str, Any], known: dict[str, ModelEntry]) -> ModelEntry:
    where = f"catalog file {path}, [models.{model_id}]"
    base_id = table.pop("base", None)
    if base_id is None:
        raise CatalogFileError(f"{where}: needs 'base', the catalog model whose family, limits and defaults it takes; "
                               f"known: {', '.join(sorted(known))}")
    if base_id not in known:
        raise CatalogFileError(f"{where}: base '{base_id}' is not a catalog model; known: {', '.join(sorted(known))}")
    base = known[base_id]
    changes: dict[str, Any] = {"id": model_id, "aliases": (), "random_weights": base.random_weights and "source" not in table}
    extra = dict(base.extra)
    for key, value in table.items():
        if key == "credits_per_second":
            if not isinstance(value, dict):
                raise CatalogFileError(f"{where}: credits_per_second must be a table of resolution = credits")
            extra["credits_per_second"] = {str(k): float(v) for k, v in value.items()}
        elif key == "memory":
            changes["memory"] = _memory(where, value, base.memory)
        elif key in _TUPLES:
            changes[key] = tuple(value)
        elif key in _OVERRIDABLE:
            expected = type(getattr(base, key))
            if expected is float and isinstance(value, int):
                value = float(value)
            if not isinstance(value, expected):
                raise CatalogFileError(f"{where}: {key} must be {expected.__name__}, got {value!r}")
            changes[key] = value
        else:
            allowed = sorted(_OVERRIDABLE | _TUPLES | {"base", "credits_per_second", "memory"})
            raise CatalogFileError(f"{where}: unknown key '{key}'; allowed: {', '.join(allowed)}")
    changes["extra"] = extra
    entry = dataclasses.replace(base, **changes)
    if entry.default_speed not in entry.speeds:
        raise CatalogFileError(f"{where}: default_speed {entry.default_speed!r} is not a speed tier of family "
                               f"{entry.family}; it has: {', '.join(entry.speeds)}")
    for size in (entry.default_size,):
        if size not in entry.sizes:
            raise CatalogFileError(f"{where}: default_size {size} is not in sizes {list(entry.sizes)}")
    # A tier no size of the model belongs to would never apply: every video would quietly cost the default.
    labels = entry.resolution_labels()
    unused = sorted(set(extra.get("credits_per_second") or {}) - set(labels) - {"default"})
    if unused:
        raise CatalogFileError(f"{where}: credits_per_second names {', '.join(unused)}, which none of the model's "
                               f"sizes is; its tiers: {', '.join(labels)} (and default)")
    return entry


def _memory(where: str, value: Any, base: MemoryPolicy) -> MemoryPolicy:
    if not isinstance(value, dict):
        raise CatalogFileError(f"{where}: memory must be a table like "
                               f"{{ policy = \"model_offload\", vae_tiling = true }}, got {value!r}")
    unknown = set(value) - {"policy", "vae_tiling"}
    if unknown:
        raise CatalogFileError(f"{where}: unknown memory key(s) {sorted(unknown)}; allowed: policy, vae_tiling")
    policy = value.get("policy", base.policy)
    if policy not in MEMORY_POLICIES:
        raise CatalogFileError(f"{where}: memory.policy {policy!r} is not a memory policy; "
                               f"allowed: {', '.join(MEMORY_POLICIES)}")
    tiling = value.get("vae_tiling", base.vae_tiling)
    if not isinstance(tiling, bool):
        raise CatalogFileError(f"{where}: memory.vae_tiling must be true or false, got {tiling!r}")
    return MemoryPolicy(policy, vae_tiling=tiling)
