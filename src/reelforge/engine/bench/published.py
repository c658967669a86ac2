"""Pipelines at a model's FULL published architecture, with random weights, built from stored configs.

``engine/published/<model-id>/`` holds the architecture fields of the checkpoint's published
``config.json`` files in the layout of its diffusers repo (``model_index.json``,
``transformer/config.json``, ...); see the README there for sources and open questions.
Nothing is downloaded: each model is ``from_config`` on the target device, and tokenizers are
built in code (the tiny builders' recipes). A tokenizer's vocabulary does not change the cost of
a step, only the sequence length does, and the pipelines pad every prompt to their published
``max_sequence_length`` (CLIP: the tokenizer's 77).

Weights are random, so the output is noise; the shapes, dtypes and FLOPs are the real ones.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import torch

# Keys of a model_index.json that are not components: the pipeline class and our annotations.
_PRIVATE = "_"


def published_root() -> Path:
    return Path(str(resources.files("reelforge.engine") / "published"))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config without its annotations (``_class_name``, ``_source``, ``architectures``)."""
    return {k: v for k, v in config.items() if not k.startswith(_PRIVATE) and k != "architectures"}


def component_specs(folder: Path) -> tuple[str, dict[str, tuple[str, str]], dict[str, Any]]:
    """(pipeline class name, {component: (library, class)}, pipeline settings) from ``model_index.json``.

    Components stored as ``[null, null]`` (e.g. Wan 2.2's missing image encoder) come back as None
    entries, so the pipeline is given them as None, as ``from_pretrained`` would.
    """
    index = read_json(Path(folder) / "model_index.json")
    specs: dict[str, tuple[str, str]] = {}
    settings: dict[str, Any] = {}
    for name, value in index.items():
        if name.startswith(_PRIVATE):
            continue
        if isinstance(value, list) and len(value) == 2:
            specs[name] = tuple(value)
        else:
            settings[name] = value
    return index["_class_name"], specs, settings


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    # Parameters are created directly in the target dtype: a 14B model in float32 first would
    # need twice the memory of the bf16 one it becomes.
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _keep_fp32_like_from_pretrained(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Upcast the parameters diffusers' ``from_pretrained(dtype=...)`` keeps in float32.

    Models list them in ``_keep_in_fp32_modules`` (Wan: time embedder, norms, modulation);
    ``from_pretrained`` matches those names against the dotted parameter names, as here.
    """
    keep = getattr(type(model), "_keep_in_fp32_modules", None) or []
    if not keep or dtype == torch.float32:
        return
    for name, param in model.named_parameters():
        if param.is_floating_point() and any(m in name.split(".") for m in keep):
            param.data = param.data.to(torch.float32)


def build_diffusers_model(class_name: str, config: dict[str, Any], device: torch.device | str,
                          dtype: torch.dtype) -> torch.nn.Module:
    import diffusers

    cls = getattr(diffusers, class_name)
    # Initialised where it will run: random init of a 14B model is seconds on a GPU, minutes on a CPU.
    with torch.device(device), _default_dtype(dtype):
        model = cls.from_config(architecture(config))
    _keep_fp32_like_from_pretrained(model, dtype)
    return model.eval()


def build_transformers_model(class_name: str, config: dict[str, Any], device: torch.device | str,
                             dtype: torch.dtype, token_ids: dict[str, int] | None = None) -> torch.nn.Module:
    """A transformers model from a stored config; ``token_ids`` replaces the special-token ids with the
    in-code tokenizer's (they index the embedding table, so they must be the tokenizer's own)."""
    import transformers

    values = {**architecture(config), **(token_ids or {})}
    cfg = transformers.AutoConfig.for_model(values.pop("model_type"), **values)
    with torch.device(device):
        # _from_config applies transformers' own dtype rules, as from_pretrained(dtype=...) does.
        model = getattr(transformers, class_name)._from_config(cfg, dtype=dtype)
    return model.eval()


def build_model(folder: Path, name: str, library: str, class_name: str, device: torch.device | str,
                dtype: torch.dtype, token_ids: dict[str, int] | None = None) -> torch.nn.Module:
    """Component ``name`` of the stored pipeline in ``folder`` (``<folder>/<name>/config.json``)."""
    config = read_json(Path(folder) / name / "config.json")
    if library == "diffusers":
        return build_diffusers_model(class_name, config, device, dtype)
    return build_transformers_model(class_name, config, device, dtype, token_ids)


def build_tokenizer(class_name: str):
    """An offline tokenizer standing in for a published one of ``class_name`` (same special-token layout)."""
    if class_name.startswith("T5"):  # T5Tokenizer(Fast), also what the UMT5 repos record
        from ..tiny_random import _t5_tokenizer

        return _t5_tokenizer()
    if class_name.startswith("CLIP"):
        from ..tiny.text import clip_tokenizer

        return clip_tokenizer()
    if class_name.startswith("Llama"):
        from ..tiny.hunyuan import _llama_tokenizer

        return _llama_tokenizer()
    raise ValueError(f"no offline tokenizer recipe for {class_name}")


def _special_ids(tokenizer) -> dict[str, int]:
    ids = {f"{kind}_token_id": getattr(tokenizer, f"{kind}_token_id", None) for kind in ("bos", "eos", "pad")}
    return {k: v for k, v in ids.items() if v is not None}


# Which tokenizer feeds which text encoder, in every pipeline we build.
_TOKENIZER_OF = {"text_encoder": "tokenizer", "text_encoder_2": "tokenizer_2"}


def build_components(folder: Path, device: torch.device | str, dtype: torch.dtype,
                     dtypes: dict[str, torch.dtype] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(pipeline class name, components, pipeline settings) for the stored pipeline in ``folder``.

    ``dtypes`` overrides the dtype per component, as a per-component ``from_pretrained`` dtype does.
    """
    import diffusers

    pipeline, specs, settings = component_specs(folder)
    components: dict[str, Any] = {}
    for name, (library, class_name) in specs.items():
        if library is None:
            components[name] = None
        elif name.startswith("tokenizer"):
            components[name] = build_tokenizer(class_name)
        elif name in ("image_processor", "feature_extractor"):
            from ..tiny.svd import _clip_image_processor

            components[name] = _clip_image_processor()
    for name, (library, class_name) in specs.items():
        if name in components:
            continue
        if name == "scheduler":
            config = read_json(Path(folder) / name / "scheduler_config.json")
            components[name] = getattr(diffusers, class_name).from_config(architecture(config))
            continue
        tokenizer = components.get(_TOKENIZER_OF.get(name, ""))
        # T5's ids are fixed by its vocabulary layout (pad 0, eos 1), which the tokenizer repeats.
        ids = _special_ids(tokenizer) if tokenizer is not None and not class_name.startswith(("T5", "UMT5")) else None
        components[name] = build_model(folder, name, library, class_name, device, (dtypes or {}).get(name, dtype), ids)
    return pipeline, components, settings


