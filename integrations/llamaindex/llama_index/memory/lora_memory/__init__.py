"""LlamaIndex memory block backed by lora-memory: turns that leave the chat window become adapters."""

from llama_index.memory.lora_memory.base import ParametricMemoryBlock

__all__ = ["ParametricMemoryBlock"]
