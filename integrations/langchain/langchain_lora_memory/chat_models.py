"""LangChain chat model that answers from a parametric memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from lora_memory.chat import chat_request
from lora_memory.memory import MemoryAnswer
from lora_memory.task import TaskAdapter
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_lora_memory._fields import MemoryFields


def _role(message: BaseMessage) -> str:
    """A LangChain message's chat role; others (tool calls, tool results) are left out of the prompt."""
    for kind, role in ((SystemMessage, "system"), (HumanMessage, "user"), (AIMessage, "assistant")):
        if isinstance(message, kind):
            return role
    return "other"


class ParametricMemoryChatModel(MemoryFields, BaseChatModel):
    """Chat model whose knowledge of your documents is held in generated LoRA adapters.

    It replaces both halves of ``retriever | format_docs | prompt | llm``: the memory routes the last
    human message to the documents it internalized (Doc-to-LoRA) and answers with their adapters
    applied, so no document text enters the prompt. The prompt is a chat all the same: the system
    messages, then the most recent turns before the last human message that fit
    ``history_tokens``, then that message; older turns are dropped, so the prompt stays the same
    size however long the chat runs (keep them in a `ParametricMemoryChatMessageHistory` to have
    them internalized instead). Decoding is greedy, so there are no sampling fields (a
    ``temperature`` passed in is ignored, as for any unknown field).

    Setup:
        .. code-block:: python

            from lora_memory.memory import ParametricMemory

            ParametricMemory("handbook-memory").add(open("handbook.md").read(), id="handbook")

    Instantiate:
        .. code-block:: python

            from langchain_lora_memory import ParametricMemoryChatModel

            llm = ParametricMemoryChatModel(memory_path="handbook-memory", k=1, max_tokens=64)

    Invoke and stream:
        .. code-block:: python

            llm.invoke("How much are the annual dues?").content
            for chunk in llm.stream("How much are the annual dues?"):
                print(chunk.content, end="")

    With ``task`` (a description or a `TaskAdapter`), every answer also runs with the task's
    adapter: how to answer on top of what the documents say (``invoke(..., task=...)`` per call).

    ``response_metadata`` carries the routed ``document_ids`` and their routing ``scores``, and
    from ``invoke`` the answer's ``confidence`` (how much the adapters support it), its
    ``source`` (``adapters``, or ``text`` where the memory's ``text_fallback`` answered from the
    routed text) and ``prompt_tokens``.
    """

    model_config = ConfigDict(populate_by_name=True)

    max_tokens: int | None = Field(default=None, alias="max_new_tokens")
    """Most tokens to generate; ``None`` keeps the memory's own ``max_new_tokens``."""

    history_tokens: int | None = 512
    """Most tokens of earlier turns (human and AI messages before the last human message) in the
    prompt, newest whole turns first; ``0`` answers the last human message alone, ``None`` keeps
    every turn."""

    streaming: bool = False
    """Whether ``invoke`` goes through ``_stream`` so callbacks see each token as it comes."""

    task: TaskAdapter | str | None = Field(default=None, exclude=True)
    """A skill every answer runs with, on top of the routed documents' adapters (rank
    concatenation): a `TaskAdapter`, or its plain-language description ("Answer in one word."),
    made into one on the memory's backbone with the shipped Text-to-LoRA network."""

    _tasks: dict[str, TaskAdapter] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "lora-memory"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        task = self.task.description if isinstance(self.task, TaskAdapter) else self.task
        return {"model": self.model, "memory_path": self.memory_path, "k": self.k, "max_tokens": self.max_tokens,
                "history_tokens": self.history_tokens, "task": task}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "lora_memory"
        if "ls_model_name" not in params:  # no `model` named: report the backbone the memory answers with
            params["ls_model_name"] = self._memory.backbone.name
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._memory.ask(**self._chat(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=self._message(reply))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = await self._memory.aask(**self._chat(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=self._message(reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in self._memory.stream(**self._chat(messages, stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for token in self._memory.astream(**self._chat(messages, stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

    def _chat(self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The memory's arguments for a chat; per-call ``k``, ``max_tokens``, ``history_tokens`` and
        ``task`` (``invoke(..., k=2)`` or ``bind(k=2)``) win over the fields."""
        if stop:
            raise ValueError("ParametricMemoryChatModel does not support stop sequences")
        pairs = [(_role(m), m.text) for m in messages]
        request = chat_request(self._memory.backbone, pairs, kwargs.get("history_tokens", self.history_tokens))
        return {
            **request.arguments(),
            "k": kwargs.get("k", self.k),
            "max_new_tokens": kwargs.get("max_tokens", self.max_tokens),
            "task": self._task(kwargs.get("task", self.task)),
        }

    def _task(self, task: TaskAdapter | str | None) -> TaskAdapter | None:
        """A description becomes a `TaskAdapter` on the memory's backbone, made once per description."""
        if task is None or isinstance(task, TaskAdapter):
            return task
        if task not in self._tasks:
            self._tasks[task] = TaskAdapter(task, backbone=self._memory.backbone)
        return self._tasks[task]

    def _message(self, reply: MemoryAnswer) -> AIMessage:
        return AIMessage(
            content=reply.answer,
            response_metadata={
                "model_name": self._memory.backbone.name,
                "document_ids": reply.document_ids,
                "scores": reply.scores,
                "confidence": reply.confidence,
                "source": reply.source,
                "prompt_tokens": reply.prompt_tokens,
            },
        )
