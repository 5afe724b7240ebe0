"""LangChain chat model that answers from a parametric memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from lora_memory.memory import MemoryAnswer
from pydantic import ConfigDict, Field

from langchain_lora_memory._fields import MemoryFields


class ParametricMemoryChatModel(MemoryFields, BaseChatModel):
    """Chat model whose knowledge of your documents is held in generated LoRA adapters.

    It replaces both halves of ``retriever | format_docs | prompt | llm``: the memory routes the last
    human message to the documents it internalized (Doc-to-LoRA) and answers with their adapters
    applied, so no document text enters the prompt. Earlier turns are not used, because the
    adapters, not the conversation, carry the context. Decoding is greedy, so there are no
    sampling fields (a ``temperature`` passed in is ignored, as for any unknown field).

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

    ``response_metadata`` carries the routed ``document_ids`` and their routing ``scores``.
    """

    model_config = ConfigDict(populate_by_name=True)

    max_tokens: int | None = Field(default=None, alias="max_new_tokens")
    """Most tokens to generate; ``None`` keeps the memory's own ``max_new_tokens``."""

    streaming: bool = False
    """Whether ``invoke`` goes through ``_stream`` so callbacks see each token as it comes."""

    @property
    def _llm_type(self) -> str:
        return "lora-memory"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "memory_path": self.memory_path, "k": self.k, "max_tokens": self.max_tokens}

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
        reply = self._memory.ask(_question(messages, stop), **self._ask_kwargs(kwargs))
        return ChatResult(generations=[ChatGeneration(message=self._message(reply))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = await self._memory.aask(_question(messages, stop), **self._ask_kwargs(kwargs))
        return ChatResult(generations=[ChatGeneration(message=self._message(reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in self._memory.stream(_question(messages, stop), **self._ask_kwargs(kwargs)):
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
        async for token in self._memory.astream(_question(messages, stop), **self._ask_kwargs(kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

    def _ask_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Per-call ``k`` and ``max_tokens`` (``invoke(..., k=2)`` or ``bind(k=2)``) win over the fields."""
        return {"k": kwargs.get("k", self.k), "max_new_tokens": kwargs.get("max_tokens", self.max_tokens)}

    def _message(self, reply: MemoryAnswer) -> AIMessage:
        return AIMessage(
            content=reply.answer,
            response_metadata={
                "model_name": self._memory.backbone.name,
                "document_ids": reply.document_ids,
                "scores": reply.scores,
            },
        )


def _question(messages: Sequence[BaseMessage], stop: list[str] | None) -> str:
    """The last human message: the memory answers one question, its adapters hold the context."""
    if stop:
        raise ValueError("ParametricMemoryChatModel does not support stop sequences")
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    raise ValueError("ParametricMemoryChatModel needs a human message to answer")
