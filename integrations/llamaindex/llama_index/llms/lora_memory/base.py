"""LlamaIndex LLM over a parametric memory or a Text-to-LoRA task adapter."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.llm import MessagesToPromptCallable
from typing_extensions import override

from lora_memory.memory import ParametricMemory
from lora_memory.task import TaskAdapter


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    """The prompt a chat turns into: its last user message.

    Both backends answer one input with the context held in adapters, so earlier turns and system
    prompts are not rendered into the prompt (they would only spend context).
    """
    for message in reversed(messages):
        if message.role == MessageRole.USER:
            return message.content or ""
    raise ValueError("LoraMemoryLLM needs a user message to answer")


class LoraMemoryLLM(CustomLLM):
    """Completion from a ``ParametricMemory`` (answers from internalized documents) or a ``TaskAdapter``.

    With a memory, ``complete`` routes the prompt to its documents and answers with their adapters
    applied (the routed ``document_ids`` and ``scores`` are in ``additional_kwargs``); with a task
    adapter, it does the task described in plain language on the prompt. Chat goes through the
    last user message (see ``last_user_message``). Decoding is greedy.

    Examples:
        .. code-block:: python

            from llama_index.llms.lora_memory import LoraMemoryLLM

            llm = LoraMemoryLLM.from_defaults(task="Answer with the sentiment: positive or negative.")
            llm.complete("I loved every minute.").text

            llm = LoraMemoryLLM.from_defaults(memory_path="./storage")
            for chunk in llm.stream_complete("How much are the annual dues?"):
                print(chunk.delta, end="")
    """

    backend: ParametricMemory | TaskAdapter = Field(
        exclude=True, description="What answers: a memory or a task adapter."
    )
    messages_to_prompt: MessagesToPromptCallable = Field(default=last_user_message, exclude=True)

    def __init__(self, backend: ParametricMemory | TaskAdapter, **kwargs: Any) -> None:
        super().__init__(backend=backend, **kwargs)

    @classmethod
    def from_defaults(
        cls, *, task: str | None = None, memory_path: str | os.PathLike | None = None, **kwargs: Any
    ) -> LoraMemoryLLM:
        """Build the backend too: a task adapter from its description, or the memory stored at a path.

        Args:
            task: plain-language task description (Text-to-LoRA).
            memory_path: directory of a persisted memory (e.g. an index's ``persist_dir``).
            **kwargs: passed to ``TaskAdapter`` or ``ParametricMemory`` (``model``, ``checkpoint``,
                ``max_new_tokens``, ``device``, ...). Nothing loads until the first call.
        """
        if (task is None) == (memory_path is None):
            raise ValueError("give exactly one of `task` (a description) or `memory_path`")
        return cls(TaskAdapter(task, **kwargs) if task is not None else ParametricMemory(memory_path, **kwargs))

    @classmethod
    @override
    def class_name(cls) -> str:
        return "LoraMemoryLLM"

    @property
    @override
    def metadata(self) -> LLMMetadata:
        backbone = self.backend.backbone  # loads on first use, once per process
        return LLMMetadata(
            context_window=backbone.context_window,
            num_output=self.backend.max_new_tokens,
            model_name=backbone.name,
        )

    @llm_completion_callback()
    @override
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if isinstance(self.backend, TaskAdapter):
            return CompletionResponse(text=self.backend(prompt))
        reply = self.backend.ask(prompt)
        return CompletionResponse(
            text=reply.answer, additional_kwargs={"document_ids": reply.document_ids, "scores": reply.scores}
        )

    @llm_completion_callback()
    @override
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for delta in self.backend.stream(prompt):
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()
