"""AnimateDiff: text-to-video with ``AnimateDiffPipeline`` = an SD1.5 base + a ``MotionAdapter``.

Where the weights come from:
  * the entry's folder is a whole AnimateDiff pipeline (it has ``motion_adapter/``), or an SD1.5
    base whose motion adapter ``entry.extra["motion_adapter"]`` names (a local folder or a hub repo
    id such as ``guoyww/animatediff-motion-adapter-v1-5-2``, loaded with ``MotionAdapter.from_pretrained``);
  * a request may swap the base: ``req.options["checkpoint"]`` is a local path (resolved by the
    caller) to an SD1.5 diffusers folder or a single-file ``.safetensors``/``.ckpt`` checkpoint
    (civitai style). Single files need an SD1.5 *diffusers config* folder to convert against:
    ``entry.extra["single_file_config"]``, else the entry's own folder when it is an SD1.5 base.
    The last swapped-in base stays loaded, so a run of requests on one checkpoint loads it once.

Per request: negative prompt, LoRAs with strengths (loaded, weighted, and unloaded again after the
call, so every request starts from the clean base), ``clip_skip`` (``options``, A1111/Novita
convention: 1 = last CLIP layer, 2 = penultimate), and multi-prompt ``segments`` through
diffusers' FreeNoise prompt travel. diffusers owns the denoising loop.

Edits (``req.video`` + ``strength``) run ``AnimateDiffVideoToVideoPipeline`` on the same modules as
the base in use (LoRAs and clip_skip apply alike); one prompt per edit, no prompt travel.

Catalog knobs (``entry.extra``): ``motion_adapter``, ``single_file_config``, ``scheduler``
(``{"class": "DDIMScheduler", **config overrides}``), ``free_noise_context_length`` (default:
16, what the v1.5 motion modules were trained on), ``free_noise_context_stride`` (default 4),
``free_noise_weighting`` (default "pyramid"), ``call_kwargs``.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from diffusers import AnimateDiffPipeline, AnimateDiffVideoToVideoPipeline, MotionAdapter

from ...errors import GenerationFailed, ModelUnavailable
from .base import Adapter, GenerateRequest, OnStep, Progress, edit_kwargs, edit_steps, to_uint8_frames, video_call_kwargs

if TYPE_CHECKING:
    from ...catalog import ModelEntry

# Frames per VAE decode call; diffusers' default, fixed here so progress can count the calls.
DECODE_CHUNK = 16
_SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def _hub_offline() -> bool:
    from ..loader import _hub_offline as offline  # lazy: the loader imports the adapter registry

    return offline()


def _unet_class(folder: Path) -> str | None:
    try:
        return json.loads((folder / "unet" / "config.json").read_text()).get("_class_name")
    except (OSError, ValueError):
        return None


def _load_motion_adapter(source: str, dtype: torch.dtype) -> MotionAdapter:
    local = Path(source).expanduser()
    try:
        if local.is_dir():
            return MotionAdapter.from_pretrained(local, dtype=dtype)
        return MotionAdapter.from_pretrained(source, dtype=dtype, local_files_only=_hub_offline())
    except Exception as e:  # hub and file errors come as several unrelated types
        raise ModelUnavailable(
            f"the AnimateDiff motion adapter '{source}' could not be loaded ({e}); put a MotionAdapter folder "
            f"there or pull the hub repo into the cache first"
        ) from e


def _with_scheduler(pipe: AnimateDiffPipeline, spec: Mapping[str, Any] | None) -> AnimateDiffPipeline:
    if spec:
        import diffusers

        spec = dict(spec)
        cls = getattr(diffusers, spec.pop("class", type(pipe.scheduler).__name__))
        pipe.scheduler = cls.from_config(pipe.scheduler.config, **spec)
    return pipe


@contextlib.contextmanager
def _clip_skip_compat(pipe: AnimateDiffPipeline, clip_skip: int | None):
    """diffusers 0.42.1's ``encode_prompt`` applies clip_skip through ``text_encoder.text_model.final_layer_norm``,
    but transformers >= 5.6 flattened ``CLIPTextModel`` (no ``text_model``): AttributeError. For the call only,
    alias ``text_model`` to the encoder itself (a plain attribute, not a registered submodule)."""
    te = pipe.text_encoder
    patch = clip_skip is not None and te is not None and not hasattr(te, "text_model")
    if patch:
        object.__setattr__(te, "text_model", te)
    try:
        yield
    finally:
        if patch:
            te.__dict__.pop("text_model", None)


class AnimateDiffAdapter(Adapter):
    family = "animatediff"
    edits = True

    def __init__(
        self,
        pipe: AnimateDiffPipeline,
        *,
        device: torch.device,
        dtype: torch.dtype,
        base_path: Path | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        self.pipe = pipe
        self.device, self.dtype = device, dtype
        self.extra = dict(extra or {})
        self.motion_adapter: MotionAdapter = pipe.motion_adapter
        self.call_kwargs = dict(self.extra.get("call_kwargs") or {})
        # A folder whose configs describe an SD1.5 base, for converting single-file checkpoints.
        cfg = self.extra.get("single_file_config")
        if cfg is None and base_path is not None and _unet_class(base_path) == "UNet2DConditionModel":
            cfg = str(base_path)
        self.single_file_config: str | None = cfg
        self._alt: tuple[str, AnimateDiffPipeline] | None = None  # the last swapped-in base
        # The video-to-video pipeline over the last base that edited (same modules, nothing loaded).
        self._v2v: tuple[AnimateDiffPipeline, AnimateDiffVideoToVideoPipeline] | None = None
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, entry: "ModelEntry", path: Path, device: torch.device, dtype: torch.dtype) -> "AnimateDiffAdapter":
        extra = dict(entry.extra or {})
        kwargs: dict[str, Any] = {}
        if extra.get("motion_adapter"):
            kwargs["motion_adapter"] = _load_motion_adapter(str(extra["motion_adapter"]), dtype)
        elif not (Path(path) / "motion_adapter").is_dir():
            raise ModelUnavailable(
                f"model '{entry.id}': {path} is an SD base without a motion adapter; name one in the catalog "
                f"entry's extra['motion_adapter'] (e.g. guoyww/animatediff-motion-adapter-v1-5-2)"
            )
        pipe = AnimateDiffPipeline.from_pretrained(path, dtype=dtype, **kwargs)
        pipe = _with_scheduler(pipe, extra.get("scheduler")).to(device)
        return cls(pipe, device=device, dtype=dtype, base_path=Path(path), extra=extra)

    # ---- base checkpoints -------------------------------------------------------------------

    def _load_base(self, checkpoint: Path) -> AnimateDiffPipeline:
        # The entry's scheduler (type and settings) applies to every base it runs.
        scheduler = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        common = dict(motion_adapter=self.motion_adapter, scheduler=scheduler)
        if checkpoint.is_dir():
            pipe = AnimateDiffPipeline.from_pretrained(checkpoint, dtype=self.dtype, **common)
        elif checkpoint.suffix.lower() in _SINGLE_FILE_SUFFIXES:
            if not self.single_file_config:
                raise GenerationFailed(
                    f"checkpoint {checkpoint.name} is a single file, and this model has no SD1.5 config folder to "
                    f"convert it against: set extra['single_file_config'] in its catalog entry"
                )
            pipe = AnimateDiffPipeline.from_single_file(
                str(checkpoint), config=self.single_file_config, torch_dtype=self.dtype,
                local_files_only=_hub_offline(), **common,
            )
        else:
            raise GenerationFailed(f"checkpoint {checkpoint} is neither a diffusers folder nor a single-file checkpoint")
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(self.device)

    def _pipeline_for(self, checkpoint: Any) -> AnimateDiffPipeline:
        if not checkpoint:
            return self.pipe
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise ModelUnavailable(f"base checkpoint {path} does not exist")
        key = str(path.resolve())
        if self._alt is None or self._alt[0] != key:
            self._alt = None  # free the previous base before loading the next
            self._alt = (key, self._load_base(path))
        return self._alt[1]

    def _edit_pipeline(self, base: AnimateDiffPipeline) -> AnimateDiffVideoToVideoPipeline:
        if self._v2v is None or self._v2v[0] is not base:
            v2v = AnimateDiffVideoToVideoPipeline(**base.components)
            v2v.set_progress_bar_config(disable=True)
            self._v2v = (base, v2v)
        return self._v2v[1]

    # ---- one request ------------------------------------------------------------------------

    def _prompt(self, pipe: AnimateDiffPipeline, req: GenerateRequest) -> str | dict[int, str]:
        """The prompt argument, switching FreeNoise on (prompt travel / long videos) or off for this call."""
        max_len = int(pipe.motion_adapter.config.motion_max_seq_length)
        if req.segments:
            counts = [s.num_frames for s in req.segments]
            if min(counts) < 1 or sum(counts) != req.num_frames:
                raise GenerationFailed(
                    f"segment frame counts {counts} must each be >= 1 and sum to num_frames={req.num_frames}"
                )
            prompt: str | dict[int, str] = {}
            start = 0
            for seg in req.segments:
                prompt[start] = seg.prompt
                start += seg.num_frames
        else:
            prompt = req.prompt
        # A single prompt only needs FreeNoise's sliding windows when the clip is longer than the
        # motion module's positional encoding, which it cannot run past.
        if req.segments or req.num_frames > max_len:
            context = int(self.extra.get("free_noise_context_length", 16))
            pipe.enable_free_noise(
                context_length=max(1, min(context, max_len, req.num_frames)),
                context_stride=int(self.extra.get("free_noise_context_stride", 4)),
                weighting_scheme=str(self.extra.get("free_noise_weighting", "pyramid")),
            )
        elif pipe.free_noise_enabled:
            pipe.disable_free_noise()
        return prompt

    def _check(self, pipe: AnimateDiffPipeline, req: GenerateRequest) -> None:
        if req.image is not None or req.last_image is not None:
            raise GenerationFailed("AnimateDiff models generate from text only; image-to-video is not supported")
        if req.video is not None and req.segments:
            raise GenerationFailed("an AnimateDiff edit follows one prompt; multi-prompt edits are not supported")
        if req.options.get("closed_loop"):
            raise GenerationFailed(
                "closed_loop (looping video) is not supported: diffusers' AnimateDiff has no closed-loop "
                "context schedule"
            )
        s = pipe.vae_scale_factor
        if req.width % s or req.height % s:
            raise GenerationFailed(f"size {req.width}x{req.height} is not a multiple of {s}, which AnimateDiff needs")

    def generate(self, req: GenerateRequest, on_step: OnStep) -> np.ndarray:
        pipe = self._pipeline_for(req.options.get("checkpoint"))
        self._check(pipe, req)
        clip_skip = req.options.get("clip_skip")
        # A1111/Novita count the last layer as 1; diffusers counts the layers skipped.
        clip_skip = int(clip_skip) - 1 if clip_skip is not None and int(clip_skip) > 1 else None
        edit = req.video is not None
        runner = self._edit_pipeline(pipe) if edit else pipe
        prompt = self._prompt(runner, req)
        steps = edit_steps(req) if edit else req.num_inference_steps
        # The pipeline decodes DECODE_CHUNK frames per VAE call.
        progress = Progress(on_step, steps + math.ceil(req.num_frames / DECODE_CHUNK))
        names: list[str] = []
        try:
            for i, lora in enumerate(req.loras):
                name = f"reelforge_lora_{i}"
                try:
                    pipe.load_lora_weights(str(lora.path), adapter_name=name)
                except Exception as e:
                    raise GenerationFailed(f"LoRA {Path(lora.path).name} could not be loaded into this model: {e}") from e
                names.append(name)
            if names:
                pipe.set_adapters(names, adapter_weights=[float(lora.scale) for lora in req.loras])
            with _clip_skip_compat(pipe, clip_skip), progress.decoding(pipe.vae):
                call = edit_kwargs(req, progress) if edit else video_call_kwargs(req, progress)
                out = runner(
                    **{**call, "prompt": prompt},
                    clip_skip=clip_skip,
                    decode_chunk_size=DECODE_CHUNK,
                    **self.call_kwargs,
                )
        finally:
            if names or pipe.get_list_adapters():
                # Back to the clean base, also after a failed load or a cancel.
                pipe.unload_lora_weights()
        return to_uint8_frames(out.frames, req)
