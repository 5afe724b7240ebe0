"""LangChain integration for lora-memory: documents and tasks held as generated LoRA adapters.

``ParametricMemoryChatModel`` answers from a ``ParametricMemory`` (Doc-to-LoRA adapters instead of
retrieved text in the prompt), ``ParametricMemoryRetriever`` returns the documents it routes to,
``ParametricMemoryChatMessageHistory`` keeps a chat's recent turns and internalizes older ones,
and ``TaskAdapterRunnable`` runs a Text-to-LoRA task adapter as a Runnable or a tool.
"""

from importlib import metadata

from langchain_lora_memory.chat_message_histories import ParametricMemoryChatMessageHistory
from langchain_lora_memory.chat_models import ParametricMemoryChatModel
from langchain_lora_memory.retrievers import ParametricMemoryRetriever
from langchain_lora_memory.runnables import TaskAdapterRunnable

try:
    __version__ = metadata.version(__package__ or "langchain_lora_memory")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = ""

__all__ = [
    "ParametricMemoryChatMessageHistory",
    "ParametricMemoryChatModel",
    "ParametricMemoryRetriever",
    "TaskAdapterRunnable",
    "__version__",
]
