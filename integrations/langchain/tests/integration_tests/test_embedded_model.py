"""The swap on the real embedded SmolLM2-135M-Instruct (the README's example, shortened)."""

import pytest
from langchain_core.output_parsers import StrOutputParser
from lora_memory.memory import ParametricMemory

from langchain_lora_memory import ParametricMemoryChatModel, ParametricMemoryRetriever

pytestmark = pytest.mark.integration


def test_memory_chain_on_the_embedded_model() -> None:
    question = "What is the special magic number?"
    with ParametricMemory() as memory:  # no backbone given: the embedded default loads
        memory.add("The special magic number is 4821.", id="magic", metadata={"source": "notes.md"})
        answer = (ParametricMemoryChatModel(memory=memory, max_tokens=8) | StrOutputParser()).invoke(question)
        [source] = ParametricMemoryRetriever(memory=memory).invoke(question)
    assert isinstance(answer, str) and answer.strip()
    assert source.metadata == {"source": "notes.md", "id": "magic", "score": 1.0}
