"""`reelforge generate`, `models` and `worker --help`, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from reelforge.cli import main
from reelforge.engine.builtin import WEIGHTS_DIR
from reelforge.engine.builtin.judge import judge


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


def test_generate_with_the_builtin_default_follows_the_prompt(tiny_models_dir, tmp_path):
    out = tmp_path / "red.mp4"
    proc = run(["generate", "a red circle moving right on a black background", "--seed", "0", "--size", "256x256",
                "--output", str(out)], tiny_models_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "reelforge-tiny" in proc.stderr and "random weights" not in proc.stderr
    with av.open(str(out)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert frames.shape == (32, 256, 256, 3)  # 4 s at 8 fps, the catalog defaults
    v = judge(frames)
    assert (v.colour, v.motion, v.background) == ("red", "right", "black"), v


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
    assert "reelforge-tiny" in proc.stdout and "default" in proc.stdout
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") > 2}
    assert "yes (builtin)" in rows["reelforge-tiny"] and "│ no " in rows["ltx-video"]  # the installed column


def test_pull_builds_the_builtin_model_and_explains_a_missing_one(tmp_path):
    models = tmp_path / "models"
    proc = run(["pull", "sora-2", "--models-dir", str(models)], models, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "reelforge-tiny: ready at" in proc.stderr
    assert WEIGHTS_DIR.name in proc.stderr and not (models / "reelforge-tiny").exists()  # shipped: nothing fetched
    proc = run(["pull", "ltx-tiny-random", "--models-dir", str(models)], models, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (models / "ltx-tiny-random" / "model_index.json").is_file()
    proc = run(["pull", "no-such-model", "--models-dir", str(models)], models, tmp_path)
    assert proc.returncode == 2 and "Unknown model 'no-such-model'" in proc.stderr


def test_worker_help_shows_only_what_a_worker_reads(capsys):
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = capsys.readouterr().out
    for flag in ("--database", "--artifacts", "--drain-seconds", "--notify-poll-seconds", "--device"):
        assert flag in text
    for flag in ("--port", "--public-url", "--cors-origins", "--max-upload-bytes", "--substitute-models"):
        assert flag not in text
