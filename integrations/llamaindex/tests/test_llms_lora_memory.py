import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import CustomLLM
from lora_memory.task import TaskAdapter

from llama_index.indices.lora_memory import ParametricMemoryIndex
from llama_index.llms.lora_memory import LoraMemoryLLM
from tests.conftest import QUESTION

REVIEW = "I loved every minute."


def test_task_backed_completion(task: TaskAdapter) -> None:
    llm = LoraMemoryLLM(task)
    assert isinstance(llm, CustomLLM)
    expected = task(REVIEW)
    assert llm.complete(REVIEW).text == expected != ""
    chunks = list(llm.stream_complete(REVIEW))
    assert len(chunks) > 1
    assert "".join(c.delta for c in chunks) == chunks[-1].text == expected
    assert (llm.metadata.model_name, llm.metadata.num_output) == ("tiny-llama", 8)


def test_memory_backed_completion_reports_its_sources(index: ParametricMemoryIndex) -> None:
    response = LoraMemoryLLM(index.memory).complete(QUESTION)
    expected = index.memory.ask(QUESTION)
    assert response.text == expected.answer
    assert response.additional_kwargs == {
        "document_ids": ["magic"], "scores": expected.scores, "confidence": expected.confidence,
        "source": "adapters", "prompt_tokens": expected.prompt_tokens,
    }


def test_memory_chat_keeps_the_system_turn_and_recent_turns(index: ParametricMemoryIndex) -> None:
    memory = index.memory
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content="Who is Ada?"),
        ChatMessage(role=MessageRole.ASSISTANT, content="A glassblower."),
        ChatMessage(role=MessageRole.USER, content=QUESTION),
    ]
    turns = [("user", "Who is Ada?"), ("assistant", "A glassblower.")]
    expected = memory.ask(QUESTION, system="Be brief.", history=turns)
    response = LoraMemoryLLM(memory).chat(messages)
    assert response.message.content == expected.answer
    assert response.additional_kwargs["prompt_tokens"] == expected.prompt_tokens
    alone = LoraMemoryLLM(memory, history_tokens=0).chat(messages)
    assert alone.additional_kwargs["prompt_tokens"] == memory.ask(QUESTION, system="Be brief.").prompt_tokens
    chunks = list(LoraMemoryLLM(memory).stream_chat(messages))
    assert chunks[-1].message.content == "".join(c.delta for c in chunks) == expected.answer
    with pytest.raises(ValueError, match="user message"):
        LoraMemoryLLM(memory).chat(messages[:1])


def test_chat_answers_the_last_user_message(task: TaskAdapter) -> None:
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content="Dreadful."),
        ChatMessage(role=MessageRole.ASSISTANT, content="negative"),
        ChatMessage(role=MessageRole.USER, content=REVIEW),
    ]
    assert LoraMemoryLLM(task).chat(messages).message.content == task(REVIEW)
    with pytest.raises(ValueError, match="user message"):
        LoraMemoryLLM(task).chat(messages[:1])


def test_from_defaults_needs_exactly_one_backend() -> None:
    with pytest.raises(ValueError):
        LoraMemoryLLM.from_defaults()
    with pytest.raises(ValueError):
        LoraMemoryLLM.from_defaults(task="Reply with the number only.", memory_path="storage")
    assert isinstance(LoraMemoryLLM.from_defaults(task="Reply with the number only.").backend, TaskAdapter)


def test_a_memory_llm_with_a_task_runs_both_adapters(index: ParametricMemoryIndex, backbone) -> None:
    from lora_memory.testing import lively_text2lora

    net = lively_text2lora(backbone)
    task = TaskAdapter("Answer in one word.", backbone=backbone, text2lora=net)
    memory = index.memory
    expected = memory.ask(QUESTION, task=task)
    assert expected.answer != memory.ask(QUESTION).answer  # the task's adapter matters
    llm = LoraMemoryLLM(memory, task=task)
    assert llm.complete(QUESTION).text == expected.answer
    assert list(llm.stream_complete(QUESTION))[-1].text == expected.answer
    chat = [ChatMessage(role=MessageRole.USER, content=QUESTION)]
    assert llm.chat(chat).message.content == expected.answer
    made = TaskAdapter("Answer in one word.", backbone=backbone)
    described = LoraMemoryLLM(memory, task="Answer in one word.")
    assert described.complete(QUESTION).text == memory.ask(QUESTION, task=made).answer
