from pathlib import Path

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import BaseMemoryBlock, Memory
from lora_memory import Backbone
from lora_memory.memory import ParametricMemory

from llama_index.memory.lora_memory import ParametricMemoryBlock


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


async def test_flushed_turns_are_internalized_and_recalled(tmp_path: Path, backbone: Backbone) -> None:
    parametric = ParametricMemory(tmp_path / "memory", backbone=backbone, max_new_tokens=8)
    block = ParametricMemoryBlock(memory=parametric, session_id="ada", log=tmp_path / "log.sqlite",
                                  min_confidence=float("-inf"))
    assert isinstance(block, BaseMemoryBlock)
    assert await block.aget([user("What is my locker code?")]) == ""  # nothing internalized yet
    await block.aput([ChatMessage(role=MessageRole.SYSTEM, content="Be brief."), user("My locker code is 4417."),
                      ChatMessage(role=MessageRole.ASSISTANT, content="Noted.")])
    assert parametric.ids() == ["ada:turn-0", "ada:turn-1"]
    recalled = await block.aget([user("What is my locker code?")])
    expected = parametric.ask("What is my locker code?").answer
    assert recalled == f"Recalled from earlier in this conversation: {expected}"
    block.min_confidence = float("inf")
    assert await block.aget([user("What is my locker code?")]) == ""
    block.clear()
    assert parametric.ids() == []


async def test_a_memory_flushes_old_turns_into_the_block(tmp_path: Path, backbone: Backbone) -> None:
    parametric = ParametricMemory(backbone=backbone, max_new_tokens=8)
    memory = Memory.from_defaults(
        session_id="ada", token_limit=60, chat_history_token_ratio=0.5, token_flush_size=20,
        memory_blocks=[ParametricMemoryBlock(memory=parametric, session_id="ada")],
    )
    for i in range(12):
        await memory.aput(user(f"Box {i} holds the code {100 + i}."))
    await memory.aget()
    assert parametric.ids() and all(i.startswith("ada:turn-") for i in parametric.ids())
