from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_tests.unit_tests import ChatModelUnitTests
from lora_memory.memory import MemoryAnswer

from langchain_lora_memory import ParametricMemoryChatModel
from tests.tiny import QUESTION, tiny_memory


class TestParametricMemoryChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ParametricMemoryChatModel]:
        return ParametricMemoryChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"memory": tiny_memory()}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return False


@pytest.fixture
def llm() -> ParametricMemoryChatModel:
    return ParametricMemoryChatModel(memory=tiny_memory(), max_tokens=8)


@pytest.fixture(scope="module")
def expected() -> MemoryAnswer:
    return tiny_memory().ask(QUESTION, max_new_tokens=8)


def test_invoke_answers_like_the_memory(llm: ParametricMemoryChatModel, expected: MemoryAnswer) -> None:
    message = llm.invoke(QUESTION)
    assert isinstance(message, AIMessage)
    assert message.content == expected.answer != ""
    assert message.response_metadata["document_ids"] == expected.document_ids == ["magic"]
    assert message.response_metadata["scores"] == expected.scores
    assert message.response_metadata["model_name"] == "tiny-llama"
    assert message.response_metadata["confidence"] == expected.confidence
    assert message.response_metadata["source"] == "adapters"


def test_system_messages_and_recent_turns_enter_the_prompt(llm: ParametricMemoryChatModel) -> None:
    history = [
        SystemMessage("Be brief."),
        HumanMessage("Who is Ada?"),
        AIMessage("A glassblower."),
        HumanMessage(QUESTION),
    ]
    turns = [("user", "Who is Ada?"), ("assistant", "A glassblower.")]
    memory = tiny_memory()
    full = memory.ask(QUESTION, system="Be brief.", history=turns, max_new_tokens=8)
    message = llm.invoke(history)
    assert message.content == full.answer
    assert message.response_metadata["prompt_tokens"] == full.prompt_tokens
    assert full.prompt_tokens > memory.ask(QUESTION, system="Be brief.", max_new_tokens=8).prompt_tokens
    # a window that holds only the newest turn, and one that holds none
    last_only = memory.ask(QUESTION, system="Be brief.", history=turns[1:], max_new_tokens=8)
    window = len(memory.backbone.tokenize("A glassblower.")) + 5
    assert llm.invoke(history, history_tokens=window).response_metadata["prompt_tokens"] == last_only.prompt_tokens
    alone = ParametricMemoryChatModel(memory=memory, max_tokens=8, history_tokens=0).invoke(history)
    assert alone.content == memory.ask(QUESTION, system="Be brief.", max_new_tokens=8).answer
    assert "".join(c.content for c in llm.stream(history)) == full.answer
    with pytest.raises(ValueError, match="user message"):
        llm.invoke([SystemMessage("Be brief.")])


def test_stop_sequences_are_refused(llm: ParametricMemoryChatModel) -> None:
    with pytest.raises(ValueError, match="stop"):
        llm.invoke(QUESTION, stop=["\n"])


def test_k_and_max_tokens_per_call_win_over_fields(llm: ParametricMemoryChatModel, expected: MemoryAnswer) -> None:
    assert len(llm.invoke(QUESTION, k=3).response_metadata["document_ids"]) == 3
    two = ParametricMemoryChatModel(memory=tiny_memory(), max_new_tokens=8, k=2).invoke(QUESTION)
    assert two.response_metadata["document_ids"] == [i for i, _ in tiny_memory().route(QUESTION, k=2)]
    assert len(llm.invoke(QUESTION, max_tokens=1).content) < len(expected.answer)


def test_stream_yields_the_answer_and_reports_tokens(llm: ParametricMemoryChatModel, expected: MemoryAnswer) -> None:
    class Tokens(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

    handler = Tokens()
    chunks = [chunk.content for chunk in llm.stream(QUESTION, config={"callbacks": [handler]})]
    assert len(chunks) > 1
    assert "".join(chunks) == expected.answer
    assert handler.tokens == chunks


def test_streaming_field_routes_invoke_through_stream(expected: MemoryAnswer) -> None:
    llm = ParametricMemoryChatModel(memory=tiny_memory(), max_tokens=8, streaming=True)
    assert llm.invoke(QUESTION).content == expected.answer


async def test_async_invoke_and_stream(llm: ParametricMemoryChatModel, expected: MemoryAnswer) -> None:
    assert (await llm.ainvoke(QUESTION)).content == expected.answer
    assert "".join([chunk.content async for chunk in llm.astream(QUESTION)]) == expected.answer


def test_batch_answers_each_question(llm: ParametricMemoryChatModel) -> None:
    questions = [QUESTION, "Where does Ada Quill live?"]
    assert [m.content for m in llm.batch(questions)] == [
        a.answer for a in tiny_memory().ask_batch(questions, max_new_tokens=8)
    ]


def test_construction_opens_nothing(tmp_path: Path) -> None:
    # A store directory that does not exist yet: building the model must not create it.
    ParametricMemoryChatModel(memory_path=str(tmp_path / "memory"))
    assert not (tmp_path / "memory").exists()


def test_a_task_runs_with_the_documents_adapters(llm: ParametricMemoryChatModel, expected: MemoryAnswer) -> None:
    from lora_memory.testing import lively_text2lora
    from lora_memory.task import TaskAdapter

    from tests.tiny import tiny_backbone

    net = lively_text2lora(tiny_backbone())
    task = TaskAdapter("Answer in one word.", backbone=tiny_backbone(), text2lora=net)
    with_task = tiny_memory().ask(QUESTION, task=task, max_new_tokens=8)
    assert with_task.answer != expected.answer  # the task's adapter matters
    model = ParametricMemoryChatModel(memory=tiny_memory(), max_tokens=8, task=task)
    message = model.invoke(QUESTION)
    assert message.content == with_task.answer
    assert message.response_metadata["confidence"] == pytest.approx(with_task.confidence, abs=1e-5)
    assert "".join(c.content for c in model.stream(QUESTION)) == with_task.answer
    assert llm.invoke(QUESTION, task=task).content == with_task.answer  # per call
    assert llm.invoke(QUESTION).content == expected.answer
    described = ParametricMemoryChatModel(memory=tiny_memory(), max_tokens=8, task="Answer in one word.")
    made = TaskAdapter("Answer in one word.", backbone=tiny_backbone())
    assert described.invoke(QUESTION).content == tiny_memory().ask(QUESTION, task=made, max_new_tokens=8).answer
