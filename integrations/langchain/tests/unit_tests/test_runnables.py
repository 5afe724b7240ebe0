from operator import itemgetter

import pytest
from langchain_core.tools import BaseTool

from langchain_lora_memory import TaskAdapterRunnable
from tests.tiny import tiny_task

REVIEWS = ["I loved every minute.", "Dreadful from start to end."]


@pytest.fixture
def runnable() -> TaskAdapterRunnable:
    return TaskAdapterRunnable(task=tiny_task())


@pytest.fixture(scope="module")
def expected() -> list[str]:
    return tiny_task().batch(REVIEWS)


def test_invoke_and_batch_run_the_task(runnable: TaskAdapterRunnable, expected: list[str]) -> None:
    assert runnable.invoke(REVIEWS[0]) == expected[0] != ""
    assert runnable.batch(REVIEWS) == expected
    assert runnable.batch([]) == []


def test_stream_joins_to_the_answer(runnable: TaskAdapterRunnable, expected: list[str]) -> None:
    chunks = list(runnable.stream(REVIEWS[0]))
    assert len(chunks) > 1
    assert "".join(chunks) == expected[0]


async def test_async(runnable: TaskAdapterRunnable, expected: list[str]) -> None:
    assert await runnable.ainvoke(REVIEWS[0]) == expected[0]
    assert await runnable.abatch(REVIEWS) == expected
    assert "".join([chunk async for chunk in runnable.astream(REVIEWS[0])]) == expected[0]


def test_composes_in_a_chain(runnable: TaskAdapterRunnable, expected: list[str]) -> None:
    chain = itemgetter("review") | runnable | str.upper
    assert chain.invoke({"review": REVIEWS[0]}) == expected[0].upper()


def test_as_tool_reads_the_task_description(runnable: TaskAdapterRunnable, expected: list[str]) -> None:
    tool = runnable.as_tool(name="sentiment")
    assert isinstance(tool, BaseTool)
    assert (tool.name, tool.description) == ("sentiment", tiny_task().description)
    assert tool.invoke(REVIEWS[0]) == expected[0]
    assert runnable.as_tool(description="Tell the mood.").description == "Tell the mood."


def test_needs_a_task_or_a_description() -> None:
    with pytest.raises(ValueError, match="description"):
        TaskAdapterRunnable()
    TaskAdapterRunnable(description="Reply with the number only.")  # builds nothing until called
