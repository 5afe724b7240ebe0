"""``run_bench``: the sections a config names, measured side by side in one process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from lora_memory.backbone import Backbone
from lora_memory.bench import measures, report, targets
from lora_memory.bench.config import BenchConfig
from lora_memory.bench.timing import machine_info
from lora_memory.bench.workspace import Workspace
from lora_memory.hypernets.checkpoint import load_checkpoint, load_default
from lora_memory.hypernets.doc2lora import DocToLoRA
from lora_memory.hypernets.text2lora import TextToLoRA
from lora_memory.router import Encoder


def _describe(net: DocToLoRA | TextToLoRA) -> str:
    trained = "untrained" if getattr(net, "card", {}).get("untrained") else "trained"
    return f"{net.arch} ({trained}, {net.num_parameters:,} parameters)"


def run_bench(
    config: BenchConfig,
    backbone: Backbone,
    doc2lora: DocToLoRA,
    text2lora: TextToLoRA | None = None,
    *,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Run the configured sections and write results.json, figures and summary.md to ``config.out``.

    Args:
        text2lora: the T2L network; default ``config.t2l_checkpoint`` or the shipped one (loaded
            only when the t2l section runs).
        encoder: RAG retrieval encoder; default all-MiniLM-L6-v2 (`lora_memory.router.Router.default`).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    sections = config.section_list()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    def t2l_factory() -> TextToLoRA:
        if text2lora is not None:
            return text2lora
        if config.t2l_checkpoint:
            return load_checkpoint(config.t2l_checkpoint, backbone, kind="text2lora")
        return load_default("text2lora", backbone)

    ws = Workspace(config, backbone, doc2lora, t2l_factory, encoder=encoder)
    results: dict[str, Any] = {
        "config": config.to_dict(),
        "machine": machine_info(backbone.device),
        "backbone": {"name": backbone.name, "layers": backbone.num_layers, "hidden": backbone.hidden_size,
                     "context_window": backbone.context_window, "dtype": str(backbone.dtype)},
        "hypernets": {"doc2lora": _describe(doc2lora)},
        "seconds": {},
    }
    for name in sections:
        start = time.perf_counter()
        results[name] = measures.SECTIONS[name](ws)
        results["seconds"][name] = round(time.perf_counter() - start, 2)
    if "t2l" in sections:
        results["hypernets"]["text2lora"] = _describe(ws.t2l)
    results["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results["targets"] = targets.evaluate(results)
    results["files"] = report.write_all(results, out)
    return results
