"""The torch-free model catalog: what each model can do, its limits and defaults, and where its weights live.

The API validates every request against an entry before queueing it, so an impossible request
never reaches a GPU. Workers read the same entry to load and run the model.

    entry.py      ModelEntry and its vocabulary (frame rules, options, memory policies, styles, sizes)
    entries/      the built-in entries, one file per family
    user_file.py  the user's TOML catalog (added models, aliases, local weights, pricing)
    weights.py    where a model's weights (and LoRAs) live and whether they are installed

Submodules import ``entry`` and never this package, so there is no import cycle.
"""

from __future__ import annotations

from ..errors import ModelNotFound, shown
from .entries import BUILTIN
from .entry import (MEMORY_POLICIES, OPENAI_MODEL_NAMES, OPENAI_SIZES, SPEEDS, STYLES, FrameRule, MemoryPolicy,
                    ModelEntry, OptionSpec, parse_size)
from .user_file import CatalogFileError, load_catalog_file

__all__ = ["BUILTIN", "MEMORY_POLICIES", "OPENAI_MODEL_NAMES", "OPENAI_SIZES", "SPEEDS", "STYLES", "Catalog", "CatalogFileError",
           "FrameRule", "MemoryPolicy", "ModelEntry", "OptionSpec", "parse_size"]


class Catalog:
    def __init__(
        self, entries: tuple[ModelEntry, ...] | None = None, default: str | None = None, user_file: str | None = None
    ):
        entries = BUILTIN if entries is None else entries
        self.entries = {e.id: e for e in entries}
        self.aliases = {a: e.id for e in entries for a in e.aliases}
        if user_file:
            added, aliases = load_catalog_file(user_file, self.entries)
            # A user's model or alias wins over a built-in one of the same name.
            for e in added:
                self.entries[e.id] = e
                self.aliases.update({a: e.id for a in e.aliases})
            self.aliases.update(aliases)
        self.default = default or entries[0].id
        if self.default not in self.entries:
            raise ModelNotFound(f"default model '{self.default}' is not in the catalog; known: {', '.join(self.entries)}")

    def resolve(self, name: str | None, *, param: str = "model") -> ModelEntry:
        if not name:
            return self.entries[self.default]
        key = self.aliases.get(name, name)
        try:
            return self.entries[key]
        except KeyError:
            known = sorted(self.entries) + sorted(self.aliases)
            raise ModelNotFound(f"Unknown model {shown(name)}. Available models: {', '.join(known)}.", param=param) from None

    def __iter__(self):
        return iter(self.entries.values())

    @classmethod
    def from_settings(cls, settings) -> "Catalog":
        return cls(default=settings.default_model, user_file=settings.catalog or None)
