"""A tiny random-weight AnimateDiff pipeline (SD1.5 UNet + MotionAdapter), built in code.

The UNet, VAE and text encoder keep Stable Diffusion 1.5's *topology* (4 UNet blocks with
cross-attention in the first three, 2 layers per block, a 4-block VAE, so the VAE scales
by 8 like the real one) at a tiny width. Keeping the topology is what lets the test helpers
below write an SD1.5 checkpoint in the original ("ldm") single-file key layout that diffusers'
``from_single_file`` converts back, and a LoRA whose module names match real SD1.5 LoRAs.

Helpers for tests:
  * ``build_tiny_animatediff(path, seed)``: the ``builtin:animatediff-tiny-random`` folder;
  * ``build_tiny_sd15(path, seed)``: a tiny SD1.5 base as a diffusers folder (a
    ``checkpoint`` for the adapter, and the config folder ``from_single_file`` needs);
  * ``write_tiny_single_file_checkpoint(path, seed)``: the same base as ONE ldm-layout
    ``.safetensors`` (as civitai checkpoints are shipped);
  * ``write_tiny_lora(path, seed)``: a LoRA for the tiny UNet (kohya or diffusers/peft keys).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_random import _save_atomically
from .text import clip_tokenizer

# Width of everything: UNet blocks, VAE blocks, text hidden size / cross-attention.
_CH = 8
_BLOCKS = (_CH, _CH, _CH, _CH)


def _sd15_components(seed: int) -> dict:
    """Tiny SD1.5-shaped UNet2DConditionModel, AutoencoderKL, CLIP text encoder/tokenizer, DDIM scheduler."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=_BLOCKS,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=_CH, attention_head_dim=2, norm_num_groups=2,
        ).eval()
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=_BLOCKS,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            norm_num_groups=2, sample_size=64,
        ).eval()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=1000, hidden_size=_CH, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            )
        ).eval()
    # AnimateDiff's recommended scheduler settings for SD1.5 bases.
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False,
        timestep_spacing="linspace", steps_offset=1,
    )
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler)


def _sd15_pipeline(seed: int):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **_sd15_components(seed), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )


def _motion_adapter(seed: int):
    from diffusers import MotionAdapter

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1000)
        return MotionAdapter(
            block_out_channels=_BLOCKS, motion_layers_per_block=2, motion_norm_num_groups=2,
            motion_num_attention_heads=2, motion_max_seq_length=32,
        ).eval()


def _animatediff_pipeline(seed: int):
    from diffusers import AnimateDiffPipeline

    c = _sd15_components(seed)
    return AnimateDiffPipeline(motion_adapter=_motion_adapter(seed), **c)


