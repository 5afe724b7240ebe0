"""A `Memory` block that internalizes the turns a chat's short-term memory lets go of."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.memory import BaseMemoryBlock
from lora_memory.chat import Turn
from lora_memory.conversation import ConversationMemory
from lora_memory.memory import ParametricMemory
from typing_extensions import override


class ParametricMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memory held in LoRA adapters instead of a vector store or a summary.

    LlamaIndex's ``Memory`` keeps recent messages up to its token limit and hands the ones it
    flushes to its blocks. This block internalizes each flushed user or assistant message into a
    ``ParametricMemory`` (Doc-to-LoRA), one document per turn under ``<session_id>:turn-<n>``
    (`lora_memory.conversation`). When the memory is read, it asks the parametric memory the
    latest user message and, if the answer's confidence reaches ``min_confidence``, returns it as
    a line for the prompt; a ``LoraMemoryLLM`` on the same memory also applies the adapters itself.

    Examples:
        .. code-block:: python

            from llama_index.core.memory import Memory
            from lora_memory.memory import ParametricMemory
            from llama_index.memory.lora_memory import ParametricMemoryBlock

            parametric = ParametricMemory("chat-memory")
            memory = Memory.from_defaults(
                session_id="ada", token_limit=2000, chat_history_token_ratio=0.1,
                memory_blocks=[ParametricMemoryBlock(memory=parametric, session_id="ada")],
            )
    """

    name: str = Field(default="ParametricMemory", description="The block's name in the prompt template.")
    memory: ParametricMemory = Field(exclude=True, description="Where flushed turns are internalized.")
    session_id: str = Field(description="The conversation's id: the prefix of its turns' document ids.")
    log: str | None = Field(default=None, description="SQLite file keeping the session's turns across restarts.")
    min_confidence: float = Field(
        default=0.5, description="Least confidence (`MemoryAnswer.confidence`) of a recalled answer put in the prompt."
    )
    _conversation: ConversationMemory | None = PrivateAttr(default=None)

    def __init__(self, *, memory: ParametricMemory, session_id: str, log: str | os.PathLike | None = None,
                 **kwargs: Any) -> None:
        super().__init__(memory=memory, session_id=session_id, log=None if log is None else str(log), **kwargs)

    @property
    def conversation(self) -> ConversationMemory:
        """The session's turns (``window_tokens=0``: the ``Memory`` keeps the recent ones itself)."""
        if self._conversation is None:
            self._conversation = ConversationMemory(self.memory, self.session_id, log=self.log, window_tokens=0)
        return self._conversation

    @override
    async def _aput(self, messages: list[ChatMessage]) -> None:
        turns = [Turn("user" if m.role == MessageRole.USER else "assistant", m.content or "")
                 for m in messages if m.role in (MessageRole.USER, MessageRole.ASSISTANT) and m.content]
        if turns:
            await asyncio.to_thread(self.conversation.add_turns, turns)

    @override
    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        question = next((m.content for m in reversed(messages or []) if m.role == MessageRole.USER and m.content), None)
        if question is None or not self.conversation.internalized_ids():
            return ""
        answer = await asyncio.to_thread(self.memory.ask, question)
        if answer.confidence < self.min_confidence:
            return ""
        return f"Recalled from earlier in this conversation: {answer.answer}"

    def clear(self) -> None:
        """Delete the session's internalized turns and its log."""
        self.conversation.clear()
