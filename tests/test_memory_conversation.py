"""ConversationMemory: recent turns as text, older turns internalized, persistent per session, deletable."""

import pytest

from lora_memory import ParametricMemory
from lora_memory.chat import Turn, recent_turns
from lora_memory.conversation import ConversationMemory
from lora_memory.errors import ConversationError, InvalidIdError
from tests.test_memory import HashEncoder

TURNS = [Turn("user" if i % 2 == 0 else "assistant", f"Message {i}: the code of box {i} is {100 + i}.")
         for i in range(12)]


@pytest.fixture
def memory(lively, lively_net, tmp_path):
    memory = ParametricMemory(tmp_path / "memory", backbone=lively, doc2lora=lively_net, max_new_tokens=6,
                              encoder=HashEncoder())
    yield memory
    memory.close()


def test_turns_leaving_the_window_are_internalized(memory, lively):
    window = 60
    chat = ConversationMemory(memory, "s1", window_tokens=window)
    for turn in TURNS:
        chat.add(turn.role, turn.text)
    assert chat.turns() == TURNS
    recent = chat.recent()
    assert recent == recent_turns(lively, TURNS, window) and 0 < len(recent) < len(TURNS)
    old = len(TURNS) - len(recent)
    assert chat.internalized_ids() == [f"s1:turn-{i}" for i in range(old)] == memory.ids()
    stored = memory.get("s1:turn-1")
    assert stored.text == f"Assistant: {TURNS[1].text}"
    assert stored.metadata == {"conversation": "s1", "turn": 1, "role": "assistant"}


def test_ask_uses_the_recent_turns_and_the_adapters(memory):
    chat = ConversationMemory(memory, "s1", window_tokens=60)
    chat.add_turns(TURNS)
    answer = chat.ask("What is the code of box 1?", system="Be brief.")
    assert answer == memory.ask("What is the code of box 1?", system="Be brief.", history=chat.recent())
    assert answer.document_ids and answer.document_ids[0].startswith("s1:turn-")


def test_a_session_reopens_where_it_stopped_and_clear_deletes_only_it(memory, tmp_path):
    log = tmp_path / "turns.sqlite"
    with ConversationMemory(memory, "s1", log=log, window_tokens=60) as chat:
        chat.add_turns(TURNS[:8])
    with ConversationMemory(memory, "s2", log=log, window_tokens=0) as other:
        other.add("user", "Unrelated.")
    with ConversationMemory(memory, "s1", log=log, window_tokens=60) as chat:
        assert chat.turns() == TURNS[:8]
        chat.add_turns(TURNS[8:])
        assert chat.turns() == TURNS
        internalized = chat.internalized_ids()
        assert set(internalized) | {"s2:turn-0"} == set(memory.ids())
        chat.clear()
        assert chat.turns() == [] and chat.internalized_ids() == []
    assert memory.ids() == ["s2:turn-0"]
    with ConversationMemory(memory, "s2", log=log) as other:
        assert other.turns() == [Turn("user", "Unrelated.")]


def test_window_zero_internalizes_every_turn_and_failures_keep_turns_as_text(memory, monkeypatch):
    chat = ConversationMemory(memory, "s3", window_tokens=0)
    chat.add("user", "My locker code is 4417.")
    assert chat.recent() == [] and chat.internalized_ids() == ["s3:turn-0"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(memory, "add_documents", broken)
    with pytest.raises(RuntimeError):
        chat.add("assistant", "Noted.")
    assert chat.recent() == [Turn("assistant", "Noted.")]  # logged, not lost: retried with the next turn
    monkeypatch.undo()
    chat.add("user", "Thanks.")
    assert chat.recent() == [] and len(chat.internalized_ids()) == 3


def test_bad_settings_are_named_errors(memory):
    with pytest.raises(ConversationError):
        ConversationMemory(memory, "s", window_tokens=-1)
    with pytest.raises(InvalidIdError):
        ConversationMemory(memory, "a/b")
    with pytest.raises(ConversationError, match="role"):
        ConversationMemory(memory, "s").add("system", "no")
