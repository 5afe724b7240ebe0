"""LangChain chat message history whose old turns are internalized into a parametric memory."""

from __future__ import annotations

import os
from collections.abc import Sequence

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from lora_memory.chat import Turn
from lora_memory.conversation import WINDOW_TOKENS, ConversationMemory
from lora_memory.memory import ParametricMemory


class ParametricMemoryChatMessageHistory(BaseChatMessageHistory):
    """A session's history that keeps recent turns as messages and moves older ones into adapters.

    ``messages`` is the window of recent turns (at most ``window_tokens``), so a prompt built from
    it stays the same size however long the chat runs; each turn leaving the window is
    internalized into ``memory`` (Doc-to-LoRA) under the session's id, where a
    `ParametricMemoryChatModel` on the same memory finds it by routing (`lora_memory.conversation`).

    Use it with ``RunnableWithMessageHistory``:

    .. code-block:: python

        from langchain_core.runnables.history import RunnableWithMessageHistory
        from lora_memory.memory import ParametricMemory
        from langchain_lora_memory import ParametricMemoryChatMessageHistory, ParametricMemoryChatModel

        memory = ParametricMemory("chat-memory")
        chat = RunnableWithMessageHistory(
            ParametricMemoryChatModel(memory=memory),
            lambda session_id: ParametricMemoryChatMessageHistory(session_id, memory=memory, log="chat-log.sqlite"),
        )
        chat.invoke("My locker code is 4417.", config={"configurable": {"session_id": "ada"}})

    Args:
        session_id: the conversation's id (also the prefix of its internalized turns' ids).
        memory: the memory turns are internalized into; else one is opened at ``memory_path``
            (None: a temporary one).
        memory_path: directory of a persisted memory, used when ``memory`` is None.
        log: SQLite file keeping the sessions' turns across restarts; None keeps them in this object.
        window_tokens: most tokens of recent turns kept as messages.

    Human and AI messages are turns; other messages (system, tool) are not kept.
    """

    def __init__(
        self,
        session_id: str,
        *,
        memory: ParametricMemory | None = None,
        memory_path: str | os.PathLike | None = None,
        log: str | os.PathLike | None = None,
        window_tokens: int = WINDOW_TOKENS,
    ) -> None:
        memory = memory if memory is not None else ParametricMemory(memory_path)
        self.conversation = ConversationMemory(memory, session_id, log=log, window_tokens=window_tokens)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The recent turns, oldest first, as they go into the next prompt."""
        return [HumanMessage(t.text) if t.role == "user" else AIMessage(t.text) for t in self.conversation.recent()]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Keep the human and AI messages; the turns they push out of the window are internalized."""
        self.conversation.add_turns(
            Turn("user" if isinstance(m, HumanMessage) else "assistant", m.text)
            for m in messages
            if isinstance(m, (HumanMessage, AIMessage))
        )

    def clear(self) -> None:
        """Delete the session: its turns and the documents internalized from them."""
        self.conversation.clear()
