from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables.history import RunnableWithMessageHistory
from lora_memory.memory import ParametricMemory

from langchain_lora_memory import ParametricMemoryChatMessageHistory, ParametricMemoryChatModel
from tests.tiny import tiny_backbone

TURNS = [HumanMessage(f"Box {i} holds the code {100 + i}.") if i % 2 == 0 else AIMessage("Noted.") for i in range(10)]


def memory() -> ParametricMemory:
    return ParametricMemory(backbone=tiny_backbone(), max_new_tokens=8)


def test_recent_turns_stay_messages_and_older_ones_are_internalized(tmp_path: Path) -> None:
    store = memory()
    history = ParametricMemoryChatMessageHistory("s1", memory=store, log=tmp_path / "log.sqlite", window_tokens=40)
    history.add_messages([SystemMessage("Be brief."), *TURNS])
    recent = history.messages
    assert 0 < len(recent) < len(TURNS) and recent == TURNS[-len(recent):]
    old = len(TURNS) - len(recent)
    assert store.ids() == [f"s1:turn-{i}" for i in range(old)]
    assert store.get("s1:turn-0").text == f"User: {TURNS[0].text}"
    reopened = ParametricMemoryChatMessageHistory("s1", memory=store, log=tmp_path / "log.sqlite", window_tokens=40)
    assert reopened.messages == recent
    reopened.clear()
    assert reopened.messages == [] and store.ids() == []


def test_runnable_with_message_history_keeps_a_constant_window() -> None:
    store = memory()
    histories: dict[str, ParametricMemoryChatMessageHistory] = {}

    def session(session_id: str) -> ParametricMemoryChatMessageHistory:
        if session_id not in histories:
            histories[session_id] = ParametricMemoryChatMessageHistory(session_id, memory=store, window_tokens=40)
        return histories[session_id]

    chat = RunnableWithMessageHistory(ParametricMemoryChatModel(memory=store, max_tokens=4), session)
    config = {"configurable": {"session_id": "ada"}}
    sizes = []
    for i in range(6):
        reply = chat.invoke(f"Box {i} holds the code {100 + i}.", config=config)
        sizes.append(reply.response_metadata["prompt_tokens"])
    assert len(session("ada").conversation.turns()) == 12
    assert session("ada").conversation.internalized_ids()  # the oldest turns went into adapters
    assert max(sizes) - min(sizes[2:]) < 40  # the prompt stops growing once the window is full
