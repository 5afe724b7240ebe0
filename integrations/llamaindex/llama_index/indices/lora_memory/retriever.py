"""LlamaIndex retriever over the documents a parametric memory routes a query to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from lora_memory.memory import ParametricMemory


def routed_nodes(memory: ParametricMemory, route: Iterable[tuple[str, float]]) -> list[NodeWithScore]:
    """The stored documents behind ``(id, score)`` routing results, as scored nodes (whole documents)."""
    nodes = []
    for document_id, score in route:
        stored = memory.get(document_id)
        nodes.append(
            NodeWithScore(node=TextNode(id_=document_id, text=stored.text, metadata=stored.metadata), score=score)
        )
    return nodes


class ParametricMemoryRetriever(BaseRetriever):
    """The documents whose adapters would answer a query, best first.

    A node is a whole document (the memory internalizes documents, not chunks) and its score is
    the memory's routing score, so these are exactly the sources the query engine answers from.

    Args:
        memory: the memory to route in.
        similarity_top_k: how many documents; ``None`` keeps the memory's own ``top_k``.
        **kwargs: passed to ``BaseRetriever`` (``callback_manager``, ``verbose``, ...).
    """

    def __init__(self, memory: ParametricMemory, similarity_top_k: int | None = None, **kwargs: Any) -> None:
        self._memory = memory
        self._similarity_top_k = similarity_top_k
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return routed_nodes(self._memory, self._memory.route(query_bundle.query_str, k=self._similarity_top_k))
