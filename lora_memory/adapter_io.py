"""The adapter codec: tensors at a precision, bytes with a JSON header, files, sizes.

An adapter is stored as safetensors whose header (``__metadata__["lora_memory_adapter"]``) holds
what rebuilds it: layers, modules, scale, base model, metadata and the storage precision. Tensors
are kept at ``fp32``, ``fp16`` or ``int8``; int8 stores each rank row of A (length ``d_in``) and each
rank column of B (length ``d_out``) with its own fp16 absmax scale, so a rank component that is
small overall keeps its precision. Everything reads back as fp32. The store writes one such blob
per document; `roundtrip` gives an adapter as it reads back, so evaluation and the benchmark
price a precision with the very codec the store uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import BaseModelIdentity
from lora_memory.errors import AdapterFormatError
from lora_memory.files import read_regular, write_atomic

ADAPTER_FORMAT_VERSION = 1
ADAPTER_HEADER_KEY = "lora_memory_adapter"
PRECISIONS = ("fp32", "fp16", "int8")  # how adapter tensors are stored; always read back as fp32


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


# ---- tensors --------------------------------------------------------------------------------------
def _int8_rows(x: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row (last dim) absmax int8: ``x ~= q * scale``, scales fp16 ``(..., 1)``."""
    x = x.detach().float()
    scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / 127.0
    return torch.round(x / scale).clamp_(-127, 127).to(torch.int8), scale.to(torch.float16)


def encode(adapter: LoraAdapter, precision: str) -> dict[str, Tensor]:
    """Tensors as stored: fp32, fp16, or int8 with an fp16 scale per rank row of A / column of B."""
    check_precision(precision)
    tensors: dict[str, Tensor] = {}
    for m in adapter.modules:
        a, b = adapter.A[m].detach().float().cpu().contiguous(), adapter.B[m].detach().float().cpu()
        if precision == "int8":
            (qa, sa), (qb, sb) = _int8_rows(a), _int8_rows(b.transpose(-1, -2).contiguous())
            tensors |= {f"A.{m}": qa, f"A.{m}.scale": sa, f"B.{m}": qb, f"B.{m}.scale": sb}
        else:
            dtype = torch.float16 if precision == "fp16" else torch.float32
            tensors |= {f"A.{m}": a.to(dtype).contiguous(), f"B.{m}": b.to(dtype).contiguous()}
    return tensors


def decode(tensors: dict[str, Tensor], modules: list[str], precision: str) -> tuple[dict, dict]:
    """fp32 A and B from `encode`'s tensors; a key, dtype or shape that does not fit raises."""
    names = [f"{ab}.{m}" for m in modules for ab in "AB"]
    expected = names + [f"{n}.scale" for n in names] if precision == "int8" else names
    if sorted(tensors) != sorted(expected):
        raise KeyError(f"tensors {sorted(tensors)} do not match modules {modules} stored as {precision}")
    if precision != "int8":
        return ({m: tensors[f"A.{m}"].float() for m in modules}, {m: tensors[f"B.{m}"].float() for m in modules})
    for n in names:
        q, scale = tensors[n], tensors[f"{n}.scale"]
        if q.dtype != torch.int8 or scale.shape != (*q.shape[:-1], 1):
            raise ValueError(f"{n}: int8 rows {q.dtype} {tuple(q.shape)} with scales {tuple(scale.shape)}")
    rows = {n: tensors[n].float() * tensors[f"{n}.scale"].float() for n in names}
    return ({m: rows[f"A.{m}"] for m in modules}, {m: rows[f"B.{m}"].transpose(-1, -2).contiguous() for m in modules})


def roundtrip(adapter: LoraAdapter, precision: str) -> LoraAdapter:
    """``adapter`` as it reads back after being stored at ``precision`` (fp32, on the CPU)."""
    A, B = decode(encode(adapter, precision), list(adapter.modules), precision)
    return LoraAdapter(A, B, adapter.layers, adapter.scale, adapter.base_model, dict(adapter.metadata))


def stored_nbytes(adapter: LoraAdapter, precision: str) -> int:
    """Tensor bytes of ``adapter`` stored at ``precision`` (without the file header)."""
    return sum(
        adapter.rank(m) * row_nbytes(len(adapter.layers), adapter.A[m].shape[-1], adapter.B[m].shape[1], precision)
        for m in adapter.modules
    )


