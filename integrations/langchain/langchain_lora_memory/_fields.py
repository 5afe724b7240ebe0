"""Constructor fields shared by the components that read a ``ParametricMemory``."""

from __future__ import annotations

from functools import cached_property

from lora_memory.memory import ParametricMemory
from pydantic import BaseModel, ConfigDict, Field


class MemoryFields(BaseModel):
    """Where the memory lives and how much of it a call may use.

    The memory is opened on first use, not in ``__init__``: LangChain builds components eagerly
    (the standard test suites construct them dozens of times), and the core loads its backbone and
    hypernetwork lazily and shares them per process, so a component costs nothing until it is called.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: ParametricMemory | None = Field(default=None, exclude=True)
    """A memory opened elsewhere, e.g. shared with an ingestion job or built on a custom backbone.
    When set, ``memory_path``, ``model``, ``checkpoint`` and ``device`` are not used."""

    memory_path: str | None = None
    """Directory of a persisted memory; ``None`` opens an empty, in-process one."""

    model: str | None = None
    """Base model the adapters are made for (hub id or local directory); ``None`` is the embedded
    SmolLM2-135M-Instruct."""

    checkpoint: str | None = None
    """Doc-to-LoRA checkpoint; ``None`` uses the one shipped for ``model``."""

    device: str | None = None
    """Torch device; ``None`` picks the GPU when there is one."""

    k: int | None = None
    """How many routed documents a call uses; ``None`` keeps the memory's own ``top_k``."""

    @cached_property
    def _memory(self) -> ParametricMemory:
        if self.memory is not None:
            return self.memory
        return ParametricMemory(self.memory_path, model=self.model, checkpoint=self.checkpoint, device=self.device)
