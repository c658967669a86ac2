"""Where a model's weights and LoRAs live, and whether they are installed: the one rule.

The service reads it to say which models are installed and to check LoRA names at submission;
the engine reads it to find the folder it loads, and only adds what needs torch or the network
(building ``builtin:`` weights, downloading from the hub). Torch-free: it only looks at files.

Source forms (``ModelEntry.source``):
  * ``builtin:<name>``  -> the weights shipped inside the package (``reelforge-tiny``), or
                            ``<models_dir>/<name>``, which the engine builds in code on first use;
  * a local folder       -> absolute, ``~/...``, or relative to ``models_dir``;
  * a hub repo id        -> ``<models_dir>/<org>/<name>`` if someone put a folder there, else the hub
                            cache in ``<models_dir>/hub``, filled by ``reelforge pull`` (or by a worker's
                            first use, unless offline).

A folder holds a model when it is a diffusers pipeline: ``from_pretrained`` starts from
``model_index.json``, so a folder without it (e.g. a half-copied download) is not one, whatever
else it holds.

LoRAs: ``<models_dir>/loras/<name>`` (a file or a diffusers folder), or the same with ``.safetensors``
added; a LoRA is named, never given as a path (``is_lora_name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import shown
from .entry import ModelEntry

BUILTIN_PREFIX = "builtin:"
MARKER = "model_index.json"
HUB_CACHE = "hub"
LORA_DIR = "loras"
LORA_SUFFIX = ".safetensors"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# ``builtin:<name>`` sources whose weights ship inside the package: loaded in place, never copied.
PACKAGED: dict[str, Path] = {"reelforge-tiny": Path(__file__).parent.parent / "engine" / "builtin" / "weights"}
# ``builtin:<name>`` sources the engine builds in code: name -> "module:function" that writes the
# diffusers folder. The table lives here so the torch-free service can tell a buildable name from a
# typo; the engine imports the function on first use, so one family's build never imports another's code.
BUILDERS: dict[str, str] = {
    "ltx-tiny-random": "reelforge.engine.tiny_random:build_tiny_ltx",
    "wan-tiny-random": "reelforge.engine.tiny.wan:build_tiny_wan",
    "wan-i2v-tiny-random": "reelforge.engine.tiny.wan:build_tiny_wan_i2v",
    "wan-flf2v-tiny-random": "reelforge.engine.tiny.wan:build_tiny_wan_flf2v",
    "wan22-i2v-tiny-random": "reelforge.engine.tiny.wan:build_tiny_wan22_i2v",
    "wan22-ti2v-tiny-random": "reelforge.engine.tiny.wan:build_tiny_wan22_ti2v",
    "cogvideox-tiny-random": "reelforge.engine.tiny.cogvideox:build_tiny_cogvideox",
    "cogvideox-i2v-tiny-random": "reelforge.engine.tiny.cogvideox:build_tiny_cogvideox_i2v",
    "hunyuan-tiny-random": "reelforge.engine.tiny.hunyuan:build_tiny_hunyuan",
    "svd-tiny-random": "reelforge.engine.tiny.svd:build_tiny_svd",
    "sd-tiny-random": "reelforge.engine.tiny.svd:build_tiny_sd",
    "animatediff-tiny-random": "reelforge.engine.tiny.animatediff:build_tiny_animatediff",
}


@dataclass(frozen=True)
class Location:
    """Where one model's weights are, or would be."""

    model: str
    source: str
    kind: str  # "builtin", "local" (a folder on this machine) or "hub" (the hub cache)
    # The weights' folder. Not installed: where they would be (None for a hub id not downloaded yet).
    # A built-in model that is built in code may be installed before this folder exists.
    path: Path | None
    installed: bool  # a worker can load it without a download
    looked: str  # where reelforge looked and what it found there
    hint: str  # how to install the weights; "" when installed

    @property
    def message(self) -> str:
        """For errors: the model, where reelforge looked, and what to do (often `reelforge pull`)."""
        return f"model '{self.model}': {self.looked}." + (f" {self.hint}" if self.hint else "")


def is_pipeline_dir(path: Path) -> bool:
    return (path / MARKER).is_file()


def is_hub_id(source: str) -> bool:
    """An ``org/name`` repo id. Anything that is clearly a path is never sent to the hub."""
    given = Path(source).expanduser()
    return not given.is_absolute() and not source.startswith((".", "~")) and bool(_HUB_ID.match(source))


def locate(entry: ModelEntry, models_dir: Path) -> Location:
    """Where ``entry``'s weights live under ``models_dir`` and whether they are installed."""
    models_dir = Path(models_dir).expanduser()
    source = entry.source
    if source.startswith(BUILTIN_PREFIX):
        return _builtin(entry, source[len(BUILTIN_PREFIX):], models_dir)
    given = Path(source).expanduser()
    path = given if given.is_absolute() else models_dir / given
    if is_pipeline_dir(path):
        return Location(entry.id, source, "local", path, True, f"found in {path}", "")
    if is_hub_id(source):
        return _hub(entry, models_dir)
    what = f"is not a diffusers folder (no {MARKER})" if path.is_dir() else "does not exist"
    return Location(
        entry.id, source, "local", path, False, f"weights not found; looked in {path}, which {what}",
        f"Put a diffusers folder (as written by save_pretrained, with {MARKER}) at {path}, "
        f"or point the catalog entry's source at a hub repo id and run `reelforge pull {entry.id}`.",
    )


