"""LlamaIndex index backed by lora-memory: documents internalized into LoRA adapters, not embedded chunks."""

from llama_index.indices.lora_memory.base import ParametricMemoryIndex
from llama_index.indices.lora_memory.query_engine import ParametricMemoryQueryEngine
from llama_index.indices.lora_memory.retriever import ParametricMemoryRetriever

__all__ = ["ParametricMemoryIndex", "ParametricMemoryQueryEngine", "ParametricMemoryRetriever"]
