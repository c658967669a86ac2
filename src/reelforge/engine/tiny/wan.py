"""Tiny random-weight Wan pipelines, built in code (no downloads), in the layouts of the real checkpoints.

One Wan 2.1 folder cannot serve both tasks: the text-to-video transformer takes the 16 noise
channels, the image-to-video one 36 (noise + 4 mask + 16 image-condition channels) plus a CLIP
image embedding. So each published layout has its own builder:

=========================  =====================================  =================================
builder                    mirrors                                tasks
=========================  =====================================  =================================
``build_tiny_wan``         Wan2.1-T2V-1.3B / 14B                  t2v (``WanPipeline``)
``build_tiny_wan_i2v``     Wan2.1-I2V-14B-480P / 720P             i2v, first frame (CLIP encoder)
``build_tiny_wan_flf2v``   Wan2.1-FLF2V-14B-720P                  i2v, first AND last frame
``build_tiny_wan22_i2v``   Wan2.2-I2V-A14B                        i2v, first (+ optional last)
                                                                  frame; two experts, boundary 0.9
``build_tiny_wan22_ti2v``  Wan2.2-TI2V-5B                         t2v and i2v in one folder
                                                                  (``expand_timesteps``, 48-ch VAE)
=========================  =====================================  =================================

Sizes are the upstream diffusers test configs: a 3-channel-base VAE (8x spatial, 4x temporal
compression, or 16x spatial for the Wan 2.2 VAE), a 2-layer transformer with patch (1, 2, 2), and
a 2-layer UMT5 encoder whose width equals the transformer's ``text_dim``. The tokenizer is built
in code (recipe D in shared/notes/diffusers-on-cpu.md). Weights are a pure function of ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_random import _save_atomically, _t5_tokenizer

_TEXT_DIM = 32  # UMT5 d_model == transformer text_dim
_HEADS, _HEAD_DIM = 2, 12
_CLIP_HIDDEN = 8  # CLIP hidden_size == transformer image_dim (the pipeline takes hidden_states[-2])
_CLIP_IMAGE, _CLIP_PATCH = 32, 8  # -> 16 patches + 1 class token per image
_CLIP_TOKENS = (_CLIP_IMAGE // _CLIP_PATCH) ** 2 + 1


def _text_encoder():
    from transformers import UMT5Config, UMT5EncoderModel

    # Special ids match the tokenizer (pad=0, eos=1); vocab_size covers it.
    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=1000, d_model=_TEXT_DIM, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, dropout_rate=0.0,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        )
    ).eval()


def _vae(wan22: bool = False):
    from diffusers import AutoencoderKLWan

    if not wan22:  # the Wan 2.1 VAE: z=16, 8x spatial, 4x temporal (real latents_mean/std defaults)
        return AutoencoderKLWan(
            base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
            temperal_downsample=[False, True, True],
        ).eval()
    # The Wan 2.2 VAE: z=48, pixel patchify 2 -> 16x spatial, 4x temporal.
    return AutoencoderKLWan(
        base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
        latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True],
    ).eval()


def _transformer(in_channels: int, out_channels: int, image: bool = False, pos_embed_seq_len: int | None = None):
    from diffusers import WanTransformer3DModel

    kwargs = {}
    if image:
        # As in the real Wan 2.1 I2V/FLF2V configs: a CLIP image context with its own K/V projections
        # (added_kv_proj_dim == inner dim), which makes the transformer expect 512 text tokens.
        kwargs = dict(image_dim=_CLIP_HIDDEN, added_kv_proj_dim=_HEADS * _HEAD_DIM, pos_embed_seq_len=pos_embed_seq_len)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=_HEADS, attention_head_dim=_HEAD_DIM,
        in_channels=in_channels, out_channels=out_channels, text_dim=_TEXT_DIM, freq_dim=256, ffn_dim=32,
        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=1024, **kwargs,  # as published: the RoPE table must cover 720p latents
    ).eval()


def _image_encoder():
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=_CLIP_HIDDEN, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
            image_size=_CLIP_IMAGE, patch_size=_CLIP_PATCH, projection_dim=_CLIP_HIDDEN,
        )
    ).eval()
    # Without torchvision, transformers 5 gives the PIL-backed processor (same outputs).
    processor = CLIPImageProcessor(size={"shortest_edge": _CLIP_IMAGE}, crop_size=_CLIP_IMAGE)
    return encoder, processor


def _scheduler():
    from diffusers import UniPCMultistepScheduler

    # What the real Wan-AI diffusers repos ship (flow_shift 3.0; the catalog may override it per model).
    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


def _wan_pipeline(seed: int, variant: str):
    from diffusers import WanImageToVideoPipeline, WanPipeline

    # fork_rng: seeding must not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = _text_encoder()
        common = dict(text_encoder=text_encoder, tokenizer=_t5_tokenizer(), scheduler=_scheduler())
        if variant == "t2v":
            return WanPipeline(vae=_vae(), transformer=_transformer(16, 16), **common)
        if variant in ("i2v", "flf2v"):
            # FLF2V's image embedder has a learned position table over both images' tokens,
            # so it takes exactly two images (first and last frame); I2V takes exactly one.
            pos = 2 * _CLIP_TOKENS if variant == "flf2v" else None
            transformer = _transformer(36, 16, image=True, pos_embed_seq_len=pos)
            encoder, processor = _image_encoder()
            return WanImageToVideoPipeline(
                vae=_vae(), transformer=transformer, image_encoder=encoder, image_processor=processor, **common
            )
        if variant == "wan22-i2v":
            # Two experts: `transformer` above the boundary timestep (high noise), `transformer_2` below.
            return WanImageToVideoPipeline(
                vae=_vae(), transformer=_transformer(36, 16), transformer_2=_transformer(36, 16),
                image_encoder=None, image_processor=None, boundary_ratio=0.9, **common,
            )
        if variant == "wan22-ti2v":
            # One dense transformer on the 48-channel latents; the first frame is conditioned by
            # per-token timesteps (expand_timesteps), so the same folder does t2v and i2v.
            return WanPipeline(vae=_vae(wan22=True), transformer=_transformer(48, 48), expand_timesteps=True, **common)
    raise ValueError(f"unknown tiny Wan variant {variant!r}")


def build_tiny_wan(path: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.1 text-to-video pipeline (``WanPipeline``) at ``path``; returns ``path``."""
    return _save_atomically(_wan_pipeline(seed, "t2v"), Path(path))


def build_tiny_wan_i2v(path: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.1 image-to-video pipeline (``WanImageToVideoPipeline`` + CLIP image encoder)."""
    return _save_atomically(_wan_pipeline(seed, "i2v"), Path(path))


def build_tiny_wan_flf2v(path: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.1 first-last-frame-to-video pipeline (needs both ``image`` and ``last_image``)."""
    return _save_atomically(_wan_pipeline(seed, "flf2v"), Path(path))


def build_tiny_wan22_i2v(path: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.2 I2V-A14B-style pipeline: two experts (``transformer_2``, ``boundary_ratio``), no CLIP."""
    return _save_atomically(_wan_pipeline(seed, "wan22-i2v"), Path(path))


def build_tiny_wan22_ti2v(path: Path, seed: int = 0) -> Path:
    """A tiny Wan 2.2 TI2V-5B-style pipeline: t2v and i2v from one folder (``expand_timesteps``)."""
    return _save_atomically(_wan_pipeline(seed, "wan22-ti2v"), Path(path))
