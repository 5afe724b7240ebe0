"""LlamaIndex LLM backed by lora-memory: a parametric memory or a Text-to-LoRA task adapter."""

from llama_index.llms.lora_memory.base import LoraMemoryLLM, last_user_message

__all__ = ["LoraMemoryLLM", "last_user_message"]
