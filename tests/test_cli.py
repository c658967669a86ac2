"""`reelforge generate` and `reelforge models`, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys

import av
from PIL import Image


def run(args, tiny_models_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REELFORGE_MODELS_DIR": str(tiny_models_dir),
           "REELFORGE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "reelforge.cli", *args], env=env, capture_output=True, text=True, timeout=300)


def test_generate_writes_a_playable_mp4_with_a_progress_bar(tiny_models_dir, tmp_path):
    out = tmp_path / "out.mp4"
    proc = run(["generate", "a red circle moving right", "--seed", "3", "--steps", "4", "--size", "256x256",
                "--frames", "17", "--output", str(out)], tiny_models_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4/4 steps" in proc.stderr and "seed 3" in proc.stderr
    with av.open(str(out)) as c:
        frames = [f for f in c.decode(video=0)]
    assert len(frames) == 17 and (frames[0].width, frames[0].height) == (256, 256)


def test_generate_image_to_video(tiny_models_dir, tmp_path):
    img = tmp_path / "in.png"
    Image.new("RGB", (80, 60), (0, 0, 255)).save(img)
    out = tmp_path / "i2v.mp4"
    proc = run(["generate", "animate it", "--image", str(img), "--steps", "2", "--size", "256x256", "--frames", "9",
                "--output", str(out)], tiny_models_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 9


def test_generate_rejects_bad_values_with_the_allowed_ones(tiny_models_dir, tmp_path):
    proc = run(["generate", "x", "--size", "100x100", "--output", str(tmp_path / "x.mp4")], tiny_models_dir, tmp_path)
    assert proc.returncode == 2
    assert "Invalid size '100x100'" in proc.stderr and "720x1280" in proc.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_models_lists_the_catalog_and_warns_about_noise(tmp_path, tiny_models_dir):
    proc = run(["models"], tiny_models_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ltx-tiny-random" in proc.stdout and "RANDOM WEIGHTS" in proc.stdout


def test_pull_builds_the_builtin_model_and_explains_a_missing_one(tmp_path):
    models = tmp_path / "models"
    proc = run(["pull", "sora-2", "--models-dir", str(models)], models, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (models / "ltx-tiny-random" / "model_index.json").is_file()
    proc = run(["pull", "no-such-model", "--models-dir", str(models)], models, tmp_path)
    assert proc.returncode == 2 and "Unknown model 'no-such-model'" in proc.stderr
