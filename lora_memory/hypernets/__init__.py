"""Hypernetworks: Doc-to-LoRA (documents -> adapters) and Text-to-LoRA (descriptions -> adapters),
ours and Sakana AI's published ones (converted from their files)."""

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
from lora_memory.hypernets.upstream import convert_doc2lora, convert_text2lora
from lora_memory.hypernets.upstream_perceiver import UpstreamPerceiverConfig, UpstreamPerceiverDocToLoRA
from lora_memory.hypernets.upstream_text2lora import UpstreamTextToLoRA, UpstreamTextToLoRAConfig

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
    "UpstreamPerceiverConfig",
    "UpstreamPerceiverDocToLoRA",
    "UpstreamTextToLoRA",
    "UpstreamTextToLoRAConfig",
    "card_path",
    "convert_doc2lora",
    "convert_text2lora",
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
