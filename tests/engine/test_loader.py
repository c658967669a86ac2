"""Resolving a catalog entry's weights: builtin, local folder, hub id; and the errors when they are missing."""

import dataclasses
import shutil
import threading

import numpy as np
import pytest
import torch

from reelforge.catalog.weights import locate
from reelforge.engine.adapters import adapter_class
from reelforge.engine.adapters.ltx import LTXAdapter
from reelforge.engine.loader import load_adapter, resolve_weights
from reelforge.engine.tiny_random import build_tiny_ltx
from reelforge.errors import ModelUnavailable

from .conftest import CPU, make_request, no_progress


def test_builtin_is_built_on_first_use_and_reused(tmp_path, tiny_entry):
    models = tmp_path / "models"
    path = resolve_weights(tiny_entry, models)
    assert path == models / "ltx-tiny-random"
    assert (path / "model_index.json").is_file()
    marker_mtime = (path / "model_index.json").stat().st_mtime_ns
    weights_mtime = (path / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns

    assert resolve_weights(tiny_entry, models) == path
    assert (path / "model_index.json").stat().st_mtime_ns == marker_mtime
    assert (path / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == weights_mtime
    # The build went through a temp folder that was renamed away: nothing half-written is left.
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == ["ltx-tiny-random"]


def test_concurrent_first_use_builds_one_complete_model(tmp_path, tiny_entry):
    models = tmp_path / "models"
    results, errors = [], []

    def resolve():
        try:
            results.append(resolve_weights(tiny_entry, models))
        except Exception as e:  # surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=resolve) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [models / "ltx-tiny-random"] * 3
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == ["ltx-tiny-random"]


def test_tiny_builder_is_deterministic_per_seed(tmp_path):
    files = ("transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
             "text_encoder/model.safetensors")
    a, b, c = (build_tiny_ltx(tmp_path / n, seed=s) for n, s in (("a", 0), ("b", 0), ("c", 1)))
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
        assert (a / f).read_bytes() != (c / f).read_bytes(), f


def test_builtin_folder_that_is_not_a_pipeline_is_reported_not_overwritten(tmp_path, tiny_entry):
    broken = tmp_path / "ltx-tiny-random"
    broken.mkdir()
    (broken / "notes.txt").write_text("mine")
    with pytest.raises(ModelUnavailable) as e:
        resolve_weights(tiny_entry, tmp_path)
    assert str(broken) in str(e.value)
    assert (broken / "notes.txt").read_text() == "mine"


def test_unknown_builtin_and_unknown_family_are_unavailable(tmp_path, tiny_entry):
    with pytest.raises(ModelUnavailable, match="ltx-tiny-random"):
        resolve_weights(dataclasses.replace(tiny_entry, source="builtin:nope"), tmp_path)
    with pytest.raises(ModelUnavailable, match="family 'nope'.*supports: .*ltx"):
        load_adapter(dataclasses.replace(tiny_entry, family="nope"), tmp_path, CPU, torch.float32)
    assert not (tmp_path / "nope").exists()
    assert adapter_class("ltx") is LTXAdapter


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative-to-models-dir"])
def test_local_folder_source_loads_and_generates(tmp_path, tiny_models_dir, tiny_entry, relative):
    models = tmp_path / "models"
    folder = models / "local" / "my-ltx"
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", folder)
    entry = dataclasses.replace(tiny_entry, id="my-ltx", source="local/my-ltx" if relative else str(folder))

    assert resolve_weights(entry, models) == folder
    frames = load_adapter(entry, models, CPU, torch.float32).generate(make_request(num_frames=9), no_progress)
    assert frames.shape == (9, 64, 128, 3) and frames.dtype == np.uint8


def test_missing_local_folder_says_where_it_looked(tmp_path, tiny_entry):
    missing = tmp_path / "nowhere" / "ltx"
    with pytest.raises(ModelUnavailable) as e:
        load_adapter(dataclasses.replace(tiny_entry, source=str(missing)), tmp_path, CPU, torch.float32)
    assert str(missing) in str(e.value)
    assert "does not exist" in str(e.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelUnavailable) as e:
        resolve_weights(dataclasses.replace(tiny_entry, source="./empty"), tmp_path)
    assert str(empty) in str(e.value) and "model_index.json" in str(e.value)


def test_uncached_hub_id_offline_is_unavailable_with_both_places_named(tmp_path, tiny_entry, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = dataclasses.replace(tiny_entry, id="acme-video", source="acme/video-model")
    with pytest.raises(ModelUnavailable) as e:
        resolve_weights(entry, tmp_path)
    message = str(e.value)
    assert str(tmp_path / "hub") in message
    assert str(tmp_path / "acme" / "video-model") in message
    assert "reelforge pull acme-video" in message
    assert "offline" in message


def test_hub_id_resolves_from_the_offline_cache(tmp_path, tiny_models_dir, tiny_entry, monkeypatch):
    # The layout `reelforge pull` leaves behind: models--org--name/{refs/main, snapshots/<sha>/}.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "models--acme--tiny-ltx"
    sha = "1" * 40
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    entry = dataclasses.replace(tiny_entry, id="acme-tiny", source="acme/tiny-ltx")

    assert resolve_weights(entry, tmp_path) == repo / "snapshots" / sha
    frames = load_adapter(entry, tmp_path, CPU, torch.float32).generate(make_request(num_frames=9), no_progress)
    assert frames.shape == (9, 64, 128, 3)


def test_hub_id_prefers_a_folder_placed_under_models_dir(tmp_path, tiny_models_dir, tiny_entry):
    placed = tmp_path / "acme" / "tiny-ltx"
    shutil.copytree(tiny_models_dir / "ltx-tiny-random", placed)
    entry = dataclasses.replace(tiny_entry, id="acme-tiny", source="acme/tiny-ltx")
    assert resolve_weights(entry, tmp_path) == placed


def _snapshot_without_ref(models, tiny):
    shutil.copytree(tiny, models / "hub" / "models--acme--tiny-ltx" / "snapshots" / ("3" * 40))
    return "acme/tiny-ltx"


def _single_file(models, tiny):
    weights = tiny / "transformer" / "diffusion_pytorch_model.safetensors"
    (models / "model.safetensors").write_bytes(weights.read_bytes())
    return str(models / "model.safetensors")


def _half_copied(models, tiny):
    shutil.copytree(tiny / "transformer", models / "half" / "transformer")
    return "half"


@pytest.mark.parametrize("layout, installed", [(_snapshot_without_ref, True), (_single_file, False),
                                               (_half_copied, False)], ids=["snapshot-without-ref", "file", "half"])
def test_the_service_calls_installed_exactly_what_the_engine_loads(tmp_path, tiny_models_dir, tiny_entry, layout,
                                                                   installed):
    # The layouts where the service's and the engine's rules used to disagree (offline: conftest).
    source = layout(tmp_path, tiny_models_dir / "ltx-tiny-random")
    entry = dataclasses.replace(tiny_entry, id="acme-tiny", source=source)
    where = locate(entry, tmp_path)
    assert where.installed is installed
    if installed:
        assert resolve_weights(entry, tmp_path) == where.path
        load_adapter(entry, tmp_path, CPU, torch.float32)
    else:
        with pytest.raises(ModelUnavailable):
            resolve_weights(entry, tmp_path)
