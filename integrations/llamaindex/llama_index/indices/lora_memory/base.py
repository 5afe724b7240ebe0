"""A LlamaIndex index that internalizes documents into LoRA adapters instead of embedding chunks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.chat_engine.types import ChatMode
from llama_index.core.data_structs.data_structs import IndexDict
from llama_index.core.indices.managed.base import BaseManagedIndex
from llama_index.core.schema import BaseNode, Document
from typing_extensions import override

from llama_index.indices.lora_memory.query_engine import ParametricMemoryQueryEngine
from llama_index.indices.lora_memory.retriever import ParametricMemoryRetriever
from llama_index.llms.lora_memory import LoraMemoryLLM
from lora_memory.memory import ParametricMemory


class ParametricMemoryIndex(BaseManagedIndex):
    """Documents held as Doc-to-LoRA adapters in a ``ParametricMemory``, behind LlamaIndex's index API.

    Where a ``VectorStoreIndex`` splits documents into chunks, embeds them and pastes the nearest
    ones into a prompt, this index internalizes each whole document into an adapter once; queries
    are routed to the right documents and answered with their adapters applied. It is a managed
    index in LlamaIndex's sense: the memory owns storage and ingestion, so no node parser,
    embedding model or LLM from ``Settings`` is used.

    Args:
        memory: the memory holding the documents; every insert, update and delete writes through
            to its store directory.
        **kwargs: passed to ``BaseIndex`` (``show_progress``, ``callback_manager``).

    Examples:
        .. code-block:: python

            from llama_index.indices.lora_memory import ParametricMemoryIndex

            index = ParametricMemoryIndex.from_documents(documents, persist_dir="./storage")
            print(index.as_query_engine().query("How much are the annual dues?"))
            index = ParametricMemoryIndex.from_persist_dir("./storage")  # later, adapters reused
    """

    def __init__(self, memory: ParametricMemory, **kwargs: Any) -> None:
        self._memory = memory
        super().__init__(index_struct=IndexDict(), **kwargs)

    @property
    def memory(self) -> ParametricMemory:
        """The underlying memory, for what LlamaIndex has no word for (``memory_report``, ``adapter``)."""
        return self._memory

    @classmethod
    def from_documents(  # type: ignore[override]
        cls,
        documents: Sequence[Document],
        *,
        persist_dir: str | os.PathLike | None = None,
        show_progress: bool = False,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> ParametricMemoryIndex:
        """Internalize ``documents`` (whole, with their ``id_`` and ``metadata``) into a new or existing memory.

        Args:
            documents: the documents; metadata must be JSON.
            persist_dir: the memory's store directory, written as documents are added (reopen it
                with ``from_persist_dir``); ``None`` for a temporary one (see ``persist``).
            show_progress: show a progress bar while internalizing.
            callback_manager: the index's callbacks (default: ``Settings.callback_manager``).
            **kwargs: passed to ``ParametricMemory`` (``model``, ``checkpoint``, ``top_k``,
                ``max_new_tokens``, ``device``, ``backbone``, ...).
        """
        memory = ParametricMemory(persist_dir, **kwargs)
        index = cls(memory, show_progress=show_progress, callback_manager=callback_manager)
        index._insert(documents)
        return index

    @classmethod
    def from_persist_dir(cls, persist_dir: str | os.PathLike, **kwargs: Any) -> ParametricMemoryIndex:
        """Reopen a persisted index; nothing is internalized again.

        Args:
            persist_dir: a directory written by ``persist`` or ``from_documents(persist_dir=...)``.
            **kwargs: passed to ``ParametricMemory`` (``model`` must match the one the adapters were made for).
        """
        if not Path(persist_dir).is_dir():
            raise FileNotFoundError(f"no persisted ParametricMemoryIndex at {persist_dir}")
        return cls(ParametricMemory(persist_dir, **kwargs))

    def persist(self, persist_dir: str | os.PathLike) -> None:
        """Save the index to ``persist_dir`` for ``from_persist_dir``.

        Writes already go through to the memory's store directory, so persisting there does
        nothing; any other ``persist_dir`` (new or empty) receives a consistent copy of the store
        (``ParametricMemory.save``), safe to take while other threads insert.
        """
        if Path(persist_dir).resolve() != Path(self._memory.path).resolve():
            self._memory.save(persist_dir)

    def _insert(self, nodes: Sequence[BaseNode], **insert_kwargs: Any) -> None:
        self._memory.add_documents(**_memory_documents(nodes), progress=self._show_progress)

    def insert(self, document: Document, **insert_kwargs: Any) -> None:
        """Internalize one whole document: the memory chunks long texts itself, so no node parser runs."""
        self._insert([document])

    async def ainsert(self, document: Document, **insert_kwargs: Any) -> None:
        """``insert`` without blocking the event loop."""
        await self._memory.aadd_documents(**_memory_documents([document]), progress=False)

    @override
    def delete_ref_doc(self, ref_doc_id: str, delete_from_docstore: bool = False, **delete_kwargs: Any) -> None:
        self._memory.delete(ref_doc_id)

    @override
    def update_ref_doc(self, document: Document, **update_kwargs: Any) -> None:
        self._memory.update(document.id_, document.get_content(), document.metadata)

    def as_retriever(self, similarity_top_k: int | None = None, **kwargs: Any) -> ParametricMemoryRetriever:
        """The routed documents as ``NodeWithScore`` (whole documents, the memory's routing scores)."""
        kwargs.setdefault("callback_manager", self._callback_manager)
        return ParametricMemoryRetriever(self._memory, similarity_top_k=similarity_top_k, **kwargs)

    def as_query_engine(  # type: ignore[override]
        self, *, similarity_top_k: int | None = None, max_new_tokens: int | None = None, streaming: bool = False
    ) -> ParametricMemoryQueryEngine:
        """Answers from the adapters; takes no ``llm``, since the memory's backbone is the LLM."""
        return ParametricMemoryQueryEngine(
            memory=self._memory,
            similarity_top_k=similarity_top_k,
            max_new_tokens=max_new_tokens,
            streaming=streaming,
            callback_manager=self._callback_manager,
        )

    def as_chat_engine(self, chat_mode: ChatMode = ChatMode.SIMPLE, **kwargs: Any) -> SimpleChatEngine:  # type: ignore[override]
        """A chat engine that answers each user message from the memory.

        Only ``ChatMode.SIMPLE``: the condense and context modes rewrite questions with another LLM
        or paste retrieved text into prompts, which is what the adapters replace. The engine keeps
        the history; each answer routes the latest user message and sees the recent turns that
        fit the LLM's ``history_tokens`` (see ``LoraMemoryLLM``).

        Args:
            chat_mode: must be ``ChatMode.SIMPLE`` (``"simple"``).
            **kwargs: passed to ``SimpleChatEngine.from_defaults`` (``chat_history``, ``memory``, ...).
        """
        if chat_mode != ChatMode.SIMPLE:
            raise ValueError(
                f"ParametricMemoryIndex chat engines answer from adapters; chat_mode {chat_mode!r} is not one"
            )
        return SimpleChatEngine.from_defaults(llm=LoraMemoryLLM(self._memory), **kwargs)


def _memory_documents(nodes: Sequence[BaseNode]) -> dict[str, list[Any]]:
    """``add_documents`` arguments for nodes: one memory document per node, under the node's id."""
    return {
        "texts": [node.get_content() for node in nodes],
        "ids": [node.node_id for node in nodes],
        "metadatas": [node.metadata for node in nodes],
    }
