"""Tiny diffusers pipelines with random weights, built in code.

They let the whole service (and every test) run a *real* diffusers pipeline on a
CPU with no downloads: the same ``from_pretrained`` / ``__call__`` code paths as
real weights, only a few hundred kilobytes of parameters. The output is noise,
not a picture of the prompt.

Each builder writes a ``save_pretrained`` folder and returns its path; the
catalog names one with a ``builtin:<name>`` source (see ``catalog.weights.BUILDERS``).
"""

from __future__ import annotations

import importlib

import os
import shutil
import string
import uuid
from pathlib import Path
from typing import Callable

import torch

from ..catalog.weights import BUILDERS

# A small fixed corpus so common prompt words are single tokens; every other
# ASCII text still tokenizes (one piece per character) without <unk>.
_WORDS = (
    "a the of and in on with at to is cat dog city street night day sunset ocean forest mountain sky "
    "river car people man woman walking running flying dancing camera slow motion video cinematic light"
).split()


def _t5_tokenizer():
    """A T5 tokenizer from an in-memory vocabulary (recipe D in shared/notes/diffusers-on-cpu.md).

    T5's id layout matters: pad=0, eos=1, unk=2, which the encoder config repeats.
    transformers >= 5 builds T5's normalizer, pre-tokenizer and ``$A </s>`` template itself.
    """
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(c, -5.0) for c in string.printable if not c.isspace()]
    pieces += [("\u2581" + w, -1.0) for w in _WORDS]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)


def _t5_encoder():
    """A T5 encoder matching ``_t5_tokenizer``: vocab_size covers the tokenizer, special ids match it,
    and d_model (32) is the text width the tiny denoisers are built for."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=1000, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, dropout_rate=0.0,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        )
    ).eval()


def _ltx_pipeline(seed: int):
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    # fork_rng: seeding must not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # The text width (d_model) must equal the transformer's caption_channels, and
        # vocab_size must cover the tokenizer.
        text_encoder = _t5_encoder()
        # Two blocks, not one: diffusers' FirstBlockCache needs at least two on LTX.
        transformer = LTXVideoTransformer3DModel(
            in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
            num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
            num_layers=2, caption_channels=32,
        ).eval()
        # Three spatio-temporal downsamplings (x8 in time and space) times patch_size 4
        # gives real LTX's compression: 32x in space, 8x in time. So every multiple-of-32
        # size and every 8k+1 frame count round-trips exactly, and latents stay small
        # (64x128x33 frames -> 2x4x5 latent tokens), which keeps the tiny model fast.
        vae = AutoencoderKLLTXVideo(
            in_channels=3, out_channels=3, latent_channels=8,
            block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
            layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
            spatio_temporal_scaling=(True, True, True, False),
            decoder_spatio_temporal_scaling=(True, True, True, False),
            decoder_inject_noise=(False, False, False, False, False),
            upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
            timestep_conditioning=False, patch_size=4, patch_size_t=1,
            encoder_causal=True, decoder_causal=False,
        ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler()
    return LTXPipeline(
        transformer=transformer, vae=vae, scheduler=scheduler,
        text_encoder=text_encoder, tokenizer=_t5_tokenizer(),
    )


def _save_atomically(pipe, path: Path) -> Path:
    """``save_pretrained`` into a temp sibling, then rename: a crash never leaves a half model at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        pipe.save_pretrained(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            # Someone else finished first (rename onto a non-empty dir fails); theirs is
            # identical because the weights are seeded, so keep it.
            if not (path / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def build_tiny_ltx(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight LTX-Video pipeline (t2v and i2v) to ``path``; returns ``path``.

    The same ``seed`` always gives identical weights.
    """
    return _save_atomically(_ltx_pipeline(seed), Path(path))


def builtin_builder(name: str) -> Callable[[Path], Path] | None:
    """The function that writes the ``builtin:<name>`` weights (the table is ``catalog.weights.BUILDERS``)."""
    target = BUILDERS.get(name)
    if target is None:
        return None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)