def build_tiny_animatediff(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight AnimateDiff pipeline (with ``motion_adapter/``) to ``path``; returns ``path``."""
    return _save_atomically(_animatediff_pipeline(seed), Path(path))


def build_tiny_motion_adapter(path: Path, seed: int = 0) -> Path:
    """Write just the tiny MotionAdapter (as ``MotionAdapter.save_pretrained``) to ``path``."""
    path = Path(path)
    _motion_adapter(seed).save_pretrained(path)
    return path


def build_tiny_sd15(path: Path, seed: int = 0) -> Path:
    """Write a tiny SD1.5 base (``StableDiffusionPipeline``, no safety checker) to ``path``; returns ``path``."""
    return _save_atomically(_sd15_pipeline(seed), Path(path))


# ---- diffusers -> original ("ldm") key layout, for SD1.5's fixed topology ------------------
# After diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py.

def _unet_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    fixed = {
        "time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
        "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
    }
    resnet = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
              ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
    layer: list[tuple[str, str]] = []  # (diffusers prefix, ldm prefix)
    for i in range(4):
        for j in range(2):
            layer.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{3 * i + j + 1}.0."))
            if i < 3:
                layer.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{3 * i + j + 1}.1."))
        for j in range(3):
            layer.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{3 * i + j}.0."))
            if i > 0:
                layer.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{3 * i + j}.1."))
        if i < 3:
            layer.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{3 * (i + 1)}.0.op."))
            layer.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{3 * i + 2}.{1 if i == 0 else 2}."))
    layer.append(("mid_block.attentions.0.", "middle_block.1."))
    for j in range(2):
        layer.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))

    out = {}
    for k, v in sd.items():
        new = k
        for hf, ldm in fixed.items():
            if new.startswith(hf):
                new = ldm + new[len(hf):]
        if "resnets" in new:
            for hf, ldm in resnet:
                new = new.replace(hf, ldm)
        for hf, ldm in layer:
            if new.startswith(hf):
                new = ldm + new[len(hf):]
                break
        out[new] = v
    return out


def _vae_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    repl = [("conv_shortcut", "nin_shortcut"), ("conv_norm_out", "norm_out"), ("mid_block.attentions.0.", "mid.attn_1.")]
    for i in range(4):
        for j in range(2):
            repl.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        if i < 3:
            repl.append((f"down_blocks.{i}.downsamplers.0.", f"down.{i}.downsample."))
            repl.append((f"up_blocks.{i}.upsamplers.0.", f"up.{3 - i}.upsample."))
        for j in range(3):
            repl.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{3 - i}.block.{j}."))
    for i in range(2):
        repl.append((f"mid_block.resnets.{i}.", f"mid.block_{i + 1}."))
    attn = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]

    out = {}
    for k, v in sd.items():
        new = k
        for hf, ldm in repl:
            new = new.replace(hf, ldm)
        if "mid.attn_1." in new:
            for hf, ldm in attn:
                new = new.replace(hf, ldm)
            if new.endswith((".q.weight", ".k.weight", ".v.weight", ".proj_out.weight")):
                v = v.reshape(*v.shape, 1, 1)  # ldm uses 1x1 convs where diffusers uses linears
        out[new] = v
    return out


def write_tiny_single_file_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the tiny SD1.5 base (same weights as ``build_tiny_sd15(.., seed)``) as ONE original-layout
    ``.safetensors`` (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``).

    diffusers reads it back offline with ``from_single_file(path, config=<a local SD1.5 diffusers folder>)``.
    """
    from safetensors.torch import save_file

    c = _sd15_components(seed)
    state: dict[str, torch.Tensor] = {}
    state.update({"model.diffusion_model." + k: v for k, v in _unet_to_ldm(c["unet"].state_dict()).items()})
    state.update({"first_stage_model." + k: v for k, v in _vae_to_ldm(c["vae"].state_dict()).items()})
    # Original checkpoints nest CLIP under ``text_model.``; transformers >= 5.6 flattened CLIPTextModel.
    te = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in c["text_encoder"].state_dict().items()}
    state.update({"cond_stage_model.transformer." + k: v for k, v in te.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path))
    return path


def write_tiny_lora(path: Path, seed: int = 0, rank: int = 4, fmt: str = "kohya") -> Path:
    """Write a random LoRA for the tiny UNet's spatial attention as one ``.safetensors``.

    ``fmt="kohya"`` writes the sd-scripts layout real SD1.5 LoRAs use
    (``lora_unet_<module>.lora_down/lora_up/alpha``); ``fmt="peft"`` writes diffusers' own
    (``unet.<module>.lora_A/lora_B``). Both load with ``pipe.load_lora_weights``.
    """
    from safetensors.torch import save_file

    unet = _sd15_components(0)["unet"]
    targets = ("to_q", "to_k", "to_v", "to_out.0")
    names = [n for n, m in unet.named_modules() if isinstance(m, torch.nn.Linear) and n.endswith(targets)
             and ".attentions." in n]
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for n in names:
        lin = unet.get_submodule(n)
        down = torch.randn(rank, lin.in_features, generator=g) * 0.5
        up = torch.randn(lin.out_features, rank, generator=g) * 0.5
        if fmt == "kohya":
            key = "lora_unet_" + n.replace(".", "_")
            state[f"{key}.lora_down.weight"] = down
            state[f"{key}.lora_up.weight"] = up
            state[f"{key}.alpha"] = torch.tensor(float(rank))
        elif fmt == "peft":
            state[f"unet.{n}.lora_A.weight"] = down
            state[f"unet.{n}.lora_B.weight"] = up
        else:
            raise ValueError(f"unknown LoRA format {fmt!r}; use 'kohya' or 'peft'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
