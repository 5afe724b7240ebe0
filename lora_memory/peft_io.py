"""Export generated adapters as standard PEFT LoRA folders, and import them back.

A folder holds ``adapter_config.json`` and ``adapter_model.safetensors`` as PEFT writes them, so
``peft.PeftModel.from_pretrained`` and multi-LoRA servers such as vLLM load it as is, plus our
``lora_memory.json`` (base-model identity and metadata). PEFT scales ``B @ A`` by
``lora_alpha / r`` (or ``/ sqrt(r)`` with rsLoRA); we write ``lora_alpha = scale * r`` with
rsLoRA off, so the served update equals ours exactly (upstream T2L's rsLoRA mismatch cannot occur).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.errors import AdapterFormatError
from lora_memory.files import write_atomic

VLLM_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
METADATA_FILE = "lora_memory.json"
_KEY = re.compile(r"^base_model\.model\.(?P<path>.+)\.lora_(?P<ab>[AB])\.weight$")


def serving_rank(rank: int) -> int:
    """The smallest rank vLLM's multi-LoRA serving accepts that holds ``rank``."""
    for r in VLLM_RANKS:
        if r >= rank:
            return r
    raise AdapterFormatError(f"rank {rank} exceeds the largest rank vLLM serves ({VLLM_RANKS[-1]})")


def export_peft(adapter: LoraAdapter, backbone: Backbone, directory: str | os.PathLike, *, pad_for_vllm: bool = False) -> Path:
    """Write ``adapter`` as a PEFT LoRA folder for ``backbone``.

    Args:
        pad_for_vllm: zero-pad the rank up to the next size vLLM serves (8, 16, ..., 512);
            zero rows and columns change no output.
    """
    directory = Path(directory)
    rank = max(adapter.rank(m) for m in adapter.modules)
    if pad_for_vllm:
        rank = serving_rank(rank)
    padded = adapter.padded_to_rank(rank)
    tensors: dict[str, torch.Tensor] = {}
    targets = []
    for name in padded.modules:
        d_in, d_out = backbone.module_shape(name)
        if padded.A[name].shape[2] != d_in or padded.B[name].shape[1] != d_out:
            raise AdapterFormatError(f"{name}: adapter shapes do not fit {backbone.name} ({d_in}->{d_out})")
        for i, layer in enumerate(padded.layers):
            path = backbone.module_path(layer, name)
            targets.append(path)
            tensors[f"base_model.model.{path}.lora_A.weight"] = padded.A[name][i].contiguous().cpu()
            tensors[f"base_model.model.{path}.lora_B.weight"] = padded.B[name][i].contiguous().cpu()
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": backbone.name,
        "r": rank,
        "lora_alpha": padded.scale * rank,
        "use_rslora": False,
        "target_modules": sorted(targets),
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    ours = {
        "format_version": 1,
        "base_model": backbone.identity.to_dict(),
        "layers": list(padded.layers),
        "modules": list(padded.modules),
        "rank": {m: adapter.rank(m) for m in adapter.modules},
        "metadata": dict(adapter.metadata),
    }
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / WEIGHTS_FILE, save_safetensors(tensors, metadata={"format": "pt"}))
    write_atomic(directory / CONFIG_FILE, json.dumps(config, indent=2).encode())
    write_atomic(directory / METADATA_FILE, json.dumps(ours, indent=2).encode())
    return directory


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterFormatError(f"{path.parent} is not a PEFT adapter folder: {path.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterFormatError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AdapterFormatError(f"{path} must hold a JSON object")
    return data


def import_peft(directory: str | os.PathLike, backbone: Backbone, *, strict_name: bool = True) -> LoraAdapter:
    """Read a PEFT LoRA folder (ours or anyone's) as a `LoraAdapter` for ``backbone``.

    Raises:
        AdapterFormatError: missing or corrupt files, unsupported options, or modules and shapes
            that do not exist in ``backbone``.
        BaseModelMismatchError: our metadata says it was made for another base model.
    """
    directory = Path(directory)
    config = _read_json(directory / CONFIG_FILE)
    ours = _read_json(directory / METADATA_FILE) if (directory / METADATA_FILE).is_file() else {}
    try:
        made_for = BaseModelIdentity.from_dict(ours["base_model"]) if "base_model" in ours else None
        if not isinstance(ours.get("metadata", {}), dict):
            raise TypeError("'metadata' must be a JSON object")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AdapterFormatError(
            f"{directory / METADATA_FILE} is damaged ({exc!r}): delete it or export the adapter again"
        ) from exc
    if made_for is not None:
        backbone.identity.check(made_for, f"adapter {directory}", strict_name)
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AdapterFormatError(f"{directory}: only plain LoRA is supported (no DoRA, rank_pattern or alpha_pattern)")
    try:
        r, alpha = int(config["r"]), float(config["lora_alpha"])
        state = load_file(str(directory / WEIGHTS_FILE))
    except (KeyError, ValueError, TypeError) as exc:
        raise AdapterFormatError(f"{directory / CONFIG_FILE}: needs numeric 'r' and 'lora_alpha' ({exc})") from exc
    except (SafetensorError, OSError) as exc:
        raise AdapterFormatError(
            f"{directory / WEIGHTS_FILE} is missing, truncated or corrupt: {exc}; export it again"
        ) from exc
    if r < 1 or not math.isfinite(alpha):
        raise AdapterFormatError(
            f"{directory / CONFIG_FILE}: 'r' must be a positive integer and 'lora_alpha' a finite number, "
            f"got r={r} and lora_alpha={alpha}"
        )
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r

    by_path = {
        backbone.module_path(layer, name): (layer, name)
        for name in backbone.identity.module_shapes
        for layer in range(backbone.num_layers)
    }
    weights: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        match = _KEY.match(key)
        if match is None or match["path"] not in by_path:
            raise AdapterFormatError(
                f"{directory}: tensor {key!r} targets no Linear of a decoder block of {backbone.name}; "
                f"export it for {backbone.name}, or load the base model it was made for"
            )
        layer, name = by_path[match["path"]]
        weights.setdefault((name, layer), {})[match["ab"]] = tensor.float()
    if not weights:
        raise AdapterFormatError(f"{directory}: the adapter holds no LoRA tensors")

    layers = tuple(sorted({layer for _, layer in weights}))
    A, B = {}, {}
    for name in sorted({name for name, _ in weights}):
        d_in, d_out = backbone.module_shape(name)
        a_rows = torch.zeros(len(layers), r, d_in)
        b_rows = torch.zeros(len(layers), d_out, r)
        for i, layer in enumerate(layers):
            pair = weights.get((name, layer))
            if pair is None:
                continue
            if set(pair) != {"A", "B"} or pair["A"].shape != (r, d_in) or pair["B"].shape != (d_out, r):
                shapes = {k: tuple(v.shape) for k, v in pair.items()}
                raise AdapterFormatError(
                    f"{directory}: {name} of layer {layer} has {shapes}, but {backbone.name} with r={r} needs "
                    f"A {(r, d_in)} and B {(d_out, r)}: export it for {backbone.name}, or load the base model it was made for"
                )
            a_rows[i], b_rows[i] = pair["A"], pair["B"]
        A[name], B[name] = a_rows, b_rows
    return LoraAdapter(A, B, layers, scale=scale, base_model=backbone.name, metadata=ours.get("metadata", {}))
