"""Tiny random-weight CogVideoX pipelines (text-to-video and image-to-video), built in code.

One folder cannot serve both tasks: ``CogVideoXImageToVideoPipeline`` concatenates the
image latents to the noise along channels, so its transformer takes twice the VAE's
latent channels, while ``CogVideoXPipeline`` feeds the noise alone. The real
checkpoints are split the same way (``CogVideoX-5b`` vs ``CogVideoX-5b-I2V``), so there
are two builders, sharing text encoder, tokenizer, VAE and scheduler weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_random import _save_atomically, _t5_encoder, _t5_tokenizer

# The tokenizer pads/truncates every prompt to this many tokens, and the transformer's
# text positions must match it (the pipeline is called with max_sequence_length equal
# to transformer.config.max_text_seq_length).
MAX_TEXT_SEQ_LENGTH = 16
_LATENT_CHANNELS = 4


def _cogvideox_pipeline(seed: int, image_to_video: bool):
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Same draw order for both variants, so they share text encoder and VAE weights.
        text_encoder = _t5_encoder()
        # block_out_channels of length 4 -> 8x spatial compression; temporal_compression_ratio=4
        # as in the real VAE, so the real frame rules (and decode behaviour) hold.
        vae = AutoencoderKLCogVideoX(
            in_channels=3, out_channels=3,
            down_block_types=("CogVideoXDownBlock3D",) * 4,
            up_block_types=("CogVideoXUpBlock3D",) * 4,
            block_out_channels=(8, 8, 8, 8), latent_channels=_LATENT_CHANNELS,
            layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
        ).eval()
        # Rotary positions (as CogVideoX-5b) rather than learned ones (5b-I2V), so any size on
        # the 16-pixel grid works. attention_head_dim=16: 3D RoPE splits it 4/6/6.
        # text_embed_dim == T5 d_model. Two layers: diffusers' FirstBlockCache needs two.
        transformer = CogVideoXTransformer3DModel(
            num_attention_heads=2, attention_head_dim=16,
            in_channels=_LATENT_CHANNELS * (2 if image_to_video else 1), out_channels=_LATENT_CHANNELS,
            time_embed_dim=4, text_embed_dim=32, num_layers=2,
            sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=MAX_TEXT_SEQ_LENGTH,
            use_rotary_positional_embeddings=True,
        ).eval()
    scheduler = CogVideoXDDIMScheduler()
    cls = CogVideoXImageToVideoPipeline if image_to_video else CogVideoXPipeline
    return cls(
        tokenizer=_t5_tokenizer(), text_encoder=text_encoder, vae=vae,
        transformer=transformer, scheduler=scheduler,
    )


def build_tiny_cogvideox(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight CogVideoX text-to-video pipeline to ``path``; returns ``path``."""
    return _save_atomically(_cogvideox_pipeline(seed, image_to_video=False), Path(path))


def build_tiny_cogvideox_i2v(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight CogVideoX image-to-video pipeline to ``path``; returns ``path``."""
    return _save_atomically(_cogvideox_pipeline(seed, image_to_video=True), Path(path))
