"""`reelforge bench`: the CLI runs both paths side by side, and the stored published architectures
are the published sizes (checked by parameter count on the meta device, so no memory is used).

Timings are printed, never asserted: benchmarks are not tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reelforge.catalog import Catalog
from reelforge.cli import main
from reelforge.engine.bench.plain import plain_call
from reelforge.engine.bench.published import (
    build_model,
    parameter_count,
    published_root,
    stored_models,
)
from reelforge.engine.bench.subjects import bench_request, tiny_adapter

B, M = 1e9, 1e6

# Published sizes (model cards, hub file sizes, diffusers docs), per stored component folder.
UMT5_XXL_ENCODER = 5.68 * B  # Wan's models_t5_umt5-xxl-enc-bf16: 11.4 GB in bf16
T5_XXL_ENCODER = 4.76 * B  # t5-v1_1-xxl encoder (t5xxl_fp16: 9.79 GB with the embedding stored twice)
CLIP_H_VISION = 632 * M  # ViT-H/14 vision tower (+ its 1.3M projection)
WAN21_VAE = 127 * M  # Wan2.1_VAE.pth: 508 MB in fp32
WAN_14B = 14.29 * B
WAN_14B_I2V = 16.4 * B  # the 14B plus the image cross-attention (add_k/add_v) and image embedder

PUBLISHED_SIZES: dict[str, float] = {
    "wan2.1-t2v-1.3b/transformer": 1.419 * B,
    "wan2.1-t2v-14b/transformer": WAN_14B,
    "wan2.1-i2v-14b-480p/transformer": WAN_14B_I2V,
    "wan2.1-i2v-14b-720p/transformer": WAN_14B_I2V,
    "wan2.1-flf2v-14b-720p/transformer": WAN_14B_I2V,
    "wan2.2-t2v-a14b/transformer": WAN_14B,  # "A14B": 27B in all, 14B active per step
    "wan2.2-t2v-a14b/transformer_2": WAN_14B,
    "wan2.2-i2v-a14b/transformer": WAN_14B,
    "wan2.2-i2v-a14b/transformer_2": WAN_14B,
    "wan2.2-ti2v-5b/transformer": 5.0 * B,
    "wan2.2-ti2v-5b/vae": 705 * M,  # Wan2.2_VAE.pth: 2.82 GB in fp32
    "ltx-video/transformer": 1.92 * B,
    "cogvideox-2b/transformer": 1.69 * B,
    "cogvideox-5b/transformer": 5.57 * B,
    "cogvideox-5b-i2v/transformer": 5.57 * B,
    "hunyuanvideo/transformer": 12.82 * B,
    "hunyuanvideo/text_encoder": 7.50 * B,  # LLaMA-3-8B without its LM head
    "hunyuanvideo/text_encoder_2": 123.06 * M,  # CLIP ViT-L/14 text
    "hunyuanvideo/vae": 246 * M,
    "svd/unet": 1.5246 * B,
    "svd-xt/unet": 1.5246 * B,
    "svd/vae": 97.7 * M,
    "svd-xt/vae": 97.7 * M,
    "svd/image_encoder": CLIP_H_VISION,
    "svd-xt/image_encoder": CLIP_H_VISION,
    "animatediff-v1-5-2/unet": 859.5 * M,  # SD1.5
    "animatediff-v1-5-2/vae": 83.65 * M,
    "animatediff-v1-5-2/text_encoder": 123.06 * M,
    "animatediff-v1-5-2/motion_adapter": 453 * M,  # mm_sd_v15_v2: 1.82 GB in fp32
    "fast-svd/t2i/unet": 865.9 * M,  # SD 2.1
    "fast-svd/t2i/vae": 83.65 * M,
    "fast-svd/t2i/text_encoder": 340.4 * M,  # OpenCLIP ViT-H/14 text, 23 layers
}
for _wan in ("wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-i2v-14b-720p",
             "wan2.1-flf2v-14b-720p", "wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b"):
    PUBLISHED_SIZES[f"{_wan}/text_encoder"] = UMT5_XXL_ENCODER
    if _wan != "wan2.2-ti2v-5b":
        PUBLISHED_SIZES[f"{_wan}/vae"] = WAN21_VAE
    if "i2v-14b" in _wan or "flf2v" in _wan:
        PUBLISHED_SIZES[f"{_wan}/image_encoder"] = CLIP_H_VISION
for _model in ("ltx-video", "cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v"):
    PUBLISHED_SIZES[f"{_model}/text_encoder"] = T5_XXL_ENCODER
for _model in ("cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v"):
    PUBLISHED_SIZES[f"{_model}/vae"] = 215.6 * M  # 431 MB in bf16

# Stored, but with no published size to hold them to (their architecture follows diffusers' defaults).
NO_PUBLISHED_SIZE = {"ltx-video/vae"}

# One relative percent: a single block more or fewer moves every denoiser by more than that.
TOLERANCE = 0.01

# The catalog models whose main published checkpoints are stored (fast-svd: its text-to-image stage).
STORED_MODELS = (
    "ltx-video", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-i2v-14b-720p",
    "wan2.1-flf2v-14b-720p", "wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b", "cogvideox-2b",
    "cogvideox-5b", "cogvideox-5b-i2v", "hunyuanvideo", "animatediff-v1-5-2", "svd", "svd-xt", "fast-svd",
)


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models are all small ops: on a shared 2-core box, two OpenMP threads fighting other
    # processes for the cores run them several times slower than one thread does.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _stored() -> list[tuple[str, object, str, str]]:
    root = published_root()
    return [(str(folder.relative_to(root)), folder, library, cls) for folder, library, cls in stored_models(root)]


STORED = _stored()


def test_every_stored_component_is_held_to_a_published_size():
    stored = {key for key, *_ in STORED}
    assert stored - NO_PUBLISHED_SIZE == set(PUBLISHED_SIZES), "a stored config without a published size, or the reverse"


def test_the_main_published_checkpoints_are_stored_for_their_catalog_models():
    catalog = Catalog()
    for model in STORED_MODELS:
        entry = catalog.resolve(model)  # still a catalog model
        assert (published_root() / entry.id).is_dir(), model
    with_index = {p.parent.relative_to(published_root()).as_posix() for p in published_root().rglob("model_index.json")}
    assert with_index == (set(STORED_MODELS) - {"fast-svd"}) | {"fast-svd/t2i"}


@pytest.mark.parametrize("key, folder, library, cls", STORED, ids=[key for key, *_ in STORED])
def test_stored_architecture_has_the_published_parameter_count(key, folder, library, cls):
    model = build_model(folder.parent, folder.name, library, cls, "meta", torch.float32)
    count = parameter_count(model)
    print(f"{key}: {count:,} parameters")
    if key in NO_PUBLISHED_SIZE:
        return
    expected = PUBLISHED_SIZES[key]
    assert abs(count - expected) <= TOLERANCE * expected, f"{key}: {count:,} parameters, published {expected:,.0f}"


def test_bench_cli_prints_both_paths_and_their_ratio(capsys):
    code = main(["bench", "--model", "ltx-video", "--tiny", "--device", "cpu", "--steps", "2", "--frames", "9",
                 "--size", "64x64", "--repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("reelforge bench: ltx-video (ltx, tiny random weights) on cpu float32")
    assert "request: 64x64, 9 frames, 2 steps" in lines[1]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] in (["ours"], ["plain"], ["ratio"])}
    assert set(rows) == {"ours", "plain", "ratio"}
    for path in ("ours", "plain"):  # s/step, s/video, peak memory "<n> MiB"
        assert [float(v.replace(",", "")) > 0 for v in rows[path][:3]] == [True] * 3 and rows[path][3] == "MiB"
    assert all(v.endswith("x") and float(v[:-1]) > 0 for v in rows["ratio"][:3])
    assert "(ours / plain)" in out


def test_bench_cli_json_for_an_image_to_video_model(capsys):
    # SVD: an input image, and decode ticks after the steps in our path that the step time must skip.
    code = main(["bench", "--model", "svd-xt", "--tiny", "--device", "cpu", "--steps", "2", "--frames", "2",
                 "--size", "64x64", "--repeats", "1", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["model"] == "svd-xt" and report["image_input"] is True and report["weights"] == "tiny random"
    assert (report["width"], report["height"], report["frames"], report["steps"]) == (64, 64, 2, 2)
    assert set(report["medians"]) == {"ours", "plain"} and len(report["runs"]["ours"]) == 1
    for path in ("ours", "plain"):
        assert all(report["medians"][path][m] > 0 for m in ("seconds_per_step", "seconds_per_video", "peak_bytes"))
    assert all(report["ratio"][m] > 0 for m in ("seconds_per_step", "seconds_per_video", "peak_bytes"))


@pytest.mark.parametrize("model, frames", [
    ("ltx-video", 9), ("wan2.1-flf2v-14b-720p", 5), ("wan2.2-i2v-a14b", 5), ("wan2.2-ti2v-5b", 5),
    ("cogvideox-5b-i2v", 9), ("hunyuanvideo", 5), ("animatediff-v1-5-2", 4), ("svd-xt", 2), ("fast-svd", 2),
])
def test_the_plain_baseline_is_the_same_generation_as_our_path(model, frames, tmp_path):
    # Same inputs means the same video: a ratio against a different computation would be meaningless.
    entry = Catalog().resolve(model)
    adapter = tiny_adapter(entry, tmp_path, torch.device("cpu"), torch.float32)
    req = bench_request(entry, tiny=True, steps=2, frames=frames, size="64x64")
    ours = adapter.generate(req, lambda done, total: None)
    plain = plain_call(adapter, req)(lambda pipe, step, timestep, kwargs: kwargs)
    assert np.array_equal((np.clip(plain.frames[0], 0.0, 1.0) * 255.0).round().astype(np.uint8), ours)


def test_bench_cli_refuses_what_it_cannot_run(capsys):
    assert main(["bench", "--model", "no-such-model", "--tiny"]) == 2
    assert "Unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["bench", "--model", "ltx-video", "--tiny", "--steps", "1"]) == 2
    assert "steps must be >= 2" in capsys.readouterr().err


def test_the_tier_summary_has_one_line_per_family_with_ratio_speed_up_and_psnr():
    from reelforge.engine.bench.measure import Run
    from reelforge.engine.bench.report import BenchReport, tier_summary

    def report(family, model, plain_s, ours_s, psnr):
        return BenchReport({"family": family, "model": model, "tier": "fast", "psnr_db": psnr},
                           {"plain": [Run(None, plain_s, 0)], "ours": [Run(None, ours_s, 0)]})

    lines = tier_summary([report("wan", "wan2.1-t2v-1.3b", 2.0, 1.0, 50.14),
                          report("ltx", "ltx-video", 1.0, 1.0, float("inf"))]).splitlines()
    assert lines[0].split() == ["family", "model", "tier", "s/video", "ratio", "speed-up", "PSNR"]
    assert lines[1].split() == ["wan", "wan2.1-t2v-1.3b", "fast", "0.500x", "2.00x", "50.1", "dB"]
    assert lines[2].split() == ["ltx", "ltx-video", "fast", "1.000x", "1.00x", "inf", "dB"]
