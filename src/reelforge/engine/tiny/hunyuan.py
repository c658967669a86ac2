"""A tiny random-weight HunyuanVideo text-to-video pipeline, built in code.

HunyuanVideo encodes the prompt twice: a LLaMA-3 style decoder (``text_encoder``; the
pipeline wraps the prompt in a chat template and crops the template's tokens off the
hidden states) and CLIP-L (``text_encoder_2``; only its pooled output is used). Both are
built tiny here with tokenizers constructed offline:

* the LLaMA tokenizer is a ``tokenizers`` Unigram model (recipe C in
  shared/notes/diffusers-on-cpu.md) that knows LLaMA-3's chat special tokens
  (``<|start_header_id|>``, ``<|end_header_id|>``, ``<|eot_id|>``) as single tokens,
  prepends ``<|begin_of_text|>`` like LLaMA-3 and pads on the right, so the template
  prefix is a fixed run of tokens that can be cropped exactly;
* the CLIP tokenizer is a byte-level BPE vocabulary written as ``vocab.json`` +
  ``merges.txt`` (recipe A), so any text tokenizes without ``<unk>``.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from ..tiny_random import _WORDS, _save_atomically
from .text import clip_tokenizer

# LLaMA-3 special tokens the HunyuanVideo prompt template uses, plus pad/unk for the tiny vocabulary.
_BOS, _EOS, _PAD, _UNK = "<|begin_of_text|>", "<|end_of_text|>", "<pad>", "<unk>"
_CHAT_TOKENS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
# Words of HunyuanVideo's default prompt template, so it tokenizes to a short, fixed prefix.
_TEMPLATE_WORDS = (
    "system user Describe video by detailing following aspects main content theme color shape size "
    "texture quantity text spatial relationships objects Actions events behaviors temporal physical "
    "movement changes background environment style atmosphere angles movements transitions used"
).split()


def _llama_tokenizer():
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    specials = [_BOS, _EOS, _PAD, _UNK, *_CHAT_TOKENS]  # ids 0..6
    pieces = [(t, 0.0) for t in specials] + [("\u2581", -2.0)]
    pieces += [(c, -5.0) for c in string.printable if not c.isspace()]
    words = dict.fromkeys(_WORDS + _TEMPLATE_WORDS)  # ordered, de-duplicated
    pieces += [("\u2581" + w, -1.0) for w in words]
    tk = Tokenizer(Unigram(pieces, unk_id=specials.index(_UNK), byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")]
    )
    tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    # LLaMA-3 prepends BOS and appends nothing.
    tk.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A", pair=f"{_BOS} $A {_BOS} $B", special_tokens=[(_BOS, 0)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=_BOS, eos_token=_EOS, pad_token=_PAD, unk_token=_UNK,
        additional_special_tokens=list(_CHAT_TOKENS), padding_side="right", model_max_length=1024,
    )


def _hunyuan_pipeline(seed: int):
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    tokenizer = _llama_tokenizer()
    tokenizer_2 = clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # hidden_size == transformer text_embed_dim. The pipeline takes hidden_states[-3], so
        # three layers keep a real layer in the path. Positions cover 256 prompt tokens plus
        # the cropped template.
        text_encoder = LlamaModel(
            LlamaConfig(
                vocab_size=1000, hidden_size=16, intermediate_size=37, num_hidden_layers=3,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        ).eval()
        # hidden_size == transformer pooled_projection_dim; 77 positions as the pipeline asks.
        text_encoder_2 = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=1000, hidden_size=8, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
                bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
                pad_token_id=tokenizer_2.pad_token_id,
            )
        ).eval()
        # Head dim 10 = sum(rope_axes_dim). patch_size 1: any multiple of 16 pixels works
        # (the pipeline's own rule), 8x spatial and 4x temporal VAE compression as the real one.
        transformer = HunyuanVideoTransformer3DModel(
            in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10,
            num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1,
            guidance_embeds=True, text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
        ).eval()
        vae = AutoencoderKLHunyuanVideo(
            in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=("HunyuanVideoDownBlock3D",) * 4,
            up_block_types=("HunyuanVideoUpBlock3D",) * 4,
            block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu", norm_num_groups=4,
            scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
            mid_block_add_attention=True,
        ).eval()
    # shift=7.0 as in hunyuanvideo-community/HunyuanVideo's scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    return HunyuanVideoPipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae,
        scheduler=scheduler, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
    )


def build_tiny_hunyuan(path: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight HunyuanVideo text-to-video pipeline to ``path``; returns ``path``."""
    return _save_atomically(_hunyuan_pipeline(seed), Path(path))
