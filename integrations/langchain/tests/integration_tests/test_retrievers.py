from typing import Any

from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_lora_memory import ParametricMemoryRetriever
from tests.tiny import DOCUMENTS, QUESTION, tiny_memory


class TestParametricMemoryRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[ParametricMemoryRetriever]:
        return ParametricMemoryRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": tiny_memory()}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_documents_are_the_routed_ones_with_id_and_score() -> None:
    documents = ParametricMemoryRetriever(memory=tiny_memory(), k=2).invoke(QUESTION)
    route = tiny_memory().route(QUESTION, k=2)
    assert [(d.id, d.metadata["id"], d.metadata["score"]) for d in documents] == [(i, i, s) for i, s in route]
    assert documents[0] == Document(
        page_content=DOCUMENTS["magic"], metadata={"source": "magic", "id": "magic", "score": route[0][1]}, id="magic"
    )
