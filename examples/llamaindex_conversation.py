"""A LlamaIndex chat whose long-term memory is held in LoRA adapters.

LlamaIndex's `Memory` keeps the recent messages up to its token limit; the messages it flushes go
to a `ParametricMemoryBlock`, which internalizes each turn into a parametric memory. The
`LoraMemoryLLM` on the same memory routes each question over those adapters, so an early fact is
still answered while the prompt stays small; `additional_kwargs` carries the answer's
`confidence` and `source`.

Run from the repository root (after `make install`):

    .venv/bin/pip install -e integrations/llamaindex
    .venv/bin/python examples/llamaindex_conversation.py
"""

import random

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import Memory
from llama_index.llms.lora_memory import LoraMemoryLLM
from llama_index.memory.lora_memory import ParametricMemoryBlock

from lora_memory.data.conversations import long_conversation
from lora_memory.memory import ParametricMemory


def main() -> None:
    conversation = long_conversation(random.Random(7), turns=60, facts=3)
    parametric = ParametricMemory(text_fallback=0.5)  # ParametricMemory("chat-memory") keeps it
    memory = Memory.from_defaults(
        session_id="demo", token_limit=400, chat_history_token_ratio=0.3, token_flush_size=100,
        memory_blocks=[ParametricMemoryBlock(memory=parametric, session_id="demo")],
    )
    role = {"user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}
    memory.put_messages([ChatMessage(role=role[r], content=text) for r, text in conversation.turns])
    memory.get()  # the Memory flushes what exceeds its window into the block here
    print(f"{len(conversation.turns)} turns; {len(parametric)} internalized")

    llm = LoraMemoryLLM(parametric, history_tokens=96)
    for qa in conversation.qas:
        memory.put(ChatMessage(role=MessageRole.USER, content=qa.question))
        # recent turns, and the block's recall of the question inserted into the system message
        reply = llm.chat(memory.get())
        memory.put(reply.message)
        meta = reply.additional_kwargs
        print(f"Q: {qa.question}   (said long ago: {qa.answer})")
        print(f"A: {reply.message.content}   [confidence {meta['confidence']:.2f}, from {meta['source']}, "
              f"{meta['prompt_tokens']} prompt tokens]")
    parametric.close()


if __name__ == "__main__":
    main()