def build_pipeline(folder: Path, device: torch.device | str, dtype: torch.dtype,
                   dtypes: dict[str, torch.dtype] | None = None):
    """The diffusers pipeline ``model_index.json`` names, assembled from freshly built components."""
    import diffusers

    pipeline, components, settings = build_components(folder, device, dtype, dtypes)
    return getattr(diffusers, pipeline)(**components, **settings)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def stored_models(folder: Path) -> Iterator[tuple[Path, str, str]]:
    """(component folder, library, class) for every model config stored under ``folder``, at any depth."""
    import diffusers

    for config_path in sorted(Path(folder).rglob("config.json")):
        config = read_json(config_path)
        if "_class_name" in config and hasattr(diffusers, config["_class_name"]):
            yield config_path.parent, "diffusers", config["_class_name"]
        elif config.get("architectures"):
            yield config_path.parent, "transformers", config["architectures"][0]


def weight_bytes(folders: list[Path], dtype: torch.dtype) -> int:
    """Bytes the weights stored under ``folders`` take in ``dtype``, counted on the meta device (no memory)."""
    total = 0
    for component, library, class_name in (m for f in folders for m in stored_models(f)):
        model = build_model(component.parent, component.name, library, class_name, "meta", dtype)
        total += parameter_count(model) * torch.tensor([], dtype=dtype).element_size()
    return total
