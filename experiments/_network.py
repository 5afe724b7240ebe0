"""The Doc-to-LoRA network an experiment runs: the shipped one, or any checkpoint, with its
surprise rows overridable, so every experiment can measure a training run's weights as it
measures the shipped network (no rewritten copy of the checkpoint needed)."""

from __future__ import annotations

import argparse
import dataclasses

from lora_memory.backbone import Backbone
from lora_memory.hypernets.checkpoint import load_checkpoint, load_default
from lora_memory.hypernets.doc2lora import DocToLoRA


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--surprise-rows`` and ``--surprise-nats``, read by `load_network`."""
    parser.add_argument("--checkpoint", default="", help="a Doc-to-LoRA checkpoint (default: the shipped one)")
    parser.add_argument("--surprise-rows", type=int, default=None, help="override the checkpoint's rows per chunk")
    parser.add_argument("--surprise-nats", type=float, default=None, help="override the checkpoint's threshold")


def storage_budget(value: str) -> float | None:
    """A ``--budget`` / ``--storage-budget`` value: a fraction of the KV cache, or ``none`` (every row)."""
    return None if value == "none" else float(value)


def load_network(args: argparse.Namespace, backbone: Backbone) -> DocToLoRA:
    """The network ``args`` name (`add_network_arguments`), surprise-row overrides applied."""
    if args.checkpoint:
        net = load_checkpoint(args.checkpoint, backbone, kind="doc2lora")
    else:
        net = load_default("doc2lora", backbone)
    overrides = {"surprise_rows": args.surprise_rows, "surprise_nats": args.surprise_nats}
    net.config = dataclasses.replace(net.config, **{k: v for k, v in overrides.items() if v is not None})
    return net
