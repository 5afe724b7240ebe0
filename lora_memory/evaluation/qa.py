"""Question answering over documents: scoring and the Doc-to-LoRA / in-context / no-context runs.

Every method answers through `generation.generate`, and Doc-to-LoRA adapters come from
`internalize`, the inference path users get, so what is measured is what ships.
"""

from __future__ import annotations

import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Sequence

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import QA, DocSample
from lora_memory.generation import generate, in_context_question, score_answers
from lora_memory.hypernets.doc2lora import DocToLoRA, internalize
from lora_memory.memory import ParametricMemory
from lora_memory.segments import SEGMENT_TOKENS, STORAGE_BUDGET
from lora_memory.router import Encoder

QA_METHODS = ("doc2lora", "in_context", "no_context")
PROMPTED = ("in_context", "no_context")  # methods that answer without an adapter


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, articles and extra spaces (SQuAD's normalisation)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """Gold answer found as a whole phrase in the prediction (small models add words around it)."""
    p, g = f" {normalize_answer(prediction)} ", f" {normalize_answer(gold)} "
    return g.strip() != "" and g in p


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, qa: QA) -> dict[str, float | bool]:
    """Exact (answer contained) and F1 against the gold answer or, where a question accepts other
    forms (``alternatives``), the best of them."""
    golds = (qa.answer, *getattr(qa, "alternatives", ()))
    return {"exact": any(exact_match(prediction, g) for g in golds), "f1": max(token_f1(prediction, g) for g in golds)}


def fit_in_window(backbone: Backbone, sample: DocSample, reserve: int = 96) -> DocSample:
    """Keep the head of a document whose in-context prompt would overflow the window."""
    budget = backbone.context_window - reserve - len(backbone.chat_prompt(in_context_question("", sample.qas[0].question)))
    ids = backbone.tokenize(sample.document)
    if len(ids) <= budget:
        return sample
    return DocSample(backbone.tokenizer.decode(ids[:budget]), sample.qas, sample.kind)


def _questions(
    backbone: Backbone,
    samples: Sequence[DocSample],
    method: str,
    hypernet: DocToLoRA | None,
    adapter_for: Callable[[DocSample], LoraAdapter] | None,
) -> tuple[list[list[int]], list[LoraAdapter | None], list[QA], list[str]]:
    """Every question of every sample as (prompt, adapter, qa, kind), the way ``method`` asks it."""
    make = adapter_for or (lambda sample: internalize(backbone, hypernet, sample.document))
    prompts, adapters, qas, kinds = [], [], [], []
    for sample in samples:
        adapter = None if method in PROMPTED else make(sample)
        for qa in sample.qas:
            user = in_context_question(sample.document, qa.question) if method == "in_context" else qa.question
            prompts.append(backbone.chat_prompt(user))
            adapters.append(adapter)
            qas.append(qa)
            kinds.append(sample.kind)
    return prompts, adapters, qas, kinds


def answer_samples(
    backbone: Backbone,
    samples: Sequence[DocSample],
    method: str,
    hypernet: DocToLoRA | None = None,
    *,
    adapter_for: Callable[[DocSample], LoraAdapter] | None = None,
    max_new_tokens: int = 16,
    batch_size: int = 8,
) -> list[dict]:
    """Answer every question of every sample with one method; one record per question.

    Methods other than in_context / no_context ask the question alone with an adapter: by
    default the sample's Doc-to-LoRA adapter, or what ``adapter_for`` makes (the CD baseline).
    """
    prompts, adapters, qas, kinds = _questions(backbone, samples, method, hypernet, adapter_for)
    records = []
    for start in range(0, len(prompts), batch_size):
        sl = slice(start, start + batch_size)
        replies = generate(backbone, prompts[sl], adapters[sl], max_new_tokens=max_new_tokens)
        for reply, qa, kind in zip(replies, qas[sl], kinds[sl]):
            records.append({"kind": kind, "gold": qa.answer, "prediction": reply, **score(reply, qa)})
    return records


def likelihood_samples(
    backbone: Backbone,
    samples: Sequence[DocSample],
    method: str,
    hypernet: DocToLoRA | None = None,
    *,
    adapter_for: Callable[[DocSample], LoraAdapter] | None = None,
    batch_size: int = 8,
) -> list[dict]:
    """Teacher-forced records, one per question: the gold answer's mean token NLL (``nll``) and
    whether greedy decoding would start with it (``greedy``), asked the way ``method`` asks."""
    prompts, adapters, qas, kinds = _questions(backbone, samples, method, hypernet, adapter_for)
    scores = score_answers(backbone, prompts, [backbone.tokenize(qa.answer) for qa in qas], adapters,
                           batch_size=batch_size)
    return [{"kind": kind, "gold": qa.answer, "nll": s.nll, "greedy": s.greedy}
            for s, qa, kind in zip(scores, qas, kinds, strict=True)]