def _builtin(entry: ModelEntry, name: str, models_dir: Path) -> Location:
    def at(path: Path, installed: bool, looked: str, hint: str = "") -> Location:
        return Location(entry.id, entry.source, "builtin", path, installed, looked, hint)

    shipped = PACKAGED.get(name)
    if shipped is not None:
        if is_pipeline_dir(shipped):
            return at(shipped, True, f"weights shipped with reelforge, at {shipped}")
        return at(shipped, False, f"the weights shipped with reelforge are missing from {shipped}",
                  "Reinstall reelforge.")
    path = models_dir / name
    if name not in BUILDERS:
        return at(path, False, f"names built-in weights '{name}', but this reelforge only builds: "
                               f"{', '.join(sorted([*BUILDERS, *PACKAGED]))}", "Fix the catalog entry's source.")
    if path.exists() and not is_pipeline_dir(path):
        # Builds are atomic (a temp folder renamed into place), so this is someone else's folder.
        return at(path, False, f"{path} exists but is not a diffusers folder (no {MARKER})",
                  "Move it away and reelforge will build the built-in weights there.")
    return at(path, True, f"built in code at {path}" + ("" if path.exists() else " on first use"))


def _hub(entry: ModelEntry, models_dir: Path) -> Location:
    cache = models_dir / HUB_CACHE
    local = models_dir / entry.source
    snapshot = cached_snapshot(cache, entry.source)
    if snapshot is not None:
        return Location(entry.id, entry.source, "hub", snapshot, True, f"found in the hub cache at {snapshot}", "")
    return Location(
        entry.id, entry.source, "hub", None, False,
        f"weights for hub repo '{entry.source}' are not downloaded; looked in {local} and in the hub cache {cache}",
        f"Run `reelforge pull {entry.id}` on a machine with hub access (it fills {cache}), "
        f"or put a diffusers folder (with {MARKER}) at {local}.",
    )


def cached_snapshot(cache: Path, repo_id: str) -> Path | None:
    """The snapshot of ``repo_id`` in a huggingface_hub cache folder: the one ``refs/main`` names (what
    ``from_pretrained`` loads), else the newest complete one; None when none holds a pipeline."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    if ref.is_file():
        named = repo / "snapshots" / ref.read_text().strip()
        if is_pipeline_dir(named):
            return named
    snapshots = repo / "snapshots"
    complete = [d for d in snapshots.iterdir() if is_pipeline_dir(d)] if snapshots.is_dir() else []
    return max(complete, key=lambda d: d.stat().st_mtime_ns, default=None)


# --- LoRAs ------------------------------------------------------------------------------------------


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte in it
        return False


def is_lora_name(name: str) -> bool:
    """A LoRA is named by one file or folder name inside ``<models_dir>/loras``: never a path. A
    request that could name any path would learn, from the answer, which paths exist on the server."""
    return bool(name) and name == Path(name).name and not name.startswith(".") and "\\" not in name


def find_lora(name: str, models_dir: Path) -> Path | None:
    """The file or folder holding the LoRA ``name`` in ``<models_dir>/loras``, or None."""
    if not is_lora_name(name):
        return None
    loras = Path(models_dir).expanduser() / LORA_DIR
    return next((p for p in (loras / name, loras / f"{name}{LORA_SUFFIX}") if _exists(p)), None)


def available_loras(models_dir: Path) -> list[str]:
    """The names that find the LoRAs in ``<models_dir>/loras`` (``x`` for ``x.safetensors``)."""
    loras = Path(models_dir).expanduser() / LORA_DIR
    if not loras.is_dir():
        return []
    names = (p.name[: -len(LORA_SUFFIX)] if p.is_file() and p.name.endswith(LORA_SUFFIX) else p.name
             for p in loras.iterdir() if not p.name.startswith("."))
    return sorted(set(names))


def lora_not_found(name: str, models_dir: Path) -> str:
    """Why ``name`` finds no LoRA: where reelforge looked, and the LoRAs it has."""
    loras = Path(models_dir).expanduser() / LORA_DIR
    where = (f"looked in {loras} for it as a file or folder, with or without {LORA_SUFFIX}" if is_lora_name(name)
             else f"a LoRA is named by a file or folder name in {loras}, not by a path")
    available = available_loras(models_dir)
    have = f"Available LoRAs: {', '.join(available)}." if available else f"No LoRAs are installed in {loras}."
    return f"LoRA {shown(name)} not found: {where}. {have} Put the {LORA_SUFFIX} file in {loras} to add one."
