"""Doc-to-LoRA on real software documents it never trained on (`data.real_documents`).

Methods, each scored by answer-contained accuracy and token F1 (best over a question's accepted
answers), overall and per document kind:

* ``no_context``: the question alone (the answers cannot be guessed: near zero proves it);
* ``in_context``: the document in the prompt (its head, where it overflows the window);
* ``rag``: the document's best passage of `RAG_PASSAGE_TOKENS` by the memory's router (MiniLM
  embeddings), in the prompt: retrieval within the right document;
* ``doc2lora``: the whole document internalized, the question alone in the prompt;
* ``passage_doc2lora``: the passage ``rag`` puts in the prompt, internalized instead: the
  parametric counterpart of RAG, and what the network does on the short text it reads best;
* ``memory``: every document added to one default `ParametricMemory`, each question asked of it
  (routed across all documents): the path a user of the library takes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from tqdm.auto import tqdm

from lora_memory.backbone import Backbone
from lora_memory.data.real_documents import real_documents
from lora_memory.evaluation.qa import answer_samples, fit_in_window, score, summarize
from lora_memory.hypernets.doc2lora import DocToLoRA
from lora_memory.memory import ParametricMemory
from lora_memory.passages import split_passages
from lora_memory.segments import STORAGE_BUDGET
from lora_memory.router import Encoder, Router
from lora_memory.data.synthetic import DocSample

REAL_METHODS = ("no_context", "in_context", "rag", "doc2lora", "passage_doc2lora", "memory")
RAG_PASSAGE_TOKENS = 128  # a typical retrieval chunk for a 2K-token window


def rag_samples(backbone: Backbone, samples: Sequence[DocSample], router: Router) -> list[DocSample]:
    """One sample per question whose document is its own document's best passage for it."""
    out = []
    for sample in samples:
        passages = split_passages(backbone, sample.document, RAG_PASSAGE_TOKENS)
        embedded = router.embed(passages)
        for qa in sample.qas:
            best, _ = router.top_k(router.embed([qa.question])[0], embedded, 1)[0]
            out.append(DocSample(passages[best], (qa,), sample.kind))
    return out


def memory_records(
    backbone: Backbone, hypernet: DocToLoRA, samples: Sequence[DocSample], max_new_tokens: int,
    encoder: Encoder | None = None, storage_budget: float | None = STORAGE_BUDGET,
) -> list[dict]:
    """Every document in one default `ParametricMemory` (``storage_budget`` its only change);
    every question asked of it."""
    with ParametricMemory(backbone=backbone, doc2lora=hypernet, encoder=encoder,
                          storage_budget=storage_budget) as memory:
        ids = memory.add_documents([s.document for s in samples], ids=[f"doc-{i}" for i in range(len(samples))])
        questions = [(n, qa) for n, s in enumerate(samples) for qa in s.qas]
        answers = memory.ask_batch([qa.question for _, qa in questions], max_new_tokens=max_new_tokens)
        return [{"kind": samples[n].kind, "gold": qa.answer, "prediction": a.answer,
                 "routed_right": bool(a.document_ids) and a.document_ids[0] == ids[n], **score(a.answer, qa)}
                for (n, qa), a in zip(questions, answers, strict=True)]


def evaluate_real_documents(
    backbone: Backbone,
    hypernet: DocToLoRA,
    methods: Sequence[str] = REAL_METHODS,
    max_new_tokens: int = 32,
    *,
    samples: Sequence[DocSample] | None = None,
    encoder: Encoder | None = None,
    storage_budget: float | None = STORAGE_BUDGET,
) -> dict[str, dict]:
    """Each method's summary (``all_exact``, ``all_f1`` and per kind) and its records.

    ``samples`` defaults to every real document; ``encoder`` to the memory's MiniLM router;
    ``storage_budget`` is the memory's (`ParametricMemory`)."""
    unknown = set(methods) - set(REAL_METHODS)
    if unknown:
        raise ValueError(f"unknown real-document methods {sorted(unknown)}; choose from {REAL_METHODS}")
    samples = list(samples) if samples is not None else real_documents()
    ask = functools.partial(answer_samples, max_new_tokens=max_new_tokens)
    results: dict[str, dict] = {}
    passages: list[DocSample] | None = None  # rag's retrieval, shared with passage_doc2lora
    for method in tqdm(methods, desc="real documents", unit="method"):
        if method == "memory":
            records = memory_records(backbone, hypernet, samples, max_new_tokens, encoder, storage_budget)
        elif method in ("rag", "passage_doc2lora"):
            if passages is None:
                router = Router(encoder) if encoder is not None else Router.default(backbone)
                passages = rag_samples(backbone, samples, router)
            records = (ask(backbone, passages, "in_context") if method == "rag"
                       else ask(backbone, passages, "doc2lora", hypernet))
        elif method == "in_context":
            records = ask(backbone, [fit_in_window(backbone, s) for s in samples], "in_context")
        else:
            records = ask(backbone, samples, method, hypernet)
        results[method] = {**summarize(records), "records": records}
    return results
