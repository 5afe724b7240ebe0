"""A training run as ONE safetensors file, to carry a long run across machines and sessions.

A run directory holds the latest network, the optimizer state, the config and the metrics; the
archive holds all of them (tensors under ``hypernet/`` and ``state/``, the rest as JSON in the
header), so a run can be committed as one file, replaced each time, and continued elsewhere with
``resume_from``. Nothing is pickled. The optimizer's moments may be stored in bfloat16
(``moments="bfloat16"``), which halves their bytes so a larger network's run still fits in one file
under the repository's per-file limit; they come back as float32, and a resumed run then differs
from an uninterrupted one by the rounding of its moments (the network itself is kept exactly). The held-out set (``heldout.json``) stays out: a real-prose
run's holds Wikipedia text, which is never copied into the repository; a resumed run rebuilds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from lora_memory.errors import CheckpointError
from lora_memory.training.state import STATE_FILE

CHECKPOINT = "hypernet.safetensors"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
_PARTS = {"hypernet/": CHECKPOINT, "state/": STATE_FILE}
MOMENTS = ("float32", "bfloat16")


def pack(run_dir: str | Path, out: str | Path, moments: str = "float32") -> Path:
    """Write ``run_dir``'s latest network, optimizer state, config and metrics to ``out``;
    ``moments`` is the dtype the optimizer's float32 tensors are stored in (see the module)."""
    if moments not in MOMENTS:
        raise ValueError(f"moments must be one of {MOMENTS}, not {moments!r}")
    run_dir, out = Path(run_dir), Path(out)
    tensors, headers, narrowed = {}, {}, []
    for prefix, name in _PARTS.items():
        path = run_dir / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: {run_dir} is not a resumable run")
        with safe_open(str(path), framework="pt") as f:
            headers[name] = f.metadata() or {}
        for key, value in load_file(str(path)).items():
            if prefix == "state/" and moments != "float32" and value.dtype == torch.float32 and value.dim():
                value = value.to(getattr(torch, moments))
                narrowed.append(prefix + key)
            tensors[prefix + key] = value
    texts = {n: (run_dir / n).read_text() for n in (CONFIG, METRICS) if (run_dir / n).is_file()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    info = {"headers": headers, "texts": texts, "float32": narrowed}
    save_file(tensors, str(tmp), metadata={"lora_memory_run": json.dumps(info)})
    tmp.replace(out)
    return out


def unpack(archive: str | Path, run_dir: str | Path) -> Path:
    """Recreate a run directory from `pack`'s file; refuses to overwrite an existing run."""
    archive, run_dir = Path(archive), Path(run_dir)
    if (run_dir / STATE_FILE).exists() or (run_dir / CHECKPOINT).exists():
        raise CheckpointError(f"{run_dir} already holds a run; unpack {archive} into an empty directory")
    with safe_open(str(archive), framework="pt") as f:
        meta = (f.metadata() or {}).get("lora_memory_run")
    if meta is None:
        raise CheckpointError(f"{archive} is not a packed training run (no lora_memory_run header)")
    info = json.loads(meta)
    tensors = load_file(str(archive))
    tensors |= {k: tensors[k].float() for k in info.get("float32", ())}
    run_dir.mkdir(parents=True, exist_ok=True)
    for prefix, name in _PARTS.items():
        part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        save_file(part, str(run_dir / name), metadata=info["headers"].get(name) or None)
    for name, text in info["texts"].items():
        (run_dir / name).write_text(text)
    return run_dir
