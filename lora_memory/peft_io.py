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
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.errors import AdapterFormatError, BaseModelMismatchError
from lora_memory.files import check_regular, file_kind, read_regular, write_atomic

VLLM_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
METADATA_FILE = "lora_memory.json"
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")  # safetensors dtypes a LoRA weight may have
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
        data = json.loads(read_regular(path))
    except FileNotFoundError:
        raise AdapterFormatError(f"{path.parent} is not a PEFT adapter folder: {path.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterFormatError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise AdapterFormatError(f"{path} is not a usable JSON file: it is nested too deeply") from None
    except OSError as exc:  # a directory, FIFO or device where the file should be; no permission
        raise AdapterFormatError(f"cannot read {path} as a PEFT adapter file: {exc}") from exc
    if not isinstance(data, dict):
        raise AdapterFormatError(f"{path} must hold a JSON object")
    return data


def _same_model(a: str, b: str) -> bool:
    """Whether two model names are one model: equal, or one hub id and a local folder of the same name."""
    a, b = a.strip().rstrip("/\\"), b.strip().rstrip("/\\")
    return a == b or re.split(r"[/\\]", a)[-1].lower() == re.split(r"[/\\]", b)[-1].lower()


def _weights_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{key: (dtype, shape)}`` from a safetensors file's header, reading no tensor."""
    try:
        check_regular(path)
        with safe_open(str(path), framework="pt") as f:
            return {key: (f.get_slice(key).get_dtype(), tuple(f.get_slice(key).get_shape())) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterFormatError(f"{path} is missing, truncated or corrupt: {exc}; export it again") from exc


def import_peft(directory: str | os.PathLike, backbone: Backbone, *, strict_name: bool = True) -> LoraAdapter:
    """Read a PEFT LoRA folder (ours or anyone's) as a `LoraAdapter` for ``backbone``.

    Everything is checked before any tensor is read or allocated: the files are regular files
    (a FIFO or device is refused, never read), ``r`` and ``lora_alpha`` are numbers, and every
    tensor in the weights' header targets a Linear of ``backbone`` with a float dtype and exactly
    the shape ``r`` implies. The adapter must also be made for this backbone: by our metadata file
    when there is one, else by the config's ``base_model_name_or_path`` (a hub id and a local folder
    of the same name agree).

    Args:
        strict_name: refuse an adapter made for a model of another name even when every shape
            fits; False accepts it (e.g. the same weights saved under another name).

    Raises:
        AdapterFormatError: missing, corrupt or non-regular files, unsupported options, or modules,
            dtypes and shapes that do not exist in ``backbone``.
        BaseModelMismatchError: our metadata, or (with ``strict_name``) the config, names another
            base model.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise AdapterFormatError(
            f"{directory} is {file_kind(directory.stat().st_mode) if not directory.is_file() else 'a file'}, not a "
            f"PEFT adapter folder: give the folder that holds {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    config = _read_json(directory / CONFIG_FILE)
    ours = _read_json(directory / METADATA_FILE) if (directory / METADATA_FILE).exists() else {}
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
    except (KeyError, ValueError, TypeError, OverflowError) as exc:
        raise AdapterFormatError(f"{directory / CONFIG_FILE}: needs numeric 'r' and 'lora_alpha' ({exc})") from exc
    if r < 1 or not math.isfinite(alpha):
        raise AdapterFormatError(
            f"{directory / CONFIG_FILE}: 'r' must be a positive integer and 'lora_alpha' a finite number, "
            f"got r={r} and lora_alpha={alpha}"
        )
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r

    # ---- the weights' header, checked whole before any tensor is read
    header = _weights_header(directory / WEIGHTS_FILE)
    by_path = {
        backbone.module_path(layer, name): (layer, name)
        for name in backbone.identity.module_shapes
        for layer in range(backbone.num_layers)
    }
    keys: dict[tuple[str, int], dict[str, str]] = {}
    for key, (dtype, shape) in header.items():
        match = _KEY.match(key)
        if match is None or match["path"] not in by_path:
            raise AdapterFormatError(
                f"{directory}: tensor {key!r} targets no Linear of a decoder block of {backbone.name}; "
                f"export it for {backbone.name}, or load the base model it was made for"
            )
        if dtype not in FLOAT_DTYPES:
            raise AdapterFormatError(
                f"{directory}: tensor {key!r} is {dtype}; LoRA weights must be floating point "
                f"({', '.join(FLOAT_DTYPES)}): export it again"
            )
        layer, name = by_path[match["path"]]
        keys.setdefault((name, layer), {})[match["ab"]] = key
    if not keys:
        raise AdapterFormatError(f"{directory}: the adapter holds no LoRA tensors")
    for (name, layer), pair in sorted(keys.items()):
        d_in, d_out = backbone.module_shape(name)
        shapes = {ab: header[key][1] for ab, key in pair.items()}
        if set(pair) != {"A", "B"} or shapes["A"] != (r, d_in) or shapes["B"] != (d_out, r):
            raise AdapterFormatError(
                f"{directory}: {name} of layer {layer} has {shapes}, but {backbone.name} with r={r} needs "
                f"A {(r, d_in)} and B {(d_out, r)}: export it for {backbone.name}, or load the base model it was "
                "made for"
            )
    named = config.get("base_model_name_or_path")
    if made_for is None and strict_name and isinstance(named, str) and named and not _same_model(named, backbone.name):
        raise BaseModelMismatchError(
            f"adapter {directory} was made for base model {named!r} (its {CONFIG_FILE} says so) but the loaded "
            f"backbone is {backbone.name!r}. Load the backbone it was made for; the shapes agree: pass "
            "strict_name=False (command line: --no-strict-name) if it is the same model under another name."
        )

    # ---- validated: now the allocation (bounded by the file's own tensors) and the reads
    layers = tuple(sorted({layer for _, layer in keys}))
    A, B = {}, {}
    with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as f:
        for name in sorted({name for name, _ in keys}):
            d_in, d_out = backbone.module_shape(name)
            a_rows = torch.zeros(len(layers), r, d_in)  # (layers, rank, d_in)
            b_rows = torch.zeros(len(layers), d_out, r)  # (layers, d_out, rank)
            for i, layer in enumerate(layers):
                pair = keys.get((name, layer))
                if pair is not None:
                    a_rows[i], b_rows[i] = f.get_tensor(pair["A"]).float(), f.get_tensor(pair["B"]).float()
            A[name], B[name] = a_rows, b_rows
    return LoraAdapter(A, B, layers, scale=scale, base_model=backbone.name, metadata=ours.get("metadata", {}))
