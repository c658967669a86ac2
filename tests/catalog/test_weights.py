"""catalog.weights: where each source form's weights live, whether they are installed, and LoRAs.

A folder counts as a pipeline by its model_index.json alone, so these layouts need no torch; the
engine tests (tests/engine/test_loader.py) load real tiny weights from the same layouts.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from reelforge.catalog import Catalog
from reelforge.catalog.weights import PACKAGED, available_loras, find_lora, locate, lora_not_found

TINY_LTX = Catalog().resolve("ltx-tiny-random")


def entry(source: str, id: str = "acme"):
    return dataclasses.replace(TINY_LTX, id=id, source=source)


def pipeline(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "model_index.json").write_text("{}")
    return path


def test_packaged_builtin_is_installed_in_place(tmp_path):
    where = locate(Catalog().resolve("reelforge-tiny"), tmp_path)
    assert (where.kind, where.installed, where.path) == ("builtin", True, PACKAGED["reelforge-tiny"])


def test_buildable_builtin_is_installed_before_it_is_built_unless_its_folder_is_taken(tmp_path):
    where = locate(TINY_LTX, tmp_path)
    assert (where.kind, where.installed, where.path) == ("builtin", True, tmp_path / "ltx-tiny-random")
    (tmp_path / "ltx-tiny-random").mkdir()
    taken = locate(TINY_LTX, tmp_path)
    assert not taken.installed and str(tmp_path / "ltx-tiny-random") in taken.message
    unknown = locate(entry("builtin:nope"), tmp_path)
    assert not unknown.installed and "only builds: " in unknown.message and "ltx-tiny-random" in unknown.message


def test_hub_id_not_downloaded_names_both_places_and_the_pull_command(tmp_path):
    where = locate(entry("acme/video-model"), tmp_path)
    assert (where.kind, where.installed, where.path) == ("hub", False, None)
    assert str(tmp_path / "acme" / "video-model") in where.message and str(tmp_path / "hub") in where.message
    assert "reelforge pull acme" in where.message


def test_hub_id_is_found_in_a_placed_folder_or_the_hub_cache(tmp_path):
    placed = pipeline(tmp_path / "acme" / "placed")
    assert locate(entry("acme/placed"), tmp_path).path == placed
    assert locate(entry("acme/placed"), tmp_path).kind == "local"

    repo = tmp_path / "hub" / "models--acme--cached"
    old, main = pipeline(repo / "snapshots" / ("1" * 40)), pipeline(repo / "snapshots" / ("2" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("2" * 40)
    os.utime(old, (time.time() + 60,) * 2)  # newer, but refs/main wins
    where = locate(entry("acme/cached"), tmp_path)
    assert (where.kind, where.installed, where.path) == ("hub", True, main)
    (repo / "refs" / "main").unlink()  # a snapshot without a ref still counts: the newest complete one
    assert locate(entry("acme/cached"), tmp_path).path == old


def test_local_folders_need_model_index_json(tmp_path):
    missing = locate(entry(str(tmp_path / "nowhere")), tmp_path)
    assert (missing.kind, missing.installed) == ("local", False) and "does not exist" in missing.message
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "unet").mkdir()
    half = locate(entry("./half"), tmp_path)
    assert not half.installed and "model_index.json" in half.message
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"")
    assert not locate(entry(str(single)), tmp_path).installed  # the loader takes folders only
    assert locate(entry("./ok"), tmp_path).installed is False
    pipeline(tmp_path / "ok")
    assert locate(entry("./ok"), tmp_path).installed is True


def test_loras_by_name_with_or_without_suffix_or_by_folder_and_never_by_path(tmp_path):
    loras = tmp_path / "loras"
    (loras / "folder-lora").mkdir(parents=True)
    (loras / "detail.safetensors").write_bytes(b"")
    (loras / "raw.bin").write_bytes(b"")
    (loras / ".DS_Store").write_bytes(b"")
    assert find_lora("detail", tmp_path) == loras / "detail.safetensors"
    assert find_lora("detail.safetensors", tmp_path) == loras / "detail.safetensors"
    assert find_lora("folder-lora", tmp_path) == loras / "folder-lora"
    assert find_lora("raw.bin", tmp_path) == loras / "raw.bin"
    # A path, even to a real LoRA, is not a name: answering would tell a caller which paths exist.
    for path in (str(loras / "raw.bin"), "../loras/raw.bin", "folder-lora/", ".DS_Store", "..", "a\\b"):
        assert find_lora(path, tmp_path) is None, path
    assert "not by a path" in lora_not_found("/etc/passwd", tmp_path)
    assert find_lora("missing", tmp_path) is None
    assert find_lora("x" * 5000, tmp_path) is None  # too long for the file system: not found, not a crash
    assert find_lora("a\0b", tmp_path) is None
    assert available_loras(tmp_path) == ["detail", "folder-lora", "raw.bin"]


@pytest.mark.parametrize("have", [True, False])
def test_missing_lora_message_lists_the_available_ones(tmp_path, have):
    if have:
        (tmp_path / "loras").mkdir()
        (tmp_path / "loras" / "b.safetensors").write_bytes(b"")
        (tmp_path / "loras" / "a.safetensors").write_bytes(b"")
    message = lora_not_found("nope", tmp_path)
    assert "'nope' not found" in message and str(tmp_path / "loras") in message
    assert ("Available LoRAs: a, b." in message) is have
    assert ("No LoRAs are installed" in message) is not have
