"""LangChain retriever over the documents a parametric memory routes a question to."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_lora_memory._fields import MemoryFields


class ParametricMemoryRetriever(MemoryFields, BaseRetriever):
    """The documents whose adapters would answer a question, as LangChain ``Document``s.

    Use it to show sources next to a ``ParametricMemoryChatModel`` answer, or to feed a pipeline
    that still wants text; the ranking is the memory's own router, so what it returns is what
    the chat model applies.

    Instantiate and invoke:
        .. code-block:: python

            from langchain_lora_memory import ParametricMemoryRetriever

            retriever = ParametricMemoryRetriever(memory_path="handbook-memory", k=2)
            retriever.invoke("How much are the annual dues?")  # 2 documents
            retriever.invoke("How much are the annual dues?", k=1)  # per-call override

    Each document's ``metadata`` is the stored metadata plus ``id`` and routing ``score``.
    """

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        memory = self._memory
        documents = []
        for document_id, score in memory.route(query, k=self.k if k is None else k):
            stored = memory.get(document_id)
            metadata = {**stored.metadata, "id": document_id, "score": score}
            documents.append(Document(page_content=stored.text, metadata=metadata, id=document_id))
        return documents
