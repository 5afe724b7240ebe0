"""Does an answer's confidence tell right from wrong, and what does falling back to text buy?

Every question is asked of a `ParametricMemory` twice over the same routes: from the adapters
(``text_fallback=None``) and from the routed text (``text_fallback=inf``, retrieval-augmented).
The first gives each answer's confidence; a hybrid at threshold t takes the text answer where
the confidence is below t, which is what ``ParametricMemory(text_fallback=t)`` returns
(tests/test_memory_confidence.py checks the two agree), so every threshold is scored from the two runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import DocSample
from lora_memory.evaluation.qa import score
from lora_memory.hypernets.doc2lora import DocToLoRA
from lora_memory.memory import ParametricMemory
from lora_memory.router import Encoder

WHOLE = 2**31  # a ``segment_tokens`` no document reaches: one segment per document
THRESHOLDS = (-math.inf, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf)
FALLBACK_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Probability that a random right answer outscores a random wrong one (ties count half);
    None when either class is empty."""
    right = [s for s, y in zip(scores, labels, strict=True) if y]
    wrong = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def memory_records(
    backbone: Backbone,
    hypernet: DocToLoRA,
    samples: Sequence[DocSample],
    *,
    passage_tokens: int | None,
    per_document: bool,
    max_new_tokens: int = 32,
    fallback_tokens: int = 512,
    encoder: Encoder | None = None,
    storage_budget: float | None = None,
) -> list[dict]:
    """One record per question: the adapters' answer, its confidence, the text answer, both scored.

    Args:
        passage_tokens: the memory's ``segment_tokens`` (each document cut into segments of at
            most this many tokens, one adapter each); None stores each document as one segment.
        per_document: a fresh memory per document (its questions routed among its own pieces),
            else one memory holding every document (questions routed across all of them).
        storage_budget: the memory's; None (here the default) keeps every row, as the hybrid
            figures were measured: the budget would cut short passages to a few rows.
    """
    groups = [[n] for n in range(len(samples))] if per_document else [list(range(len(samples)))]
    records = []
    for group in groups:
        with ParametricMemory(backbone=backbone, doc2lora=hypernet, encoder=encoder, fallback_tokens=fallback_tokens,
                              segment_tokens=passage_tokens or WHOLE, storage_budget=storage_budget) as memory:
            memory.add_documents([samples[n].document for n in group], ids=[f"d{n}" for n in group], progress=False)
            asked = [(n, qa) for n in group for qa in samples[n].qas]
            questions = [qa.question for _, qa in asked]
            from_adapters = memory.ask_batch(questions, max_new_tokens=max_new_tokens)
            memory.text_fallback = math.inf
            from_text = memory.ask_batch(questions, max_new_tokens=max_new_tokens)
            for (n, qa), a, t in zip(asked, from_adapters, from_text, strict=True):
                records.append({
                    "kind": samples[n].kind, "question": qa.question, "gold": qa.answer,
                    "confidence": a.confidence, "routed_right": a.document_ids[:1] == [f"d{n}"],
                    "adapters": a.answer, "adapters_exact": bool(score(a.answer, qa)["exact"]),
                    "adapters_tokens": a.prompt_tokens,
                    "text": t.answer, "text_exact": bool(score(t.answer, qa)["exact"]), "text_tokens": t.prompt_tokens,
                })
    return records


def quantile_thresholds(confidences: Sequence[float], fractions: Sequence[float] = FALLBACK_FRACTIONS) -> list[float]:
    """Thresholds below which about each of ``fractions`` of the answers fall: the trade-off curve
    at even steps of fallback, whatever the network's scale of confidence. Read off the set
    measured, so a threshold for use comes from another set."""
    ranked = sorted(confidences)
    return [ranked[min(len(ranked) - 1, round(f * len(ranked)))] for f in fractions] if ranked else []


def summarize_confidence(records: Sequence[dict], thresholds: Sequence[float] | None = None) -> dict:
    """AUC of confidence for the adapters' answers, and per threshold (default: `THRESHOLDS` and
    the `quantile_thresholds`): how many fall back, the accuracy of the answers kept (above it),
    and the hybrid's accuracy and mean prompt tokens."""
    labels = [r["adapters_exact"] for r in records]
    if thresholds is None:
        thresholds = sorted({*THRESHOLDS, *quantile_thresholds([r["confidence"] for r in records])})
    points = []
    for t in thresholds:
        kept = [r for r in records if r["confidence"] >= t]
        falls = [r["confidence"] < t for r in records]
        points.append({
            "threshold": t,
            "fallback": sum(falls) / len(records),
            "kept_accuracy": sum(r["adapters_exact"] for r in kept) / len(kept) if kept else None,
            "hybrid_accuracy": sum(r["text_exact"] if f else r["adapters_exact"]
                                   for r, f in zip(records, falls, strict=True)) / len(records),
            "prompt_tokens": sum(r["text_tokens"] if f else r["adapters_tokens"]
                                 for r, f in zip(records, falls, strict=True)) / len(records),
        })
    return {
        "questions": len(records),
        "adapters_accuracy": sum(labels) / len(records),
        "text_accuracy": sum(r["text_exact"] for r in records) / len(records),
        "auc": roc_auc([r["confidence"] for r in records], labels),
        "points": points,
    }
