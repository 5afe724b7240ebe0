"""Resumable training state in safetensors: optimizer tensors, step, RNG; JSON for the rest.

``torch.save`` would pickle; this keeps the rule "no pickle anywhere" for run directories too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from lora_memory.files import write_atomic

STATE_FILE = "trainer_state.safetensors"


def save_state(run_dir: Path, optimizer: torch.optim.Optimizer, step: int, extra: dict[str, Any]) -> None:
    """Write optimizer state, step and torch RNG atomically next to the hypernetwork checkpoint."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, slots in sd["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    meta = {"step": step, "param_groups": sd["param_groups"], "scalars": scalars, "extra": extra}
    write_atomic(run_dir / STATE_FILE, save_safetensors(tensors, metadata={"trainer": json.dumps(meta)}))


def load_state(run_dir: Path, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, Any]]:
    """Restore optimizer and RNG from ``run_dir``; returns ``(step, extra)``."""
    path = run_dir / STATE_FILE
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["trainer"])
    tensors = load_file(str(path))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, slots in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng"])
    return int(meta["step"]), meta["extra"]
