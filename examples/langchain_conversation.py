"""A LangChain chat that remembers a long conversation with a prompt of constant size.

`RunnableWithMessageHistory` keeps each session's history in a
`ParametricMemoryChatMessageHistory`: the last `window_tokens` of turns stay messages, and every
turn leaving that window is internalized into the parametric memory (one adapter per turn). The
chat model routes each new question over those adapters, so a fact stated long ago can still be
answered; `response_metadata` shows how much the adapters support each answer (`confidence`), and
whether the memory fell back to the routed turn's text (`source`).

Run from the repository root (after `make install`):

    .venv/bin/pip install -e integrations/langchain
    .venv/bin/python examples/langchain_conversation.py
"""

import random

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_lora_memory import ParametricMemoryChatMessageHistory, ParametricMemoryChatModel

from lora_memory.data.conversations import long_conversation
from lora_memory.memory import ParametricMemory


def main() -> None:
    conversation = long_conversation(random.Random(7), turns=60, facts=3)
    with ParametricMemory(text_fallback=0.5) as memory:  # ParametricMemory("chat-memory") keeps it
        histories: dict[str, ParametricMemoryChatMessageHistory] = {}

        def session(session_id: str) -> ParametricMemoryChatMessageHistory:
            if session_id not in histories:  # log="chat-log.sqlite" would keep the turns across restarts
                histories[session_id] = ParametricMemoryChatMessageHistory(session_id, memory=memory, window_tokens=96)
            return histories[session_id]

        # the first 60 turns as they happened (facts first, then small talk), without asking the model
        session("demo").add_messages(
            [HumanMessage(text) if role == "user" else AIMessage(text) for role, text in conversation.turns]
        )
        print(f"{len(conversation.turns)} turns; {len(session('demo').messages)} kept as messages, "
              f"{len(session('demo').conversation.internalized_ids())} internalized")

        chat = RunnableWithMessageHistory(ParametricMemoryChatModel(memory=memory, max_tokens=24), session)
        for qa in conversation.qas:
            reply = chat.invoke(qa.question, config={"configurable": {"session_id": "demo"}})
            meta = reply.response_metadata
            print(f"Q: {qa.question}   (said long ago: {qa.answer})")
            print(f"A: {reply.content}   [confidence {meta['confidence']:.2f}, from {meta['source']}, "
                  f"{meta['prompt_tokens']} prompt tokens]")


if __name__ == "__main__":
    main()
