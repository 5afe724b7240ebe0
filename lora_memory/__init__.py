"""lora-memory: parametric memory for LLM pipelines.

Documents become LoRA adapters through a Doc-to-LoRA hypernetwork and task descriptions through a
Text-to-LoRA hypernetwork, each in one forward pass; questions then run with the adapter applied
instead of the document in the prompt.
"""

from lora_memory.adapter import AdapterBatch, LoraAdapter, combine_adapters, concat_adapters
from lora_memory.adapter_io import load_adapter, save_adapter
from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.errors import (
    AdapterFormatError,
    BackboneError,
    BaseModelMismatchError,
    CheckpointError,
    ConversationError,
    DocumentError,
    DocumentNotFoundError,
    InvalidIdError,
    LoraMemoryError,
    PromptTooLongError,
    QuestionError,
    ReadOnlyStoreError,
    StoreBusyError,
    StoreError,
    UnsafePickleError,
    UpstreamFormatError,
)
from lora_memory.chat import Turn
from lora_memory.conversation import ConversationMemory
from lora_memory.generation import answer, generate
from lora_memory.hypernets import (
    DocToLoRA,
    TextToLoRA,
    describe_task,
    internalize,
    convert_doc2lora,
    convert_text2lora,
    load_checkpoint,
    load_default,
    save_checkpoint,
)
from lora_memory.memory import MemoryAnswer, ParametricMemory
from lora_memory.passages import split_passages
from lora_memory.peft_io import export_peft, import_peft
from lora_memory.router import Router
from lora_memory.store import StoredDocument, StoredSegment
from lora_memory.task import TaskAdapter

__version__ = "0.1.0"

__all__ = [
    "AdapterBatch",
    "AdapterFormatError",
    "Backbone",
    "BackboneError",
    "BaseModelIdentity",
    "BaseModelMismatchError",
    "CheckpointError",
    "ConversationError",
    "ConversationMemory",
    "DocToLoRA",
    "DocumentError",
    "DocumentNotFoundError",
    "InvalidIdError",
    "LoraAdapter",
    "LoraMemoryError",
    "MemoryAnswer",
    "ParametricMemory",
    "PromptTooLongError",
    "QuestionError",
    "ReadOnlyStoreError",
    "Router",
    "StoreBusyError",
    "StoreError",
    "StoredDocument",
    "StoredSegment",
    "TaskAdapter",
    "TextToLoRA",
    "Turn",
    "UnsafePickleError",
    "UpstreamFormatError",
    "answer",
    "combine_adapters",
    "concat_adapters",
    "convert_doc2lora",
    "convert_text2lora",
    "describe_task",
    "export_peft",
    "generate",
    "import_peft",
    "internalize",
    "load_adapter",
    "load_checkpoint",
    "load_default",
    "save_adapter",
    "save_checkpoint",
    "split_passages",
]
