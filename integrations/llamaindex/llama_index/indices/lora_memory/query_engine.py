"""LlamaIndex query engine that answers with the routed documents' adapters, not their text."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore
from typing_extensions import override

from llama_index.indices.lora_memory.retriever import routed_nodes
from lora_memory.memory import MemoryAnswer, ParametricMemory


class ParametricMemoryQueryEngine(CustomQueryEngine):
    """Replaces retrieve-then-synthesize: the memory routes the query and generates with the adapters.

    No retrieved text reaches a prompt, so there is no response synthesizer and no separate LLM;
    ``source_nodes`` still name the documents the answer came from.
    """

    memory: ParametricMemory
    similarity_top_k: int | None = None
    """Documents whose adapters answer; ``None`` keeps the memory's own ``top_k``."""
    max_new_tokens: int | None = None
    """Answer length; ``None`` keeps the memory's own ``max_new_tokens``."""
    streaming: bool = False
    """Return a streaming response whose generator yields the answer as it is decoded."""

    @override
    def custom_query(self, query_str: str) -> Response | StreamingResponse:
        if self.streaming:
            # The core types its generators as iterators; LlamaIndex's response only iterates them.
            tokens = self.memory.stream(query_str, **self._ask)
            return StreamingResponse(tokens, source_nodes=self._sources(query_str))  # type: ignore[arg-type]
        return self._response(self.memory.ask(query_str, **self._ask))

    @override
    async def acustom_query(self, query_str: str) -> Response | AsyncStreamingResponse:
        if self.streaming:
            tokens = self.memory.astream(query_str, **self._ask)
            return AsyncStreamingResponse(tokens, source_nodes=self._sources(query_str))  # type: ignore[arg-type]
        return self._response(await self.memory.aask(query_str, **self._ask))

    @property
    def _ask(self) -> dict[str, Any]:
        return {"k": self.similarity_top_k, "max_new_tokens": self.max_new_tokens}

    def _sources(self, query_str: str) -> list[NodeWithScore]:
        # A stream reports no route, so route here too: one sentence embedding, and the same
        # query gets the same documents the stream is generating with.
        return routed_nodes(self.memory, self.memory.route(query_str, k=self.similarity_top_k))

    def _response(self, reply: MemoryAnswer) -> Response:
        return Response(reply.answer, source_nodes=routed_nodes(self.memory, zip(reply.document_ids, reply.scores)))
