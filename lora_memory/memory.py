"""`ParametricMemory`: documents in, adapters stored, questions answered with the right adapters.

``add`` cuts a document into segments of whole sentences (`lora_memory.segments`), internalizes
every segment into its own LoRA adapter (Doc-to-LoRA, segments batched) and stores them under the
document's id; ``ask`` routes the question to the best segments across all documents (embedding
similarity, the few best reordered by the backbone's question likelihood: `lora_memory.router`),
concatenates their adapters along rank (their updates add up) and generates with the result.
Nothing of a long document is dropped or summed away, and the text never enters the answer's
prompt (the reranker reads only a few short segments, to choose), so a question costs the same
whatever the documents' length. A storage budget (``storage_budget``, by default 1/4) caps each
segment's adapter at a fraction of its text's KV cache (BENCHMARKS.md, "Documents as segments"). Everything persists in one directory (`lora_memory.store`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from lora_memory import router as routing
from lora_memory.adapter import LoraAdapter, concat_adapters
from lora_memory.adapter_io import check_precision
from lora_memory.backbone import Backbone
from lora_memory.chat import Turn, as_turns, with_context
from lora_memory.confidence import answer_likelihoods
from lora_memory.chunking import document_token_ids
from lora_memory.errors import DocumentError, DocumentNotFoundError, InvalidIdError, QuestionError, require_text
from lora_memory.generation import (
    aiterate,
    check_prompt_fits,
    decode_replies,
    generate,
    generate_ids,
    in_context_question,
    stream_generate,
)
from lora_memory.hypernets.doc2lora import DocToLoRA, internalize_segments
from lora_memory.loading import LazyModels
from lora_memory.router import Encoder, QuestionLikelihood, Router
from lora_memory.segments import SEGMENT_TOKENS, STORAGE_BUDGET, row_budget, row_bytes, split_segments
from lora_memory.store import (
    DEFAULT_BUSY_TIMEOUT,
    Segment,
    SegmentKey,
    Store,
    StoredDocument,
    StoredSegment,
    check_metadata,
    validate_id,
)
from lora_memory.task import TaskAdapter


ANY_LENGTH = 2**62  # `Store.short_texts` bound that reads every text


@dataclass(frozen=True)
class MemoryAnswer:
    """An answer and the documents and segments whose adapters produced it.

    Attributes:
        answer: the generated text.
        document_ids: the routed segments' documents, best first, each once (empty when the
            memory is empty).
        scores: each document's best segment score, higher is better: cosine similarity, or where
            the memory reranks, the question's mean log-likelihood + 5 x cosine (1.0 for a memory
            of one segment).
        segments: the routed segments, best first, as ``(document id, position)``.
        segment_scores: their routing scores.
        confidence: how much the routed adapters support the answer (`lora_memory.confidence`:
            its mean token log-probability with them minus without them, nats; 0 when no
            adapter was used). How well it tells right answers from wrong ones on held-out
            documents: BENCHMARKS.md, "Conversations and confidence".
        source: ``"adapters"`` (the question alone in the prompt, the routed adapters applied)
            or ``"text"`` (its confidence fell below ``text_fallback``: answered again with the
            routed segments' text in the prompt and no adapter).
        prompt_tokens: tokens of the prompt the answer was generated from.
    """

    answer: str
    document_ids: list[str]
    scores: list[float]
    segments: list[SegmentKey] = field(default_factory=list)
    segment_scores: list[float] = field(default_factory=list)
    confidence: float = 0.0
    source: str = "adapters"
    prompt_tokens: int = 0

    @classmethod
    def from_route(
        cls, answer: str, route: Sequence[tuple[SegmentKey, float]], confidence: float = 0.0,
        source: str = "adapters", prompt_tokens: int = 0,
    ) -> MemoryAnswer:
        """The answer to a question routed to ``route``'s segments (best first, with their scores)."""
        documents = _by_document(route)
        return cls(answer, [d for d, _ in documents], [s for _, s in documents], [k for k, _ in route],
                   [s for _, s in route], confidence, source, prompt_tokens)


def _by_document(route: Sequence[tuple[SegmentKey, float]]) -> list[tuple[str, float]]:
    """The documents of a segment route, best first, each once with its best segment's score."""
    best: dict[str, float] = {}
    for (doc_id, _), score in route:
        best.setdefault(doc_id, score)
    return list(best.items())


def _check_task(task: object) -> None:
    if task is not None and not isinstance(task, TaskAdapter):
        raise QuestionError(f"task must be a TaskAdapter, got {type(task).__name__}")


class ParametricMemory:
    """A persistent set of documents, each held as a LoRA adapter, that answers questions.

    Args:
        path: store directory (created when missing, reopened when it exists); None for a
            temporary store deleted by `close`.
        backbone: a loaded backbone; else ``model`` and ``device`` name one, loaded on first use
            and shared by every object in the process that names the same one.
        model: hub id or local directory; None for the embedded SmolLM2-135M-Instruct.
        doc2lora: a loaded Doc-to-LoRA network; else ``checkpoint``, or the shipped default.
        checkpoint: path of a Doc-to-LoRA checkpoint.
        encoder: router encoder, ``texts -> (n, dim)``; default all-MiniLM-L6-v2, loaded only
            once the memory holds two segments or more.
        top_k: segments whose adapters each question runs with.
        rerank: reorder the embedding router's best few segments by how likely the backbone
            finds the question about each, when all of them are up to 256 tokens (one longer
            candidate keeps the embedding order); it costs one short backbone pass per candidate
            and found the right passage far more often.
        max_document_tokens: longest document accepted (None: no limit); longer ones raise
            `DocumentError`, since internalizing costs one backbone pass per segment.
        max_new_tokens: default answer length.
        device: device to load the backbone on (default: CUDA when available).
        precision: how new adapters are stored: ``int8`` (the default: one fp16 scale per rank
            vector, a quarter of fp32's bytes),
            ``fp16`` or ``fp32``. Quality per precision: BENCHMARKS.md, "Documents as segments".
        segment_tokens: longest segment a document is cut into (whole sentences).
        storage_budget: a segment's stored adapter bytes at most this fraction of the fp16 KV
            cache of its text (rows are kept in the network's order of importance; documents
            shorter than `BUDGET_FLOOR_TOKENS` are priced as that long, `row_budget`); the
            default, `STORAGE_BUDGET` (1/4), cost no measured quality at 128-token segments;
            None keeps every row the network emits (what short segments need, at several times
            the KV cache: BENCHMARKS.md, "Documents as segments").
        read_only: open the store for reading only: ``add``, ``update`` and ``delete`` raise
            `ReadOnlyStoreError`. A store whose files cannot be written opens this way by itself.
        busy_timeout: seconds a write waits while another process holds the store's write lock,
            before raising `StoreBusyError`.
        allow_foreign_files: create a new store in a directory that already holds other files,
            which the store never reads, moves or deletes; without it such a directory raises
            `StoreError` (a store is created only in a new or empty directory).
        text_fallback: confidence below which an answer is generated again from the routed
            documents' TEXT in the prompt (retrieval-augmented, no adapter), and says so in
            `MemoryAnswer.source`; None (default) always answers from the adapters. Costs a
            second, longer generation for the questions that fall back; the measured trade-off
            is in BENCHMARKS.md ("Confidence and hybrid answers").
        fallback_tokens: most tokens of routed text a fallback prompt carries (the head is kept).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        backbone: Backbone | None = None,
        model: str | None = None,
        doc2lora: DocToLoRA | None = None,
        checkpoint: str | None = None,
        encoder: Encoder | None = None,
        top_k: int = 1,
        rerank: bool = True,
        max_document_tokens: int | None = 131072,
        max_new_tokens: int = 64,
        device: str | None = None,
        precision: str = "int8",
        segment_tokens: int = SEGMENT_TOKENS,
        storage_budget: float | None = STORAGE_BUDGET,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        allow_foreign_files: bool = False,
        text_fallback: float | None = None,
        fallback_tokens: int = 512,
    ):
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if segment_tokens < 1:
            raise ValueError(f"segment_tokens must be at least 1, got {segment_tokens}")
        if storage_budget is not None and not storage_budget > 0:
            raise ValueError(f"storage_budget must be a fraction > 0 of the KV cache, or None, got {storage_budget!r}")
        self.precision = check_precision(precision)
        self._models = LazyModels(
            "doc2lora", backbone=backbone, hypernet=doc2lora, model=model, checkpoint=checkpoint, device=device
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="lora-memory-") if path is None else None
        self._store = Store(
            self._tmp.name if self._tmp else path,
            read_only=read_only,
            busy_timeout=busy_timeout,
            allow_foreign_files=allow_foreign_files,
        )
        self._encoder = encoder
        self._router: Router | None = None
        self._likelihood: QuestionLikelihood | None = None
        self._checked_base_model = False
        self.top_k = top_k
        self.rerank = rerank
        self.max_document_tokens = max_document_tokens
        self.max_new_tokens = max_new_tokens
        self.text_fallback = text_fallback
        self.fallback_tokens = fallback_tokens
        self.segment_tokens = segment_tokens
        self.storage_budget = storage_budget
        # The routing index, (encoder, dim, store generation) -> keys, embeddings, document of each row.
        self._index: tuple[tuple[str, int, tuple[int, int]], list[SegmentKey], Tensor, Tensor] | None = None

    @property
    def path(self) -> str:
        """The store directory."""
        return str(self._store.directory)

    @property
    def read_only(self) -> bool:
        """Whether the store is open for reading only (asked for, or its files are not writable)."""
        return self._store.read_only

    @property
    def backbone(self) -> Backbone:
        """The backbone (loaded on first use), checked once against the store's base model."""
        backbone = self._models.backbone
        if not self._checked_base_model:
            self._store.check_base_model(backbone.identity)
            self._checked_base_model = True
        return backbone

    # ---- writing ---------------------------------------------------------------------------
    def add(self, text: str, *, id: str | None = None, metadata: Mapping[str, Any] | None = None) -> str:
        """Internalize ``text`` and store it (replacing any document with the same id).

        Returns:
            The document's id (a new uuid4 hex when none is given).

        Raises:
            DocumentError: the text is empty, not a str, not valid Unicode, or over
                ``max_document_tokens``; nothing is stored.
            InvalidIdError: the id is empty, too long, path-like or not valid Unicode. Ids are
                normalised to NFC (`validate_id`), so two spellings that print the same are one id.
            ReadOnlyStoreError: the store is open for reading only.
            StoreBusyError: another process held the store's write lock for over ``busy_timeout``.
        """
        ids = None if id is None else [id]
        return self.add_documents([text], ids=ids, metadatas=[{} if metadata is None else metadata], progress=False)[0]

    def add_documents(
        self,
        texts: Iterable[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        progress: bool = True,
    ) -> list[str]:
        """Internalize and store several documents, with a progress bar.

        Every text, id and metadata is checked before the first document is internalized, so bad
        input leaves the store unchanged and costs no backbone pass. Documents are internalized one
        at a time (each document's segments in batches) to bound memory; each is stored as soon as
        its adapters exist.
        """
        self._store.check_writable()
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
            raise DocumentError(
                f"add_documents takes a list of texts, got {type(texts).__name__}; use add for one document"
            )
        if isinstance(ids, (str, bytes)) or not (ids is None or isinstance(ids, Iterable)):
            raise InvalidIdError(f"ids must be a list of str, one per text, got {type(ids).__name__}")
        texts = list(texts)
        ids = [uuid.uuid4().hex for _ in texts] if ids is None else [validate_id(i) for i in ids]
        metas = [{} for _ in texts] if metadatas is None else [check_metadata(m) for m in metadatas]
        if not len(ids) == len(metas) == len(texts):
            raise ValueError(f"{len(texts)} texts but {len(ids)} ids and {len(metas)} metadatas")
        if len(set(ids)) != len(ids):
            raise InvalidIdError(f"ids repeat within one call: {sorted({i for i in ids if ids.count(i) > 1})}")
        backbone = self.backbone
        for text in texts:
            document_token_ids(backbone, text, self.max_document_tokens)
        for doc_id, text, meta in tqdm(
            list(zip(ids, texts, metas, strict=True)), desc="internalize", unit="doc", disable=not progress
        ):
            self._write(doc_id, text, meta, must_exist=False)
        return ids

    async def aadd_documents(
        self,
        texts: Iterable[str],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        progress: bool = True,
    ) -> list[str]:
        """`add_documents` in a worker thread, leaving the event loop free."""
        return await asyncio.to_thread(self.add_documents, texts, ids=ids, metadatas=metadatas, progress=progress)

    def update(self, id: str, text: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Re-internalize an existing document; ``metadata`` None keeps the old metadata.

        Raises:
            DocumentNotFoundError: no document has this id.
        """
        self._store.check_writable()
        id = validate_id(id)
        if id not in self._store:
            raise DocumentNotFoundError(
                f"no document with id {id!r} in the memory at {self.path}; ids() lists the stored documents"
            )
        self._write(id, text, None if metadata is None else check_metadata(metadata), must_exist=True)

    def _write(self, doc_id: str, text: str, metadata: dict[str, Any] | None, must_exist: bool) -> None:
        # Internalize first: a document that fails leaves the store untouched.
        tokens, segments = self._internalize(text)
        self._store.put_segments(
            doc_id, text, segments, identity=self.backbone.identity, tokens=tokens, metadata=metadata,
            must_exist=must_exist, precision=self.precision,
        )

    def _internalize(self, text: str) -> tuple[int, list[Segment]]:
        """The document's tokens and its segments with their adapters, each cut to the storage budget."""
        backbone, hypernet = self.backbone, self._models.hypernet
        tokens = len(document_token_ids(backbone, text, self.max_document_tokens))
        texts = split_segments(backbone, text, self.segment_tokens) or [text]
        per_row = row_bytes(backbone, len(hypernet.layers), hypernet.target, self.precision)
        budget = self.storage_budget
        adapters = internalize_segments(
            backbone, hypernet, texts,
            max_rows=None if budget is None else (lambda n: row_budget(backbone, n, per_row, budget, tokens)),
        )
        return tokens, [Segment(t, int(a.metadata["tokens"]), a) for t, a in zip(texts, adapters, strict=True)]

    def delete(self, id: str) -> None:
        """Remove a document and all its segments; raises `DocumentNotFoundError` when absent."""
        self._store.check_writable()
        self._store.delete(id)

    # ---- reading ---------------------------------------------------------------------------
    def get(self, id: str) -> StoredDocument:
        """The stored document, whole text included; raises `DocumentNotFoundError` when absent."""
        return self._store.get(id)

    def segments(self, id: str) -> list[StoredSegment]:
        """The document's segments in order, each its own adapter; raises `DocumentNotFoundError` when absent."""
        return self._store.segments(id)

    def ids(self) -> list[str]:
        """Document ids, in the order they were first added."""
        return self._store.ids()

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, id: object) -> bool:
        return id in self._store

    def adapter(self, *ids: str) -> LoraAdapter:
        """All segment adapters of one document, or of several, concatenated along rank.

        `ask` applies only the routed segments' adapters (`segment_adapter`)."""
        if not ids:
            raise ValueError("name at least one document id")
        adapters = [self._store.adapter(i) for i in ids]
        if len(adapters) == 1:
            return adapters[0]
        return concat_adapters(adapters, metadata={"kind": "doc2lora", "documents": list(ids)})

    def segment_adapter(self, *keys: SegmentKey) -> LoraAdapter:
        """The adapters of segments ``(document id, position)``, concatenated along rank: what `ask` applies."""
        if not keys:
            raise ValueError("name at least one segment")
        adapters = [self._store.adapter(doc_id, position) for doc_id, position in keys]
        if len(adapters) == 1:
            return adapters[0]
        return concat_adapters(adapters, metadata={"kind": "doc2lora", "segments": [list(k) for k in keys]})

    def _routed_adapter(self, route: Sequence[tuple[SegmentKey, float]]) -> LoraAdapter | None:
        return self.segment_adapter(*(key for key, _ in route)) if route else None

    # ---- routing ---------------------------------------------------------------------------
    def _check_questions(
        self,
        questions: Sequence[str],
        max_new_tokens: int,
        system: str | None = None,
        histories: Sequence[Sequence[Turn]] | None = None,
    ) -> list[list[int]]:
        """Validate the questions and return their chat prompts (after ``system`` and each one's
        history); a prompt that leaves no room for ``max_new_tokens`` in the window raises
        `PromptTooLongError` before any routing work."""
        questions = [require_text(q, "question", QuestionError) for q in questions]
        histories = histories if histories is not None else [()] * len(questions)
        if len(histories) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(histories)} histories")
        backbone = self.backbone
        prompts = [
            backbone.chat_prompt(q, system, [(t.role, t.text) for t in as_turns(h)])
            for q, h in zip(questions, histories, strict=True)
        ]
        for prompt in prompts:
            check_prompt_fits(backbone, prompt, max_new_tokens)
        return prompts

    def route(self, question: str, k: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` documents (default ``top_k``) ``question`` is routed to, best first, as ``(id, score)``:
        the documents of the best segments, each once, scored by its best segment.

        Scores are cosine similarities, or where the memory reranks (``rerank``, candidates all
        up to 256 tokens), the question's mean log-likelihood + 5 x cosine: compare them within
        one route, not across routes.
        """
        return [_by_document(route) for route in self._route_many([question], k, per_document=True)][0]

    def route_segments(self, question: str, k: int | None = None) -> list[tuple[SegmentKey, float]]:
        """The ``k`` segments (default ``top_k``) ``question`` is routed to, best first, as
        ``((document id, position), score)``: whose adapters `ask` runs with."""
        return self._route_many([question], k)[0]

    def retrieve(self, question: str, k: int | None = None) -> list[StoredDocument]:
        """The documents ``question`` is routed to, best first (for retrievers)."""
        return [self._store.get(doc_id) for doc_id, _ in self.route(question, k)]

    def _route_many(
        self, questions: Sequence[str], k: int | None, checked: bool = False, per_document: bool = False
    ) -> list[list[tuple[SegmentKey, float]]]:
        """Segment routes of several questions; ``checked``: the caller has already bounded them
        (`_check_questions`); ``per_document``: at most one segment per document, its best."""
        questions = [require_text(q, "question", QuestionError) for q in questions]
        k = self.top_k if k is None else k
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        index = self._index
        if (index is None or index[0][2] != self._store.generation()) and self._store.segment_count() <= 1:
            keys = self._store.segment_keys()  # nothing to choose between: no encoder needed
            return [[(key, 1.0) for key in keys] for _ in questions]
        if self.rerank and not checked:  # the reranker runs the backbone over each question: bound them first
            self._check_questions(questions, 0)
        router = self._get_router()
        asked = router.embed(questions)
        keys, matrix, groups = self._embedding_index(router, asked.shape[-1])
        depth = max(k, routing.RERANK_CANDIDATES) if self.rerank else k
        routes = [router.top_k(q, matrix, depth, groups=groups if per_document else None) for q in asked]
        if self.rerank:
            routes = self._rerank(questions, routes, keys, k)
        return [[(keys[i], score) for i, score in route] for route in routes]

    def _embedding_index(self, router: Router, dim: int) -> tuple[list[SegmentKey], Tensor, Tensor]:
        """Segment keys, their ``(n, dim)`` embeddings and each row's document number, kept in memory
        until the store changes (`Store.generation`), so a question reads no embedding or text from disk.
        Segments not embedded yet are embedded first (their texts are the only ones read)."""
        index = self._index
        if index is not None and index[0] == (router.name, dim, self._store.generation()):
            return index[1], index[2], index[3]
        pending = self._store.pending_embeddings(router.name, dim)
        if pending:
            vectors = router.embed([text for _, _, text in pending])
            self._store.save_embeddings(router.name, [(i, v, e) for (i, v, _), e in zip(pending, vectors, strict=True)])
        stamp = (router.name, dim, self._store.generation())  # after this object's own embeddings were saved
        keys, matrix = self._store.embeddings(router.name, dim)
        numbers: dict[str, int] = {}
        groups = torch.tensor([numbers.setdefault(doc_id, len(numbers)) for doc_id, _ in keys], dtype=torch.long)
        self._index = (stamp, keys, matrix, groups)
        return keys, matrix, groups

    def _rerank(
        self, questions: Sequence[str], routes: list[list[tuple[int, float]]], keys: list[SegmentKey], k: int
    ) -> list[list[tuple[int, float]]]:
        """Each route's candidates reordered by question likelihood, where all of them are short enough.

        Only short texts are read from the store; a candidate deleted by another thread since the
        embeddings were read drops out of its route.
        """
        texts = self._store.short_texts(
            sorted({keys[i] for route in routes for i, _ in route}), routing.RERANK_MAX_TOKENS
        )
        routes = [[(i, score) for i, score in route if keys[i] in texts] for route in routes]
        short = [all(texts[keys[i]] is not None for i, _ in route) for route in routes]
        pairs = [
            (texts[keys[i]], question)
            for question, route, ok in zip(questions, routes, short, strict=True)
            if ok
            for i, _ in route
        ]
        if self._likelihood is None:
            self._likelihood = QuestionLikelihood(self.backbone)
        likelihoods = iter(self._likelihood(pairs))
        return [
            routing.rerank(route, [next(likelihoods) for _ in route], k) if ok else route[:k]
            for route, ok in zip(routes, short, strict=True)
        ]

    def _get_router(self) -> Router:
        if self._router is None:
            self._router = Router(self._encoder) if self._encoder is not None else Router.default(self.backbone)
        return self._router

    # ---- answering -------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        max_new_tokens: int | None = None,
        task: TaskAdapter | None = None,
        system: str | None = None,
        history: Sequence[Turn | tuple[str, str]] = (),
    ) -> MemoryAnswer:
        """Answer with the adapters of the ``k`` best-matching segments (no text is in the prompt).

        Args:
            task: a `TaskAdapter` (e.g. "Answer in one word.") whose adapter is added to the
                segments' by rank concatenation, to ask the reply in the task's form (measured
                with the shipped networks in BENCHMARKS.md, "Composition: a task adapter with a
                document adapter").
            system: a system turn for the prompt (None: the chat template's default).
            history: earlier turns of a chat, oldest first, written into the prompt as they are
                (`lora_memory.chat.recent_turns` cuts a long one to a token window). Routing reads
                the question alone.
        """
        return self.ask_batch(
            [question], k=k, max_new_tokens=max_new_tokens, task=task, system=system, histories=[history]
        )[0]

    def ask_batch(
        self,
        questions: Sequence[str],
        *,
        k: int | None = None,
        max_new_tokens: int | None = None,
        task: TaskAdapter | None = None,
        system: str | None = None,
        histories: Sequence[Sequence[Turn | tuple[str, str]]] | None = None,
    ) -> list[MemoryAnswer]:
        """Answer several questions in ONE batched generation, each with its own adapters (and
        ``task``'s, as in `ask`).

        Every answer's confidence is scored in one more batched pass; with ``text_fallback`` set,
        the answers below it are generated again, batched, from the routed segments' text.
        ``histories``: one chat history per question (see `ask`).
        """
        _check_task(task)
        if isinstance(questions, (str, bytes)) or not isinstance(questions, Sequence):
            raise QuestionError(f"ask_batch takes a list of questions, got {type(questions).__name__}; use ask for one")
        if not questions:
            return []
        max_new_tokens = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        histories = [as_turns(h) for h in histories] if histories is not None else [[] for _ in questions]
        # before routing: it costs backbone passes
        prompts = self._check_questions(questions, max_new_tokens, system, histories)
        routes = self._route_many(questions, k, checked=True)
        adapters = [self._routed_adapter(r) for r in routes]
        baselines = None
        if task is not None:  # confidence then measures the documents' support beyond the task's
            adapters = [task.combined_with(a) for a in adapters]
            baselines = [task.adapter] * len(adapters)
        backbone = self.backbone
        replies = generate_ids(backbone, prompts, adapters, max_new_tokens=max_new_tokens)
        likelihoods = answer_likelihoods(backbone, prompts, replies, adapters, baselines)
        answers = [
            MemoryAnswer.from_route(text, r, lk.support, "adapters", len(p))
            for text, r, lk, p in zip(decode_replies(backbone, replies), routes, likelihoods, prompts, strict=True)
        ]
        if self.text_fallback is not None:
            low = [i for i, a in enumerate(answers) if a.segments and a.confidence < self.text_fallback]
            answers = self._answer_from_text(answers, low, questions, system, histories, max_new_tokens, task)
        return answers

    def _answer_from_text(
        self,
        answers: list[MemoryAnswer],
        low: list[int],
        questions: Sequence[str],
        system: str | None,
        histories: Sequence[Sequence[Turn]],
        max_new_tokens: int,
        task: TaskAdapter | None,
    ) -> list[MemoryAnswer]:
        """``answers`` with those at ``low`` generated again from their routed segments' text (and
        ``task``'s adapter alone)."""
        if not low:
            return answers
        backbone = self.backbone
        # a segment deleted since routing gives no text
        stored = self._store.short_texts(sorted({key for i in low for key in answers[i].segments}), ANY_LENGTH)
        prompts = []
        for i in low:
            history = [(t.role, t.text) for t in histories[i]]
            bare = len(backbone.chat_prompt(in_context_question("", questions[i]), system, history))
            room = min(self.fallback_tokens, backbone.context_window - max_new_tokens - bare)
            context = "\n\n".join(stored.get(key) or "" for key in answers[i].segments)
            prompts.append(backbone.chat_prompt(with_context(backbone, context, questions[i], room), system, history))
        texts = generate(backbone, prompts, [task.adapter] * len(prompts) if task else None,
                         max_new_tokens=max_new_tokens)
        out = list(answers)
        for i, text, prompt in zip(low, texts, prompts, strict=True):
            out[i] = dataclasses.replace(answers[i], answer=text, source="text", prompt_tokens=len(prompt))
        return out

    async def aask(
        self,
        question: str,
        *,
        k: int | None = None,
        max_new_tokens: int | None = None,
        task: TaskAdapter | None = None,
        system: str | None = None,
        history: Sequence[Turn | tuple[str, str]] = (),
    ) -> MemoryAnswer:
        """`ask` in a worker thread, leaving the event loop free."""
        return await asyncio.to_thread(
            self.ask, question, k=k, max_new_tokens=max_new_tokens, task=task, system=system, history=history
        )

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        max_new_tokens: int | None = None,
        task: TaskAdapter | None = None,
        system: str | None = None,
        history: Sequence[Turn | tuple[str, str]] = (),
    ) -> Iterator[str]:
        """`ask`, yielding the answer's text as it is generated (routing happens before the call returns).

        Always from the adapters, with no confidence: deciding to fall back to text needs the
        whole answer first, so use `ask` for that.
        """
        _check_task(task)
        max_new_tokens = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        (prompt,) = self._check_questions([question], max_new_tokens, system, [as_turns(history)])
        (route,) = self._route_many([question], k, checked=True)
        adapter = self._routed_adapter(route)
        if task is not None:
            adapter = task.combined_with(adapter)
        return stream_generate(self.backbone, prompt, adapter, max_new_tokens=max_new_tokens)

    async def astream(
        self,
        question: str,
        *,
        k: int | None = None,
        max_new_tokens: int | None = None,
        task: TaskAdapter | None = None,
        system: str | None = None,
        history: Sequence[Turn | tuple[str, str]] = (),
    ) -> AsyncIterator[str]:
        """`stream` for asyncio: routing and decoding run in worker threads."""
        pieces = await asyncio.to_thread(
            self.stream, question, k=k, max_new_tokens=max_new_tokens, task=task, system=system, history=history
        )
        async for piece in aiterate(pieces):
            yield piece

    # ---- accounting ------------------------------------------------------------------------
    def memory_report(self) -> dict[str, float]:
        """What the memory costs, next to the fp16 KV cache that holding the texts in context needs.

        Returns:
            ``documents``, ``tokens``, ``adapter_bytes`` (tensors as stored, at their precision),
            ``kv_cache_bytes_fp16`` (`Backbone.kv_cache_bytes`),
            and ``ratio`` = KV-cache bytes / adapter bytes (0 for an empty memory).
        """
        documents, tokens, adapter_bytes = self._store.totals()
        kv_bytes = self.backbone.kv_cache_bytes(tokens)
        return {
            "documents": documents,
            "tokens": tokens,
            "adapter_bytes": adapter_bytes,
            "kv_cache_bytes_fp16": kv_bytes,
            "ratio": kv_bytes / adapter_bytes if adapter_bytes else 0.0,
        }

    # ---- saving ----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> str:
        """Write a consistent copy of the memory to ``directory`` (new or empty) and return its path.

        Other threads or processes may be writing meanwhile, so copying the store's files could
        catch a write half done; this copies the database and exactly the adapters it references,
        as they were at one moment (`Store.snapshot`): writes in this object wait, and no process
        deletes a blob the copy still needs. Reopen the copy with ``ParametricMemory(directory)``; it is
        also how a temporary memory (``path=None``) is kept beyond `close`.

        Raises:
            StoreError: ``directory`` is not new or empty (nothing in it is touched).
        """
        return str(self._store.snapshot(directory))

    # ---- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the store; a temporary store (``path=None``) is deleted. Idempotent."""
        self._store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ParametricMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