def answerable_in_context(backbone: Backbone, samples: Sequence[DocSample], max_new_tokens: int = 16) -> list[DocSample]:
    """Each sample with only the questions the backbone answers right (answer contained, as
    `score` counts it) with the document in its prompt; samples left with none are dropped.

    Rule-made questions include ones a 135M model cannot answer even reading the text; a held-out
    set of answerable ones measures what an adapter recovers of what the prompt gives. (The reply
    must be decoded: the backbone wraps answers in sentences, so "greedy starts with the answer"
    keeps almost none.)"""
    fitted = [fit_in_window(backbone, s) for s in samples]
    right = iter(r["exact"] for r in answer_samples(backbone, fitted, "in_context", max_new_tokens=max_new_tokens))
    kept = []
    for sample in samples:
        qas = tuple(qa for qa in sample.qas if next(right))
        if qas:
            kept.append(DocSample(sample.document, qas, sample.kind))
    return kept


def answer_from_memory(
    backbone: Backbone,
    hypernet: DocToLoRA,
    samples: Sequence[DocSample],
    *,
    segment_tokens: int = SEGMENT_TOKENS,
    top_k: int = 1,
    rerank: bool = True,
    max_new_tokens: int = 16,
    encoder: Encoder | None = None,
    precision: str = "int8",
    storage_budget: float | None = STORAGE_BUDGET,
) -> list[dict]:
    """Answer each sample's questions from a `ParametricMemory` holding it: the path users get.

    Each sample goes into a fresh memory by `ParametricMemory.add` (cut into segments of at most
    ``segment_tokens``, one adapter each, stored at ``precision`` within ``storage_budget``), and
    its questions are asked through `ParametricMemory.ask_batch`, routed to the ``top_k`` best
    segments (by ``encoder``, default all-MiniLM-L6-v2, then ``rerank``). Records also give the
    routed segments' text and whether it holds the answer, which document (its index) they ask
    about, the seconds it took to internalize and store it, its tokens and its stored adapter bytes.
    """
    records = []
    for n, sample in enumerate(samples):
        with ParametricMemory(
            backbone=backbone, doc2lora=hypernet, top_k=top_k, rerank=rerank, encoder=encoder,
            segment_tokens=segment_tokens, precision=precision, storage_budget=storage_budget,
        ) as memory:
            start = time.perf_counter()
            doc_id = memory.add(sample.document)
            seconds = time.perf_counter() - start
            stored = memory.get(doc_id)
            texts = {(s.document_id, s.position): s.text for s in memory.segments(doc_id)}
            answers = memory.ask_batch([qa.question for qa in sample.qas], max_new_tokens=max_new_tokens)
            for qa, answer in zip(sample.qas, answers, strict=True):
                routed = " ".join(texts[key] for key in answer.segments)
                records.append({"kind": sample.kind, "gold": qa.answer, "prediction": answer.answer,
                                "exact": exact_match(answer.answer, qa.answer),
                                "f1": token_f1(answer.answer, qa.answer), "routed_text": routed,
                                "routed_holds_answer": qa.answer in routed,
                                "document": n, "internalize_s": seconds, "tokens": stored.tokens,
                                "segments": stored.segments, "stored_bytes": stored.adapter_bytes})
    return records


def other_documents(samples: Sequence[DocSample], seed: int = 0) -> dict[int, DocSample]:
    """For each sample (by ``id``) another sample of its kind, none keeping its own: the control
    that asks a question with the WRONG document's adapter. What an adapter carries of its own
    document is the gap between the two; a network that learned only the answers' format scores
    the same with either. Kinds with a single sample get no entry."""
    by_kind: dict[str, list[DocSample]] = {}
    for sample in samples:
        by_kind.setdefault(sample.kind, []).append(sample)
    rng = random.Random(seed)
    other = {}
    for group in by_kind.values():
        if len(group) > 1:
            order = rng.sample(group, len(group))
            other |= {id(s): order[(i + 1) % len(order)] for i, s in enumerate(order)}
    return other


def summarize(records: Sequence[dict]) -> dict[str, float]:
    """Means of the records' ``exact``, ``f1`` and ``nll`` (those they have), overall and per kind."""
    out: dict[str, float] = {}
    for kind in sorted({r["kind"] for r in records}) + ["all"]:
        rows = [r for r in records if kind in ("all", r["kind"])]
        for key in ("exact", "f1", "nll"):
            if key in rows[0]:
                out[f"{kind}_{key}"] = sum(r[key] for r in rows) / len(rows)
    return out
