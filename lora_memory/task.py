"""`TaskAdapter`: a plain-language task description turned into a callable model (Text-to-LoRA).

The description is encoded into a LoRA once (`describe_task`); every input then runs with that
adapter and WITHOUT the description in the prompt, so instructions cost no context tokens and
cannot be overridden by the input's text.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from lora_memory.adapter import LoraAdapter, combine_adapters
from lora_memory.backbone import Backbone
from lora_memory.errors import DocumentError, QuestionError, require_text
from lora_memory.generation import aiterate, generate, stream_generate
from lora_memory.hypernets.text2lora import TaskHypernetwork, describe_task
from lora_memory.loading import LazyModels
from lora_memory.peft_io import export_peft


class TaskAdapter:
    """A model specialised to one task by an adapter generated from its description.

    Args:
        description: what the model should do, e.g. "Reply with the sentiment: positive or negative."
        backbone: a loaded backbone; else ``model`` and ``device`` name one, loaded on first use
            and shared by every object in the process that names the same one.
        model: hub id or local directory; None for the embedded SmolLM2-135M-Instruct.
        text2lora: a loaded Text-to-LoRA network; else ``checkpoint``, or the shipped default.
        checkpoint: path of a Text-to-LoRA checkpoint.
        max_new_tokens: answer length.
        device: device to load the backbone on (default: CUDA when available).

    Raises:
        DocumentError: the description is empty or not a str.
    """

    def __init__(
        self,
        description: str,
        *,
        backbone: Backbone | None = None,
        model: str | None = None,
        text2lora: TaskHypernetwork | None = None,
        checkpoint: str | None = None,
        max_new_tokens: int = 64,
        device: str | None = None,
    ):
        self.description = require_text(description, "task description", DocumentError)
        self.max_new_tokens = max_new_tokens
        self._models = LazyModels(
            "text2lora", backbone=backbone, hypernet=text2lora, model=model, checkpoint=checkpoint, device=device
        )
        self._adapter: LoraAdapter | None = None
        self._lock = threading.Lock()

    @property
    def backbone(self) -> Backbone:
        """The backbone, loaded on first use."""
        return self._models.backbone

    @property
    def adapter(self) -> LoraAdapter:
        """The task's adapter, generated on first use and then reused."""
        with self._lock:
            if self._adapter is None:
                self._adapter = describe_task(self.backbone, self._models.hypernet, self.description)
            return self._adapter

    def combined_with(self, *others: LoraAdapter | None) -> LoraAdapter:
        """The task's adapter joined by rank concatenation with ``others`` (None entries skipped).

        The update is the sum of theirs, exactly: a document's Doc-to-LoRA adapter (what to
        answer) with this task's (how to answer), applied in one pass by
        ``ParametricMemory.ask(..., task=...)``.

        Raises:
            AdapterFormatError: an adapter was generated for another base model.
        """
        return combine_adapters([self.adapter, *(a for a in others if a is not None)])

    def _prompt(self, input: str) -> list[int]:
        return self._models.hypernet.prompt(self.backbone, require_text(input, "input", QuestionError))

    def invoke(self, input: str) -> str:
        """Run the task on one input (the prompt is the input alone)."""
        return self.batch([input])[0]

    __call__ = invoke

    def batch(self, inputs: Sequence[str]) -> list[str]:
        """Run the task on several inputs in one batched generation."""
        if isinstance(inputs, str):
            raise QuestionError("batch takes a list of inputs; call the adapter for one")
        if not inputs:
            return []
        prompts = [self._prompt(x) for x in inputs]
        adapter = self.adapter
        return generate(self.backbone, prompts, [adapter] * len(prompts), max_new_tokens=self.max_new_tokens)

    def stream(self, input: str) -> Iterator[str]:
        """`invoke`, yielding the text as it is generated."""
        prompt = self._prompt(input)
        return stream_generate(self.backbone, prompt, self.adapter, max_new_tokens=self.max_new_tokens)

    async def ainvoke(self, input: str) -> str:
        """`invoke` in a worker thread, leaving the event loop free."""
        return await asyncio.to_thread(self.invoke, input)

    async def abatch(self, inputs: Sequence[str]) -> list[str]:
        """`batch` in a worker thread, leaving the event loop free."""
        return await asyncio.to_thread(self.batch, inputs)

    async def astream(self, input: str) -> AsyncIterator[str]:
        """`stream` for asyncio: adapter generation and decoding run in worker threads."""
        pieces = await asyncio.to_thread(self.stream, input)
        async for piece in aiterate(pieces):
            yield piece

    def save_peft(self, directory: str | os.PathLike, *, pad_for_vllm: bool = False) -> Path:
        """Write the task adapter as a standard PEFT folder (see `lora_memory.peft_io.export_peft`)."""
        return export_peft(self.adapter, self.backbone, directory, pad_for_vllm=pad_for_vllm)