def row_nbytes(layers: int, d_in: int, d_out: int, precision: str) -> int:
    """Stored bytes of one rank row: a row of A and a column of B in each of ``layers`` layers,
    and at int8 their two fp16 scales."""
    size = {"fp32": 4, "fp16": 2, "int8": 1}[check_precision(precision)]
    return layers * ((d_in + d_out) * size + (2 * 2 if precision == "int8" else 0))


# ---- bytes and files ------------------------------------------------------------------------------
def adapter_to_bytes(adapter: LoraAdapter, identity: BaseModelIdentity | None = None, precision: str = "fp32") -> bytes:
    """Serialise ``adapter`` as safetensors with a JSON header that rebuilds it.

    ``precision`` trades size for fidelity: fp16 halves the fp32 bytes, int8 quarters them
    (`lora-memory eval doc2lora` measures what int8 costs in NIAH accuracy).
    """
    header = {
        "format_version": ADAPTER_FORMAT_VERSION,
        "layers": list(adapter.layers),
        "modules": list(adapter.modules),
        "scale": adapter.scale,
        "base_model": adapter.base_model,
        "identity": identity.to_dict() if identity is not None else None,
        "metadata": dict(adapter.metadata),
        "precision": check_precision(precision),
    }
    try:
        encoded = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AdapterFormatError(f"adapter metadata must be JSON-serialisable: {exc}") from exc
    return save_safetensors(encode(adapter, precision), metadata={ADAPTER_HEADER_KEY: encoded})


def adapter_from_bytes(
    data: bytes, source: str | os.PathLike, identity: BaseModelIdentity | None = None
) -> LoraAdapter:
    """Rebuild an adapter from `adapter_to_bytes` output; ``source`` names it in errors.

    Raises:
        AdapterFormatError: the bytes are truncated, corrupt, or not a lora-memory adapter.
        BaseModelMismatchError: ``identity`` is given and the adapter was made for another model.
    """
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(json.loads(data[8 : 8 + length])["__metadata__"][ADAPTER_HEADER_KEY])
        tensors = load_safetensors(data)
        modules = header["modules"]
        if header["format_version"] != ADAPTER_FORMAT_VERSION:
            raise ValueError(f"format version {header['format_version']}, expected {ADAPTER_FORMAT_VERSION}")
        A, B = decode(tensors, modules, check_precision(header.get("precision", "fp32")))
        adapter = LoraAdapter(
            A=A,
            B=B,
            layers=tuple(header["layers"]),
            scale=float(header["scale"]),
            base_model=header["base_model"],
            metadata=header["metadata"],
        )
        made_for = None if header.get("identity") is None else BaseModelIdentity.from_dict(header["identity"])
    except (struct.error, ValueError, KeyError, TypeError, AttributeError, SafetensorError, AdapterFormatError) as exc:
        raise AdapterFormatError(
            f"{source} is not a readable lora-memory adapter (truncated or corrupt?): {exc}"
        ) from exc
    if identity is not None and made_for is not None:
        identity.check(made_for, f"adapter {source}")
    return adapter


def save_adapter(
    path: str | os.PathLike, adapter: LoraAdapter, identity: BaseModelIdentity | None = None, precision: str = "fp32"
) -> str:
    """Write ``adapter`` to ``path`` atomically (temporary file, fsync, rename).

    Args:
        identity: the base model's full identity, recorded so `load_adapter` can check shapes.
        precision: fp32, fp16 or int8 storage (read back as fp32 either way).

    Returns:
        The SHA-256 of the bytes written, which the store keeps to detect later corruption.
    """
    data = adapter_to_bytes(adapter, identity, precision)
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def load_adapter(path: str | os.PathLike, identity: BaseModelIdentity | None = None) -> LoraAdapter:
    """Read an adapter written by `save_adapter`.

    Raises:
        AdapterFormatError: the file is missing, truncated, corrupt or not ours (the message names it).
        BaseModelMismatchError: ``identity`` is given and the adapter was made for another model.
    """
    try:
        data = read_regular(path)  # a FIFO or device is refused, never read
    except OSError as exc:
        raise AdapterFormatError(f"cannot read adapter {path}: {exc}") from exc
    return adapter_from_bytes(data, path, identity)
