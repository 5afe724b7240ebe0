from pathlib import Path

import pytest
from llama_index.core import Document
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.indices.base import BaseIndex
from lora_memory import Backbone

from llama_index.indices.lora_memory import ParametricMemoryIndex
from tests.conftest import QUESTION


def test_documents_are_internalized_whole(index: ParametricMemoryIndex, documents: list[Document]) -> None:
    assert isinstance(index, BaseIndex)
    assert index.memory.ids() == ["magic", "ada", "colours"]
    stored = index.memory.get("magic")
    assert (stored.text, stored.metadata) == (documents[0].text, {"source": "notes.md"})


def test_retriever_returns_the_routed_documents(index: ParametricMemoryIndex, documents: list[Document]) -> None:
    nodes = index.as_retriever(similarity_top_k=2).retrieve(QUESTION)
    assert [(n.node.node_id, n.score) for n in nodes] == index.memory.route(QUESTION, k=2)
    assert (nodes[0].node.get_content(), nodes[0].node.metadata) == (documents[0].text, documents[0].metadata)
    assert len(index.as_retriever().retrieve(QUESTION)) == 1  # the memory's own top_k


def test_query_engine_answers_from_the_adapters(index: ParametricMemoryIndex) -> None:
    expected = index.memory.ask(QUESTION, k=2)
    response = index.as_query_engine(similarity_top_k=2).query(QUESTION)
    assert response.response == expected.answer != ""
    assert [(n.node.node_id, n.score) for n in response.source_nodes] == list(
        zip(expected.document_ids, expected.scores)
    )
    assert len(index.as_query_engine(max_new_tokens=1).query(QUESTION).response) < len(expected.answer)


def test_streaming_query_engine(index: ParametricMemoryIndex) -> None:
    response = index.as_query_engine(streaming=True).query(QUESTION)
    assert isinstance(response, StreamingResponse)
    assert [n.node.node_id for n in response.source_nodes] == ["magic"]
    assert "".join(response.response_gen) == index.memory.ask(QUESTION).answer


async def test_async_query_engine(index: ParametricMemoryIndex) -> None:
    expected = index.memory.ask(QUESTION).answer
    assert (await index.as_query_engine().aquery(QUESTION)).response == expected
    response = await index.as_query_engine(streaming=True).aquery(QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    assert "".join([token async for token in response.async_response_gen()]) == expected


def test_chat_engine_answers_the_latest_message(index: ParametricMemoryIndex) -> None:
    engine = index.as_chat_engine()
    first = engine.chat("Where does Ada live?").response
    history = [("user", "Where does Ada live?"), ("assistant", first)]
    second = index.memory.ask(QUESTION, history=history).answer
    assert engine.chat(QUESTION).response == second
    history += [("user", QUESTION), ("assistant", second)]
    assert "".join(engine.stream_chat(QUESTION).response_gen) == index.memory.ask(QUESTION, history=history).answer
    assert len(engine.chat_history) == 6
    with pytest.raises(ValueError, match="chat_mode"):
        index.as_chat_engine(chat_mode="condense_plus_context")


def test_insert_update_delete_write_through(index: ParametricMemoryIndex) -> None:
    long_text = "The lighthouse keeper counts the waves every night. " * 120  # > 1024 tokens: 2 node-parser chunks
    index.insert(Document(text=long_text, id_="log"))
    assert index.memory.ids()[-1] == "log" and index.memory.get("log").text == long_text
    index.update_ref_doc(Document(text="The special magic number is 1234.", id_="magic"))
    assert index.memory.get("magic").text.endswith("1234.")
    index.delete_ref_doc("ada")
    assert "ada" not in index.memory.ids()


async def test_async_insert(index: ParametricMemoryIndex) -> None:
    await index.ainsert(Document(text="Miso is a grey cat.", id_="miso", metadata={"source": "cat.md"}))
    assert index.memory.get("miso").metadata == {"source": "cat.md"}


def test_persist_and_reopen(tmp_path: Path, backbone: Backbone, documents: list[Document]) -> None:
    index = ParametricMemoryIndex.from_documents(documents, backbone=backbone, max_new_tokens=8)  # temporary store
    expected = index.as_query_engine().query(QUESTION).response
    index.persist(tmp_path / "copy")
    reopened = ParametricMemoryIndex.from_persist_dir(tmp_path / "copy", backbone=backbone, max_new_tokens=8)
    assert reopened.memory.ids() == index.memory.ids()
    assert reopened.as_query_engine().query(QUESTION).response == expected
    reopened.persist(tmp_path / "copy")  # its own directory: already persisted
    with pytest.raises(FileNotFoundError):
        ParametricMemoryIndex.from_persist_dir(tmp_path / "missing")
