"""Hypernetworks: Doc-to-LoRA (documents -> adapters) and Text-to-LoRA (descriptions -> adapters)."""

from lora_memory.hypernets.checkpoint import (
    ARCHITECTURES,
    card_path,
    fresh,
    load_checkpoint,
    load_default,
    read_header,
    save_checkpoint,
    ship,
    shipped_checkpoint,
)
from lora_memory.hypernets.doc2lora import ChunkFeatures, DocToLoRA, encode_chunks, internalize
from lora_memory.hypernets.fast_weight import FastWeightConfig, FastWeightDocToLoRA
from lora_memory.hypernets.perceiver import PerceiverConfig, PerceiverDocToLoRA
from lora_memory.hypernets.text2lora import TextToLoRA, TextToLoRAConfig, describe_task

__all__ = [
    "ARCHITECTURES",
    "ChunkFeatures",
    "DocToLoRA",
    "FastWeightConfig",
    "FastWeightDocToLoRA",
    "PerceiverConfig",
    "PerceiverDocToLoRA",
    "TextToLoRA",
    "TextToLoRAConfig",
    "card_path",
    "describe_task",
    "encode_chunks",
    "fresh",
    "internalize",
    "load_checkpoint",
    "load_default",
    "read_header",
    "save_checkpoint",
    "ship",
    "shipped_checkpoint",
]
