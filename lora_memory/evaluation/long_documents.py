"""Long real-prose documents through `ParametricMemory`: planted facts and the needle by length and depth.

Each document is held-out Wikipedia prose of one length (`data.realtext.prose_facts_sample`) with a
fact about a fictional entity planted at each depth and the upstream needle at one depth (it
rotates over a length's documents, so its heatmap fills in as documents are added). Methods, on the
same documents and questions:

* ``memory``: the document added by `ParametricMemory.add` (segments, one adapter each, nothing
  dropped) and every question asked through ``ask_batch``: the path users take;
* ``rag``: the segment that same memory routed the question to (embedding router and reranker),
  put in the prompt instead of its adapter: retrieval over the same segments;
* ``in_context``: the document in the prompt, its head kept where it overflows the window;
* ``no_context``: the question alone (planted answers cannot be guessed).

Figures in BENCHMARKS.md ("Long documents through the memory").
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from tqdm.auto import tqdm

from lora_memory.backbone import Backbone
from lora_memory.data.realtext import PlacedQA, prose_facts_sample
from lora_memory.data.synthetic import DocSample
from lora_memory.evaluation.qa import answer_from_memory, answer_samples, fit_in_window
from lora_memory.hypernets.doc2lora import DocToLoRA
from lora_memory.router import Encoder
from lora_memory.segments import SEGMENT_TOKENS, STORAGE_BUDGET

LONG_METHODS = ("memory", "rag", "in_context", "no_context")
KINDS = ("fact_prose", "needle_prose")


def long_document_samples(
    backbone: Backbone, lengths: Sequence[int], depths: int, documents: int, seed: int
) -> list[tuple[int, DocSample]]:
    """``documents`` held-out prose documents per length, each with a fact at every one of ``depths``
    evenly spaced depths and the needle at the depth after the previous document's."""
    rng = random.Random(seed)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    levels = [i / max(1, depths - 1) for i in range(depths)]
    return [(n, prose_facts_sample(rng, "heldout", n, count, levels, needle_depth=levels[i % len(levels)]))
            for n in lengths for i in range(documents)]


def long_document_records(
    backbone: Backbone,
    hypernet: DocToLoRA,
    samples: Sequence[tuple[int, DocSample]],
    methods: Sequence[str] = LONG_METHODS,
    *,
    segment_tokens: int = SEGMENT_TOKENS,
    max_new_tokens: int = 32,
    encoder: Encoder | None = None,
    storage_budget: float | None = STORAGE_BUDGET,
) -> list[dict]:
    """One record per method and question: method, kind, length, depth, gold, prediction, exact,
    f1; the memory's and RAG's also whether the routed segment holds the answer, and the memory's
    seconds to add the document and its stored bytes (within ``storage_budget``, the memory's)."""
    unknown = set(methods) - set(LONG_METHODS)
    if unknown:
        raise ValueError(f"unknown long-document methods {sorted(unknown)}; choose from {LONG_METHODS}")
    ask = functools.partial(answer_samples, max_new_tokens=max_new_tokens)
    records = []
    for n, sample in tqdm(samples, desc="long documents", unit="doc"):
        qas: list[PlacedQA] = list(sample.qas)  # type: ignore[arg-type]
        by_method: dict[str, list[dict]] = {}
        if {"memory", "rag"} & set(methods):
            routed = answer_from_memory(backbone, hypernet, [sample], segment_tokens=segment_tokens,
                                        max_new_tokens=max_new_tokens, encoder=encoder,
                                        storage_budget=storage_budget)
            if "memory" in methods:
                by_method["memory"] = routed
            if "rag" in methods:  # the routed segment's text in the prompt instead of its adapter
                passages = [DocSample(r["routed_text"], (qa,), sample.kind) for r, qa in zip(routed, qas, strict=True)]
                rag = ask(backbone, passages, "in_context")
                by_method["rag"] = [{**r, "routed_holds_answer": m["routed_holds_answer"]}
                                    for r, m in zip(rag, routed, strict=True)]
        if "in_context" in methods:
            by_method["in_context"] = ask(backbone, [fit_in_window(backbone, sample)], "in_context")
        if "no_context" in methods:
            by_method["no_context"] = ask(backbone, [sample], "no_context")
        for method in (m for m in methods if m in by_method):
            for record, qa in zip(by_method[method], qas, strict=True):
                kept = {k: record[k] for k in ("gold", "prediction", "exact", "f1", "routed_holds_answer",
                                                "internalize_s", "stored_bytes", "segments") if k in record}
                records.append({"method": method, "kind": qa.kind, "length": n, "depth": qa.depth, **kept})
    return records


def accuracy_grids(
    records: Sequence[dict], lengths: Sequence[int], depths: Sequence[float], kind: str
) -> dict[str, list[list[float]]]:
    """Exact-match accuracy of ``kind``'s questions per method as a depth x length grid (NaN where
    no question was asked), the layout `plots.heatmaps` draws."""
    grids = {}
    for method in dict.fromkeys(r["method"] for r in records):
        grid = []
        for depth in depths:
            row = []
            for n in lengths:
                cell = [r["exact"] for r in records if (r["method"], r["kind"], r["length"]) == (method, kind, n)
                        and abs(r["depth"] - depth) < 1e-9]
                row.append(sum(cell) / len(cell) if cell else float("nan"))
            grid.append(row)
        grids[method] = grid
    return grids


def summarize_long(records: Sequence[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy per method, kind and length (``{method: {kind: {length: exact}}}``), and for the
    routed methods how often the routed segment held the answer (as kind ``routed_holds_answer``)."""
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    for r in records:
        per_kind = values.setdefault(r["method"], {})
        per_kind.setdefault(r["kind"], {}).setdefault(str(r["length"]), []).append(float(r["exact"]))
        if "routed_holds_answer" in r:
            per_kind.setdefault("routed_holds_answer", {}).setdefault(str(r["length"]), []).append(
                float(r["routed_holds_answer"]))
    return {m: {k: {n: sum(v) / len(v) for n, v in by_n.items()} for k, by_n in kinds.items()}
            for m, kinds in values.items()}
