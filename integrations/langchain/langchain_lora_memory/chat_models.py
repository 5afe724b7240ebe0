"""LangChain chat model that answers from a parametric memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from lora_memory.chat import Turn, recent_turns
from lora_memory.memory import MemoryAnswer, ParametricMemory
from pydantic import ConfigDict, Field

from langchain_lora_memory._fields import MemoryFields


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

    @property
    def _llm_type(self) -> str:
        return "lora-memory"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "memory_path": self.memory_path, "k": self.k, "max_tokens": self.max_tokens,
                "history_tokens": self.history_tokens}

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
        """The memory's arguments for a chat; per-call ``k``, ``max_tokens`` and ``history_tokens``
        (``invoke(..., k=2)`` or ``bind(k=2)``) win over the fields."""
        return {
            **chat_arguments(self._memory, messages, stop, kwargs.get("history_tokens", self.history_tokens)),
            "k": kwargs.get("k", self.k),
            "max_new_tokens": kwargs.get("max_tokens", self.max_tokens),
        }

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


def chat_arguments(
    memory: ParametricMemory, messages: Sequence[BaseMessage], stop: list[str] | None, history_tokens: int | None
) -> dict[str, Any]:
    """``question``, ``system`` and ``history`` for `ParametricMemory.ask` from LangChain messages.

    The question is the last human message (routing reads it alone); system messages are joined
    into the system turn; the human and AI messages before the question are the history, cut to
    its newest ``history_tokens``. Other messages (tool calls) have no place in the chat template
    and are left out.
    """
    if stop:
        raise ValueError("ParametricMemoryChatModel does not support stop sequences")
    last = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), None)
    if last is None:
        raise ValueError("ParametricMemoryChatModel needs a human message to answer")
    systems = [m.text for m in messages if isinstance(m, SystemMessage)]
    turns = [Turn("user" if isinstance(m, HumanMessage) else "assistant", m.text)
             for m in messages[:last] if isinstance(m, (HumanMessage, AIMessage))]
    history = recent_turns(memory.backbone, turns, history_tokens) if turns and history_tokens != 0 else []
    return {"question": messages[last].text, "system": "\n\n".join(systems) if systems else None, "history": history}
