"""Tiny random-weight Stable Video Diffusion (image-to-video) and Stable Diffusion (text-to-image).

``build_tiny_svd`` writes a ``StableVideoDiffusionPipeline`` and ``build_tiny_sd`` a
``StableDiffusionPipeline`` (an SD-Turbo-like text-to-image model: Euler with
"trailing" spacing, meant for 1-4 steps at guidance 0). Together they are the two
folders of the ``fast-svd`` family (text -> first frame -> video).

Both keep the real models' geometry where it matters to the adapters:
  * the VAEs downsample 8x in space (4 levels), like the real SD/SVD VAEs, so every size
    the real models accept works here, and latents stay tiny (64x64 -> 8x8);
  * SVD's CLIP vision encoder runs at ``image_size=224``: the pipeline resizes PIL images
    to 224x224 before the encoder and that is hard-coded (see shared/notes/diffusers-on-cpu.md);
    ``patch_size=32`` keeps it to 49 tokens;
  * SVD's scheduler config is the real checkpoints' (Karras sigmas, v-prediction, continuous timesteps).
The output is noise, not a picture.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_random import _save_atomically
from .text import clip_tokenizer


def _clip_image_processor():
    """``CLIPImageProcessor`` at 224, or its PIL twin when torchvision is missing (transformers 5)."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        from transformers import CLIPImageProcessor as Processor
    else:  # never install torchvision next to the CPU torch wheel (see the notes)
        from transformers import CLIPImageProcessorPil as Processor
    return Processor(crop_size=224, size={"shortest_edge": 224})


def _svd_pipeline(seed: int):
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # The UNet's added-time embedding takes (fps-1, motion_bucket_id, noise_aug_strength),
        # so projection_class_embeddings_input_dim == 3 * addition_time_embed_dim; its
        # cross-attention width is the CLIP projection width. GroupNorm(32) everywhere, so
        # every channel count is a multiple of 32.
        unet = UNetSpatioTemporalConditionModel(
            sample_size=8,
            in_channels=8,  # noisy latents (4) + image latents (4)
            out_channels=4,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            cross_attention_dim=32,
            num_attention_heads=(4, 8),
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=24,
            num_frames=14,
        ).eval()
        vae = AutoencoderKLTemporalDecoder(
            in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4,
            block_out_channels=(32, 32, 32, 32),
            layers_per_block=1,
            sample_size=64,
        ).eval()
        image_encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=32, projection_dim=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, image_size=224, patch_size=32,
            )
        ).eval()
    # As in stabilityai/stable-video-diffusion-img2vid(-xt)/scheduler/scheduler_config.json.
    scheduler = EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="v_prediction", interpolation_type="linear", use_karras_sigmas=True,
        sigma_min=0.002, sigma_max=700.0, timestep_spacing="leading", timestep_type="continuous", steps_offset=1,
    )
    return StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
        feature_extractor=_clip_image_processor(),
    )


def _sd_pipeline(seed: int):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # vocab_size >= len(tokenizer); the special ids must be the tokenizer's; the text
        # width (hidden_size) is the UNet's cross_attention_dim.
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            )
        ).eval()
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32, attention_head_dim=8,
        ).eval()
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(32, 32, 32, 32), layers_per_block=1, sample_size=64,
        ).eval()
    # SD-Turbo style: Euler with trailing spacing, so 1-4 steps start at the last timestep.
    scheduler = EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="trailing", steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
    )


def build_tiny_svd(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight Stable Video Diffusion (image-to-video) pipeline to ``path``; returns ``path``."""
    return _save_atomically(_svd_pipeline(seed), Path(path))


def build_tiny_sd(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight SD-Turbo-like text-to-image pipeline to ``path``; returns ``path``."""
    return _save_atomically(_sd_pipeline(seed), Path(path))
