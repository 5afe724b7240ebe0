"""LlamaIndex LLM over a parametric memory or a Text-to-LoRA task adapter."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.llm import MessagesToPromptCallable
from typing_extensions import override

from lora_memory.chat import chat_request
from lora_memory.memory import MemoryAnswer, ParametricMemory
from lora_memory.task import TaskAdapter


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    """The prompt a task adapter's chat turns into: its last user message (a task adapter does
    one task on one input; a memory's chat keeps the system turn and recent turns: `chat`)."""
    for message in reversed(messages):
        if message.role == MessageRole.USER:
            return message.content or ""
    raise ValueError("LoraMemoryLLM needs a user message to answer")


class LoraMemoryLLM(CustomLLM):
    """Completion from a ``ParametricMemory`` (answers from internalized documents) or a ``TaskAdapter``.

    With a memory, ``complete`` routes the prompt to its documents and answers with their adapters
    applied (the routed ``document_ids`` and ``scores`` are in ``additional_kwargs``); with a task
    adapter, it does the task described in plain language on the prompt. With a memory, ``chat``
    keeps the system messages and the most recent turns before the last user message that fit
    ``history_tokens`` (older ones are dropped: the prompt stays the same size), and the answer's
    ``confidence``, ``source`` and ``prompt_tokens`` join ``additional_kwargs``; a task adapter's
    chat is its last user message (``last_user_message``). With a memory and ``task`` (a
    description or a `TaskAdapter`), answers also run with the task's adapter (how to answer, on
    top of what the documents say). Decoding is greedy.

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
    history_tokens: int | None = Field(
        default=512,
        description="Most tokens of earlier turns in a memory chat's prompt, newest whole turns first "
        "(0: the last user message alone, None: every turn).",
    )

    task: TaskAdapter | str | None = Field(
        default=None,
        exclude=True,
        description="With a memory: a skill every answer runs with on top of the routed documents' "
        "adapters, as a TaskAdapter or its plain-language description.",
    )
    _task_adapter: TaskAdapter | None = PrivateAttr(default=None)

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
        return _completion(self.backend.ask(prompt, task=self._task()))

    @llm_chat_callback()
    @override
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if isinstance(self.backend, TaskAdapter):
            return super().chat(messages, **kwargs)
        reply = _completion(self.backend.ask(**self._chat_arguments(messages)))
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=reply.text),
            additional_kwargs=reply.additional_kwargs,
        )

    @llm_chat_callback()
    @override
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        if isinstance(self.backend, TaskAdapter):
            return super().stream_chat(messages, **kwargs)
        pieces = self.backend.stream(**self._chat_arguments(messages))

        def gen() -> ChatResponseGen:
            text = ""
            for delta in pieces:
                text += delta
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta)

        return gen()

    def _chat_arguments(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """`ParametricMemory.ask`'s arguments for a chat (`lora_memory.chat.chat_request`) and the task."""
        assert isinstance(self.backend, ParametricMemory)
        roles = {MessageRole.SYSTEM: "system", MessageRole.USER: "user", MessageRole.ASSISTANT: "assistant"}
        pairs = [(roles.get(m.role, "other"), m.content or "") for m in messages]
        request = chat_request(self.backend.backbone, pairs, self.history_tokens)
        return {**request.arguments(), "task": self._task()}

    def _task(self) -> TaskAdapter | None:
        """The ``task`` field as a `TaskAdapter` on the memory's backbone, made once."""
        if self.task is None or isinstance(self.task, TaskAdapter):
            return self.task
        if self._task_adapter is None or self._task_adapter.description != self.task:
            assert isinstance(self.backend, ParametricMemory)
            self._task_adapter = TaskAdapter(self.task, backbone=self.backend.backbone)
        return self._task_adapter

    @llm_completion_callback()
    @override
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            backend = self.backend
            pieces = backend.stream(prompt, task=self._task()) if isinstance(backend, ParametricMemory) else \
                backend.stream(prompt)
            for delta in pieces:
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


def _completion(reply: MemoryAnswer) -> CompletionResponse:
    """A memory's answer, with where it came from and how sure it is in ``additional_kwargs``."""
    return CompletionResponse(
        text=reply.answer,
        additional_kwargs={"document_ids": reply.document_ids, "scores": reply.scores, "confidence": reply.confidence,
                           "source": reply.source, "prompt_tokens": reply.prompt_tokens},
    )
